//! The durable store on PostgreSQL, for several replicas: the same trait implementations as
//! SQLite (the shared SQL of `store::sql`), its own migrations embedded in the binary.

use super::*;
use crate::config::PgTlsConfig;
use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use std::str::FromStr;
use std::time::Duration;

pub mod traces;

pub struct PgStore {
    pool: PgPool,
}

type Store = PgStore;
type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;

// One source compiled once per driver (see `store::sql`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/durable.rs"]
mod durable;
// One source compiled once per driver (see `store::sql`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/habilitations.rs"]
mod habilitations;

/// The advisory lock key that serialises quota checks (any constant; "PSRQUOTA" in ASCII).
const QUOTA_LOCK: i64 = 0x5053_5251_554f_5441;

/// How long a pooled connection may have waited unused before it is pinged on acquire.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// A pool that fails fast while the server is away (requests get an error, `/readyz` a 503)
/// and reconnects by itself when it is back; `schema` becomes its search path.
pub async fn pool(
    url: &str,
    max_connections: u32,
    tls: &PgTlsConfig,
    what: &str,
    schema: Option<&str>,
) -> anyhow::Result<PgPool> {
    let shown = super::redis::redacted(url);
    let mut options = PgConnectOptions::from_str(url)
        .with_context(|| format!("{what} {shown} is not a PostgreSQL URL"))?
        .application_name("passerelle");
    options = with_tls(options, tls)?;
    if let Some(schema) = schema {
        options = options.options([("search_path", schema)]);
    }
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(3))
        // sqlx pings every connection as it is given back; one that has waited in the pool
        // since is pinged again (a PostgreSQL restart leaves idle connections dead), one given
        // back under a second ago is used as it is: a query costs one round trip, not three.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_BEFORE_PING {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {shown}"))
}

/// The configured TLS settings over what the URL says.
fn with_tls(mut options: PgConnectOptions, tls: &PgTlsConfig) -> anyhow::Result<PgConnectOptions> {
    if !tls.sslmode.is_empty() {
        let mode = PgSslMode::from_str(&tls.sslmode)
            .map_err(|_| anyhow::anyhow!("store.tls.sslmode `{}` is not a mode", tls.sslmode))?;
        options = options.ssl_mode(mode);
    }
    if !tls.root_cert.is_empty() {
        options = options.ssl_root_cert(&tls.root_cert);
    }
    if !tls.client_cert.is_empty() {
        options = options
            .ssl_client_cert(&tls.client_cert)
            .ssl_client_key(&tls.client_key);
    }
    Ok(options)
}

impl PgStore {
    /// Connects; does not migrate.
    pub async fn open(
        url: &str,
        max_connections: u32,
        tls: &PgTlsConfig,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool: pool(url, max_connections, tls, "store.url", None).await?,
        }))
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("src/store/migrations/postgres")
            .run(&self.pool)
            .await
            .context("database migration failed")?;
        self.backfill_search_keys().await?;
        Ok(())
    }

    /// Whether every embedded migration has been applied.
    pub async fn is_migrated(&self) -> anyhow::Result<bool> {
        let migrator = sqlx::migrate!("src/store/migrations/postgres");
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(false);
        }
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied as usize >= migrator.iter().count())
    }

    /// A transaction holding the quota lock until it ends: concurrent quota checks (on any
    /// replica) wait for each other, as SQLite's `BEGIN IMMEDIATE` makes them do.
    async fn serialized(&self) -> StoreResult<habilitations::Tx> {
        let mut tx = self.pool.begin().await.map_err(sql::backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(QUOTA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(sql::backend)?;
        Ok(tx)
    }

    /// Earlier row versions stay in the table's files until VACUUM, which only the schema's
    /// owner may run (deploy/README.md says when).
    async fn forget_overwritten(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The first row `sql` selects for `key` (`$1`), from the pool.
    async fn read_optional<T>(
        &self,
        sql: &str,
        key: &str,
        decode: impl Fn(&dyn sql::Cells) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(sql::backend)?;
        row.as_ref().map(|row| decode(row)).transpose()
    }

    /// Every row `sql` selects for `key` (`$1`), from the pool.
    async fn read_all<T>(
        &self,
        sql: &str,
        key: &str,
        decode: impl Fn(&dyn sql::Cells) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let rows = sqlx::query(sql)
            .bind(key)
            .fetch_all(&self.pool)
            .await
            .map_err(sql::backend)?;
        rows.iter().map(|row| decode(row)).collect()
    }
}
