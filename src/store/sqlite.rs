//! The embedded durable store: one SQLite file in WAL mode, migrations embedded in the binary.
//! The trait implementations are the shared SQL ones of `store::sql`.

use super::*;
use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;

pub mod reads;
pub mod traces;

pub struct SqliteStore {
    pool: SqlitePool,
    /// The hot reads, in place (see `reads`).
    reads: reads::InPlaceReads,
}

type Store = SqliteStore;
type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;

// One source compiled once per driver (see `store::sql`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/durable.rs"]
mod durable;
// One source compiled once per driver (see `store::sql`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/habilitations.rs"]
mod habilitations;

impl SqliteStore {
    /// Opens (creating if needed) the database file; does not migrate.
    pub async fn open(path: &Path, max_connections: u32) -> anyhow::Result<Arc<Self>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create data folder {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5))
            // What is deleted or overwritten (an erased account, a TOTP secret sealed from
            // clear) is zeroed in the file, not left in free pages.
            .pragma("secure_delete", "on");
        let pool = SqlitePoolOptions::new()
            // A file on this machine: no ping before each query (one more round trip to the
            // connection's thread), a broken connection shows on its own.
            .test_before_acquire(false)
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open database {}", path.display()))?;
        let reads = reads::InPlaceReads::new(path, max_connections as usize);
        Ok(Arc::new(Self { pool, reads }))
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("src/store/migrations/sqlite")
            .run(&self.pool)
            .await
            .context("database migration failed")?;
        self.backfill_search_keys().await?;
        Ok(())
    }

    /// Whether every embedded migration has been applied.
    pub async fn is_migrated(&self) -> anyhow::Result<bool> {
        let migrator = sqlx::migrate!("src/store/migrations/sqlite");
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await?;
        if exists == 0 {
            return Ok(false);
        }
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied as usize >= migrator.iter().count())
    }

    /// Closes every connection now (a command that hands the file to another process).
    pub async fn close(&self) {
        self.reads.close();
        self.pool.close().await;
    }

    /// The first row `sql` selects for `key` (`$1`), read in place (see `reads`).
    async fn read_optional<T>(
        &self,
        sql: &str,
        key: &str,
        decode: impl Fn(&dyn sql::Cells) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.reads.optional(sql, key, decode)
    }

    /// Every row `sql` selects for `key` (`$1`), read in place (see `reads`).
    async fn read_all<T>(
        &self,
        sql: &str,
        key: &str,
        decode: impl Fn(&dyn sql::Cells) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.reads.all(sql, key, decode)
    }

    /// A write transaction taken at once: SQLite's single write lock, held until the end.
    async fn serialized(&self) -> StoreResult<habilitations::Tx> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql::backend)
    }

    /// After values were overwritten (sealed from clear): the write-ahead log, which still
    /// holds their earlier pages, is copied into the database (where `secure_delete` zeroed
    /// them) and emptied. Best effort: a reader in the way leaves it to the next checkpoint.
    async fn forget_overwritten(&self) -> StoreResult<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(sql::backend)?;
        Ok(())
    }
}
