//! The trace store on PostgreSQL, in the schema `passerelle_traces` (see the migration for the
//! partitions by month and the grants). A batch is one transaction that first takes each of
//! its streams' advisory locks, in name order: the chain is computed against a head that no
//! other replica can move meanwhile, and the sequence numbers it draws follow chain order.

use crate::config::PgTlsConfig;
use crate::store::sql::backend;
use crate::store::*;
use anyhow::Context;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};

type Store = PgTraceStore;
type Db = Postgres;
type DbRow = PgRow;

// One source compiled once per driver (see `store::sql`).
#[allow(clippy::duplicate_mod)]
#[path = "../sql/traces.rs"]
mod shared;
use shared::*;

/// The schema of the trace tables, apart from the durable ones even in the same database.
pub const SCHEMA: &str = "passerelle_traces";

pub struct PgTraceStore {
    pool: PgPool,
    /// The month (index since the epoch) whose partition and the next one are known to exist.
    ensured_month: AtomicI64,
}

async fn connect(url: &str, max_connections: u32, tls: &PgTlsConfig) -> anyhow::Result<PgPool> {
    super::pool(url, max_connections, tls, "traces.url", Some(SCHEMA)).await
}

fn month_index(at_us: i64) -> i64 {
    use chrono::Datelike;
    let t = chrono::DateTime::from_timestamp_micros(at_us).unwrap_or_default();
    i64::from(t.year()) * 12 + i64::from(t.month0())
}

