//! The trace store in its own SQLite file (WAL, synchronous FULL): a batch is one
//! `BEGIN IMMEDIATE` transaction, so the chain is computed against the stream's head while no
//! other writer (another process included) can move it.

use crate::store::sql::backend;
use crate::store::*;
use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub struct SqliteTraceStore {
    pool: SqlitePool,
}

type Store = SqliteTraceStore;
type Db = Sqlite;
type DbRow = SqliteRow;

// One source compiled once per driver (see `store::sql`).
#[allow(clippy::duplicate_mod)]
#[path = "../sql/traces.rs"]
mod shared;
use shared::*;

impl SqliteTraceStore {
    pub async fn open(path: &Path) -> anyhow::Result<std::sync::Arc<Self>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create data folder {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An acknowledged trace survives a crash of the process and of the machine.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10))
            // A batch's statement journal stays in memory instead of a temporary file.
            .pragma("temp_store", "memory")
            // The indexes' pages an append walks stay in SQLite's cache (16 MiB per
            // connection, filled only as pages are read) instead of being copied in again from
            // the system's cache at each batch.
            .pragma("cache_size", "-16384");
        let pool = SqlitePoolOptions::new()
            // A file on this machine: no ping before each query (one more round trip to the
            // connection's thread), a broken connection shows on its own.
            .test_before_acquire(false)
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open trace database {}", path.display()))?;
        sqlx::migrate!("src/store/migrations/traces")
            .run(&pool)
            .await
            .context("trace database migration failed")?;
        Ok(std::sync::Arc::new(Self { pool }))
    }
}

/// What the dialects do differently; the rest of `TraceStore` is `store/sql/traces.rs`.
impl SqliteTraceStore {
    async fn append_batch(&self, batch: &[NewTrace]) -> StoreResult<Vec<Appended>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        // Heads of the streams the batch touches, and the ids they already hold: duplicates
        // must be known before chaining, since a skipped trace is not a link.
        let mut heads: HashMap<&str, [u8; 32]> = HashMap::new();
        let mut taken: HashSet<(&str, &str)> = HashSet::new();
        let mut ids_by_stream: HashMap<&str, Vec<&str>> = HashMap::new();
        for t in batch {
            ids_by_stream.entry(&t.stream).or_default().push(&t.id);
        }
        for (stream, ids) in &ids_by_stream {
            let head: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT head_hash FROM streams WHERE name = ?")
                    .bind(*stream)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            let head = match head {
                Some(h) => h
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("stream head length".into()))?,
                None => {
                    sqlx::query(
                        "INSERT INTO streams (name, head_hash, origin_hash) VALUES (?, ?, ?)",
                    )
                    .bind(*stream)
                    .bind(GENESIS.to_vec())
                    .bind(GENESIS.to_vec())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    GENESIS
                }
            };
            heads.insert(stream, head);
            for chunk in ids.chunks(500) {
                let mut q: QueryBuilder<Sqlite> =
                    QueryBuilder::new("SELECT id FROM traces WHERE stream = ");
                q.push_bind(*stream);
                q.push(" AND id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                let existing: Vec<String> = q
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
                for id in existing {
                    if let Some(known) = chunk.iter().find(|c| **c == id) {
                        taken.insert((stream, known));
                    }
                }
            }
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rows: Vec<(&NewTrace, [u8; 32], [u8; 32])> = Vec::with_capacity(batch.len());
        for t in batch {
            if !taken.insert((&t.stream, &t.id)) {
                outcomes.push(Appended::Duplicate);
                continue;
            }
            let previous = heads[t.stream.as_str()];
            let hash = t.chained_hash(&previous);
            heads.insert(&t.stream, hash);
            rows.push((t, previous, hash));
            outcomes.push(Appended::Stored);
        }
        // Many rows per statement: one round trip to SQLite per hundred traces.
        for chunk in rows.chunks(100) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR FAIL INTO traces (stream, id, at_us, actor_account, actor_partner, actor_caf,
                    partner, session, client_id, action, target, outcome, reason, ip, user_agent,
                    request_id, received_at_us, prev_hash, hash) ",
            );
            q.push_values(chunk, |mut row, (t, previous, hash)| {
                row.push_bind(&t.stream)
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
        for (stream, head) in heads {
            sqlx::query("UPDATE streams SET head_hash = ? WHERE name = ?")
                .bind(head.to_vec())
                .bind(stream)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(outcomes)
    }

    async fn search_records(&self, q: &TraceQuery) -> StoreResult<Vec<TraceRecord>> {
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM traces WHERE 1 = 1");
        if let Some(reach) = &q.reach {
            if reach.is_empty() && q.reach_cafs.is_empty() {
                return Ok(Vec::new());
            }
            // With a person given, their index is the selective one: the unary `+` keeps the
            // planner from walking the partner's index instead.
            sql.push(if q.account.is_some() {
                " AND (+partner IN ("
            } else {
                " AND (partner IN ("
            });
            let mut list = sql.separated(", ");
            for p in reach {
                list.push_bind(p.clone());
            }
            sql.push(")");
            if !q.reach_cafs.is_empty() {
                sql.push(" OR partner IS NULL AND actor_caf IN (");
                let mut list = sql.separated(", ");
                for c in &q.reach_cafs {
                    list.push_bind(c.clone());
                }
                sql.push(")");
            }
            sql.push(")");
        }
        push_filters(&mut sql, q);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(record_from_row).collect()
    }

    /// SQLite keeps one table: retention walks each stream with `destroy_oldest`.
    async fn drop_months(&self, _before_us: i64) -> StoreResult<Option<Vec<DestroyedRange>>> {
        Ok(None)
    }

    async fn destroy_oldest_records(
        &self,
        stream: &str,
        before_us: i64,
        batch: u32,
    ) -> StoreResult<Option<(TraceRecord, TraceRecord, u64)>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        // The oldest records of the stream, in chain order, as long as they are old enough:
        // the chain is cut at one point only, so what stays still verifies from its origin.
        let rows = sqlx::query("SELECT * FROM traces WHERE stream = ? ORDER BY seq LIMIT ?")
            .bind(stream)
            .bind(i64::from(batch))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let old: Vec<TraceRecord> = rows
            .iter()
            .map(record_from_row)
            .collect::<StoreResult<Vec<_>>>()?
            .into_iter()
            .take_while(|r| r.trace.at_us < before_us)
            .collect();
        let (Some(first), Some(last)) = (old.first().cloned(), old.last().cloned()) else {
            return Ok(None);
        };
        sqlx::query("UPDATE retention_gate SET open = 1")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM traces WHERE stream = ? AND seq <= ?")
            .bind(stream)
            .bind(last.seq)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("UPDATE retention_gate SET open = 0")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("UPDATE streams SET origin_hash = ? WHERE name = ?")
            .bind(last.hash.to_vec())
            .bind(stream)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Some((first, last, done.rows_affected())))
    }
}
