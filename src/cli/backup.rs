//! `passerelle backup` and `passerelle restore` on the embedded stores (SQLite). On
//! PostgreSQL, `pg_dump` takes the durable store and the traces in one snapshot
//! (deploy/README.md gives the procedure); these commands say so and stop.

use super::*;

/// The files a backup folder holds.
const DURABLE: &str = "passerelle.db";
const TRACES: &str = "traces.db";
const SEALS: &str = "seals.jws";

fn embedded_only(config: &Config, what: &str) -> Result<(), Failure> {
    if crate::config::is_postgres(&config.store.url) || config.postgres_traces().is_some() {
        return Err(usage(format!(
            "{what} works on the embedded stores; on PostgreSQL use pg_dump -Fc and pg_restore (one snapshot holds the durable store and the traces): see deploy/README.md"
        )));
    }
    Ok(())
}

/// Seals every stream's head, then copies the durable store, then the trace store (each an
/// online, consistent snapshot: `VACUUM INTO`), and writes the seals apart. Traces are only
/// ever appended, so the trace copy holds at least what the durable copy refers to.
pub(super) async fn backup(config: &Config, to: &Path) -> Result<(), Failure> {
    embedded_only(config, "passerelle backup")?;
    if to.exists()
        && std::fs::read_dir(to)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(usage(format!(
            "{} exists and is not empty: back up into a new folder",
            to.display()
        )));
    }
    std::fs::create_dir_all(to)
        .map_err(|e| runtime(format!("cannot create {}: {e}", to.display())))?;
    let state = offline_state(config).await?;
    let seals = last_seals(&state).await?;
    state.tracer.flush().await.map_err(runtime)?;
    for (from, name) in [
        (config.sqlite_path(), DURABLE),
        (config.traces_path(), TRACES),
    ] {
        snapshot(&from, &to.join(name)).await?;
    }
    let mut text = seals.join("\n");
    text.push('\n');
    std::fs::write(to.join(SEALS), text)
        .map_err(|e| runtime(format!("cannot write {}: {e}", to.join(SEALS).display())))?;
    println!(
        "backup in {}: {DURABLE}, {TRACES} and {SEALS} (the last seal of {} stream(s)); the key-encryption key is not in it: keep it apart",
        to.display(),
        seals.len()
    );
    Ok(())
}

/// `VACUUM INTO`: a consistent copy of a live SQLite file, written by SQLite itself.
async fn snapshot(from: &Path, to: &Path) -> Result<(), Failure> {
    use sqlx::Connection;
    let failed = |e: sqlx::Error| runtime(format!("cannot copy {}: {e}", from.display()));
    let mut conn = open(from).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(to.display().to_string())
        .execute(&mut conn)
        .await
        .map_err(failed)?;
    conn.close().await.map_err(failed)
}

/// Copies a backup into a data folder that has no stores yet, checks each file, and migrates
/// them (a newer Passerelle may restore an older backup).
pub(super) async fn restore(config: &Config, from: &Path) -> Result<(), Failure> {
    embedded_only(config, "passerelle restore")?;
    let targets = [
        (DURABLE, config.sqlite_path()),
        (TRACES, config.traces_path()),
    ];
    for (name, target) in &targets {
        if !from.join(name).is_file() {
            return Err(usage(format!(
                "{} has no {name}: it is not a folder written by passerelle backup",
                from.display()
            )));
        }
        if target.exists() {
            return Err(usage(format!(
                "{} exists: restore into a data folder without stores, or move it away first",
                target.display()
            )));
        }
    }
    for (name, target) in &targets {
        let copied = async {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| runtime(format!("cannot create {}: {e}", dir.display())))?;
            }
            std::fs::copy(from.join(name), target)
                .map_err(|e| runtime(format!("cannot copy {name}: {e}")))?;
            integrity(target).await
        };
        if let Err(e) = copied.await {
            // Nothing half-restored stays behind: the folder is as it was, ready for another try.
            for (_, t) in &targets {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", t.display()));
                }
            }
            return Err(e);
        }
    }
    let failed = |e: anyhow::Error| runtime(format!("{e:#}"));
    crate::app::open_durable(config).await.map_err(failed)?;
    crate::app::open_traces(config).await.map_err(failed)?;
    println!(
        "restored {} and {}; now run: passerelle traces verify --seals {}",
        config.sqlite_path().display(),
        config.traces_path().display(),
        from.join(SEALS).display()
    );
    Ok(())
}

/// `PRAGMA integrity_check` of a restored file: "ok", or the restore stops.
async fn integrity(file: &Path) -> Result<(), Failure> {
    let failed = |e: sqlx::Error| runtime(format!("cannot check {}: {e}", file.display()));
    let mut conn = open(file).await?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(failed)?;
    if verdict != "ok" {
        return Err(runtime(format!(
            "{} is damaged ({verdict}): restore another backup",
            file.display()
        )));
    }
    Ok(())
}

/// One connection to an existing SQLite file.
async fn open(file: &Path) -> Result<sqlx::SqliteConnection, Failure> {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .connect()
        .await
        .map_err(|e| runtime(format!("cannot open {}: {e}", file.display())))
}