fn month_start_us(index: i64) -> i64 {
    let (year, month0) = (index.div_euclid(12), index.rem_euclid(12));
    chrono::NaiveDate::from_ymd_opt(year as i32, month0 as u32 + 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
        .unwrap_or_default()
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl PgTraceStore {
    /// Migrates with `migration_url` (the schema's owner; `url` itself when absent), then
    /// connects with `url` (the application's role, a member of `passerelle_app`).
    pub async fn open(
        url: &str,
        migration_url: Option<&str>,
        max_connections: u32,
        tls: &PgTlsConfig,
    ) -> anyhow::Result<std::sync::Arc<Self>> {
        {
            let owner = connect(migration_url.unwrap_or(url), 1, tls).await?;
            // Replicas starting together: IF NOT EXISTS alone can still collide, so the
            // creation is serialised by a lock held until its transaction ends.
            let mut tx = owner
                .begin()
                .await
                .context("cannot create the trace schema")?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('passerelle trace schema'))")
                .execute(&mut *tx)
                .await
                .context("cannot create the trace schema")?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
                .execute(&mut *tx)
                .await
                .context("cannot create the trace schema")?;
            tx.commit()
                .await
                .context("cannot create the trace schema")?;
            sqlx::migrate!("src/store/migrations/postgres_traces")
                .run(&owner)
                .await
                .context("trace database migration failed")?;
            owner.close().await;
        }
        let store = Self {
            pool: connect(url, max_connections, tls).await?,
            ensured_month: AtomicI64::new(i64::MIN),
        };
        store.ensure_partitions().await?;
        Ok(std::sync::Arc::new(store))
    }

    /// Creates this month's partition and the next one when the month changed since the last
    /// check (the next one, so that a write at the turn of the month never finds none).
    async fn ensure_partitions(&self) -> StoreResult<()> {
        let month = month_index(now_us());
        if self.ensured_month.load(Ordering::Relaxed) == month {
            return Ok(());
        }
        for m in [month, month + 1] {
            sqlx::query("SELECT trace_month($1)")
                .bind(month_start_us(m))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        }
        self.ensured_month.store(month, Ordering::Relaxed);
        Ok(())
    }
}

/// What the dialects do differently; the rest of `TraceStore` is `store/sql/traces.rs`.
impl PgTraceStore {
    async fn append_batch(&self, batch: &[NewTrace]) -> StoreResult<Vec<Appended>> {
        self.ensure_partitions().await?;
        let mut by_stream: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in batch {
            by_stream.entry(&t.stream).or_default().push(&t.id);
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut heads: BTreeMap<&str, [u8; 32]> = BTreeMap::new();
        let mut taken: HashSet<(&str, String)> = HashSet::new();
        // Name order: two batches touching the same streams take their locks in the same order.
        for (stream, ids) in &by_stream {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('passerelle trace stream ' || $1))")
                .bind(*stream)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(
                "INSERT INTO streams (name, origin_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(*stream)
            .bind(GENESIS.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let head: Vec<u8> = sqlx::query_scalar(
                "SELECT COALESCE(
                    (SELECT hash FROM traces WHERE stream = $1 ORDER BY seq DESC LIMIT 1),
                    (SELECT origin_hash FROM streams WHERE name = $1))",
            )
            .bind(*stream)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            heads.insert(
                stream,
                head.try_into()
                    .map_err(|_| StoreError::Corrupt("stream head length".into()))?,
            );
            let existing: Vec<String> =
                sqlx::query_scalar("SELECT id FROM traces WHERE stream = $1 AND id = ANY($2)")
                    .bind(*stream)
                    .bind(ids)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
            taken.extend(existing.into_iter().map(|id| (*stream, id)));
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rows: Vec<(&NewTrace, [u8; 32], [u8; 32])> = Vec::with_capacity(batch.len());
        for t in batch {
            if !taken.insert((t.stream.as_str(), t.id.clone())) {
                outcomes.push(Appended::Duplicate);
                continue;
            }
            let previous = heads[t.stream.as_str()];
            let hash = t.chained_hash(&previous);
            heads.insert(&t.stream, hash);
            rows.push((t, previous, hash));
            outcomes.push(Appended::Stored);
        }
        // Many rows per statement; rows are numbered in the order given (chain order).
        for chunk in rows.chunks(500) {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO traces (stored_us, stream, id, at_us, actor_account, actor_partner,
                    actor_caf, partner, session, client_id, action, target, outcome, reason, ip,
                    user_agent, request_id, received_at_us, prev_hash, hash) ",
            );
            q.push_values(chunk, |mut row, (t, previous, hash)| {
                row.push("(extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT")
                    .push_bind(&t.stream)
                    .push_bind(&t.id)
                    .push_bind(t.at_us)
                    .push_bind(&t.actor_account)
                    .push_bind(&t.actor_partner)
                    .push_bind(&t.actor_caf)
                    .push_bind(&t.partner)
                    .push_bind(&t.session)
                    .push_bind(&t.client_id)
                    .push_bind(&t.action)
                    .push_bind(&t.target)
                    .push_bind(t.outcome.as_str())
                    .push_bind(&t.reason)
                    .push_bind(&t.ip)
                    .push_bind(&t.user_agent)
                    .push_bind(&t.request_id)
                    .push_bind(t.received_at_us)
                    .push_bind(previous.to_vec())
                    .push_bind(hash.to_vec());
            });
            q.build().execute(&mut *tx).await.map_err(backend)?;
        }
        add_counts(&mut tx, rows.iter().map(|(t, _, _)| *t)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(outcomes)
    }

    async fn search_records(&self, q: &TraceQuery) -> StoreResult<Vec<TraceRecord>> {
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM traces WHERE TRUE");
        if let Some(reach) = &q.reach {
            if reach.is_empty() && q.reach_cafs.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND (partner = ANY(");
            sql.push_bind(reach.clone());
            sql.push(")");
            if !q.reach_cafs.is_empty() {
                sql.push(" OR partner IS NULL AND actor_caf = ANY(");
                sql.push_bind(q.reach_cafs.clone());
                sql.push(")");
            }
            sql.push(")");
        }
        push_filters(&mut sql, q);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(record_from_row).collect()
    }

    /// Never row by row here: retention drops whole months (`drop_months_before`).
    async fn destroy_oldest_records(
        &self,
        _stream: &str,
        _before_us: i64,
        _batch: u32,
    ) -> StoreResult<Option<(TraceRecord, TraceRecord, u64)>> {
        Ok(None)
    }

    async fn drop_months(&self, before_us: i64) -> StoreResult<Option<Vec<DestroyedRange>>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let rows = sqlx::query("SELECT * FROM drop_trace_months($1)")
            .bind(before_us)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        // Whatever was dropped is recreated before the next write that needs it.
        self.ensured_month.store(i64::MIN, Ordering::Relaxed);
        let ranges = rows
            .iter()
            .map(|row| {
                Ok(DestroyedRange {
                    stream: row.get("o_stream"),
                    from_us: row.get("o_first_at"),
                    to_us: row.get("o_last_at"),
                    count: row.get::<i64, _>("o_count") as u64,
                    first_hash: hash_of(row, "o_first_hash")?,
                    last_hash: hash_of(row, "o_last_hash")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(ranges))
    }
}
