//! Backups and restores, proven: a restored Passerelle logs in and its traces verify with their
//! seals; a restored trace store older than a seal kept apart is caught.

use crate::helpers::*;
use crate::servers::Postgres;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");

/// The command line on the embedded stores of `data_dir`, with the tests' key-encryption key.
async fn passerelle(data_dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(data_dir)
        .env("PASSERELLE__SERVER__DATA_DIR", data_dir)
        .env("PASSERELLE__SECRETS__KEK", TEST_KEK)
        .env("RUST_LOG", "off");
    output_of(command).await
}

/// The command line on database `db` of `pg`, with `work` as its data folder.
async fn on_postgres(pg: &Postgres, work: &Path, db: &str, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(work)
        .env("PASSERELLE__SERVER__DATA_DIR", work)
        .env("PASSERELLE__STORE__URL", pg.url(db))
        .env("PASSERELLE__SECRETS__KEK", TEST_KEK)
        .env("RUST_LOG", "off");
    output_of(command).await
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `traces verify`'s report: every line says intact, and at least one seal was checked.
fn assert_intact_with_seals(out: &Output) {
    let report = text(out);
    assert!(out.status.success(), "{report}");
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.ends_with(": intact")),
        "{report}"
    );
    assert!(
        lines.iter().all(|l| !l.contains(" 0 seal(s)")),
        "every stream is checked against a seal: {report}"
    );
}

#[tokio::test]
async fn an_embedded_backup_restores_logs_in_and_verifies_and_a_lost_tail_is_caught() {
    let app = TestApp::spawn_with(|c| c.secrets.kek = TEST_KEK.into()).await;
    app.assert_logs_in(CLAIRE, PASSWORD).await;
    let claire = app.account(CLAIRE).await.id;
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup");

    // Taken while Passerelle runs.
    let out = passerelle(
        app.data_dir(),
        &["backup", "--to", backup.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the key-encryption key is not in it"));
    let again = passerelle(
        app.data_dir(),
        &["backup", "--to", backup.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        again.status.code(),
        Some(2),
        "a backup never overwrites another"
    );

    // Later activity, and a seal of it kept apart.
    app.assert_logs_in(CLAIRE, PASSWORD).await;
    let later = passerelle(app.data_dir(), &["traces", "seals"]).await;
    assert!(later.status.success(), "{}", text(&later));
    let later_seals = work.path().join("later.jws");
    std::fs::write(&later_seals, &later.stdout).unwrap();

    // A damaged backup is refused, and leaves the folder as it found it.
    let damaged = work.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    std::fs::copy(backup.join("passerelle.db"), damaged.join("passerelle.db")).unwrap();
    std::fs::write(
        damaged.join("traces.db"),
        b"not a database, whatever it was",
    )
    .unwrap();
    let target = tempfile::tempdir().unwrap();
    let out = passerelle(
        target.path(),
        &["restore", "--from", damaged.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("traces.db"), "{}", text(&out));
    assert!(
        !target.path().join("passerelle.db").exists(),
        "nothing half-restored stays"
    );

    // The backup, restored into a fresh data folder.
    let fresh = tempfile::tempdir().unwrap();
    let out = passerelle(
        fresh.path(),
        &["restore", "--from", backup.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let twice = passerelle(
        fresh.path(),
        &["restore", "--from", backup.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        twice.status.code(),
        Some(2),
        "a restore never overwrites stores"
    );
    let seals = backup.join("seals.jws");
    assert_intact_with_seals(
        &passerelle(
            fresh.path(),
            &["traces", "verify", "--seals", seals.to_str().unwrap()],
        )
        .await,
    );
    // Against the later seal, the restored traces lack their tail, and verify says so.
    let out = passerelle(
        fresh.path(),
        &["traces", "verify", "--seals", later_seals.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("its tail was lost"), "{}", text(&out));

    // Passerelle starts on the restored folder and the same account logs in.
    let path = fresh.path().to_owned();
    let restored = TestApp::spawn_with(move |c| {
        c.server.data_dir = path;
        c.secrets.kek = TEST_KEK.into();
    })
    .await;
    assert_eq!(
        restored.account(CLAIRE).await.id,
        claire,
        "the restored account"
    );
    restored.assert_logs_in(CLAIRE, PASSWORD).await;
}

#[tokio::test]
async fn a_postgresql_dump_restored_into_a_new_database_logs_in_and_verifies() {
    let pg = Postgres::start();
    let url = pg.database("live");
    let app = TestApp::spawn_with(move |c| {
        c.store.url = url;
        c.secrets.kek = TEST_KEK.into();
    })
    .await;
    app.assert_logs_in(CLAIRE, PASSWORD).await;
    let claire = app.account(CLAIRE).await.id;
    let work = tempfile::tempdir().unwrap();
    let seals = on_postgres(&pg, work.path(), "live", &["traces", "seals"]).await;
    assert!(seals.status.success(), "{}", text(&seals));
    let kept = work.path().join("seals.jws");
    std::fs::write(&kept, &seals.stdout).unwrap();
    // The embedded commands send PostgreSQL operators to pg_dump.
    let elsewhere = work.path().join("b");
    let refused = on_postgres(
        &pg,
        work.path(),
        "live",
        &["backup", "--to", elsewhere.to_str().unwrap()],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused).contains("pg_dump"), "{}", text(&refused));

    pg.dump_and_restore("live", &work.path().join("live.dump"), "restored");
    assert_intact_with_seals(
        &on_postgres(
            &pg,
            work.path(),
            "restored",
            &["traces", "verify", "--seals", kept.to_str().unwrap()],
        )
        .await,
    );
    let url = pg.url("restored");
    let restored = TestApp::spawn_with(move |c| {
        c.store.url = url;
        c.secrets.kek = TEST_KEK.into();
    })
    .await;
    assert_eq!(restored.account(CLAIRE).await.id, claire);
    restored.assert_logs_in(CLAIRE, PASSWORD).await;
}
