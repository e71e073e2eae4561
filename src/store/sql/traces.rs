//! The trace store's SQL, shared by SQLite and PostgreSQL the way `durable.rs` is (see
//! `store::sql`): this file implements `TraceStore` for the backend's `Store` (with its
//! `pool`). What differs between the dialects stays in each backend as inherent methods this
//! file calls: `append_batch`, `search_records`, `destroy_oldest_records` and, on PostgreSQL
//! only, `drop_months`.

use super::{Db, DbRow, Store};
use crate::store::sql::backend;
use crate::store::*;
use sqlx::Row;

pub(super) fn hash_of(row: &DbRow, column: &str) -> StoreResult<[u8; 32]> {
    row.get::<Vec<u8>, _>(column)
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("trace {column} length")))
}

pub(super) fn record_from_row(row: &DbRow) -> StoreResult<TraceRecord> {
    Ok(TraceRecord {
        seq: row.get("seq"),
        trace: NewTrace {
            id: row.get("id"),
            stream: row.get("stream"),
            at_us: row.get("at_us"),
            actor_account: row.get("actor_account"),
            actor_partner: row.get("actor_partner"),
            actor_caf: row.get("actor_caf"),
            partner: row.get("partner"),
            session: row.get("session"),
            client_id: row.get("client_id"),
            action: row.get("action"),
            target: row.get("target"),
            outcome: Outcome::parse(&row.get::<String, _>("outcome"))
                .ok_or_else(|| StoreError::Corrupt("trace outcome".into()))?,
            reason: row.get("reason"),
            ip: row.get("ip"),
            user_agent: row.get("user_agent"),
            request_id: row.get("request_id"),
            received_at_us: row.get("received_at_us"),
        },
        prev_hash: hash_of(row, "prev_hash")?,
        hash: hash_of(row, "hash")?,
    })
}

#[async_trait]
impl TraceStore for Store {
    async fn append(&self, batch: &[NewTrace]) -> StoreResult<Vec<Appended>> {
        self.append_batch(batch).await
    }

    async fn search(&self, q: &TraceQuery) -> StoreResult<Vec<TraceRecord>> {
        self.search_records(q).await
    }

    async fn destroy_oldest(
        &self,
        stream: &str,
        before_us: i64,
        batch: u32,
    ) -> StoreResult<Option<(TraceRecord, TraceRecord, u64)>> {
        self.destroy_oldest_records(stream, before_us, batch).await
    }

    async fn drop_months_before(&self, before_us: i64) -> StoreResult<Option<Vec<DestroyedRange>>> {
        self.drop_months(before_us).await
    }

    async fn stream_records(
        &self,
        stream: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TraceRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM traces WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(stream)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn streams(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT name FROM streams ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }

    async fn stream_head(&self, stream: &str) -> StoreResult<Option<(i64, [u8; 32])>> {
        let row =
            sqlx::query("SELECT seq, hash FROM traces WHERE stream = $1 ORDER BY seq DESC LIMIT 1")
                .bind(stream)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|r| Ok((r.get("seq"), hash_of(&r, "hash")?)))
            .transpose()
    }

    async fn stream_origin(&self, stream: &str) -> StoreResult<[u8; 32]> {
        let origin: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT origin_hash FROM streams WHERE name = $1")
                .bind(stream)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        match origin {
            Some(o) => o
                .try_into()
                .map_err(|_| StoreError::Corrupt("stream origin length".into())),
            None => Ok(GENESIS),
        }
    }

    async fn insert_seal(&self, seal: &Seal) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO seals (stream, seq, hash, sealed_at_us, signature)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&seal.stream)
        .bind(seal.seq)
        .bind(seal.hash.to_vec())
        .bind(seal.sealed_at_us)
        .bind(&seal.signature)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn seals(&self, stream: &str) -> StoreResult<Vec<Seal>> {
        let rows = sqlx::query("SELECT * FROM seals WHERE stream = $1 ORDER BY seq")
            .bind(stream)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Seal {
                    stream: row.get("stream"),
                    seq: row.get("seq"),
                    hash: hash_of(row, "hash")?,
                    sealed_at_us: row.get("sealed_at_us"),
                    signature: row.get("signature"),
                })
            })
            .collect()
    }

    async fn insert_attestation(&self, a: &Attestation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO attestations (id, stream, destroyed_at_us, from_us, to_us, count,
                first_hash, last_hash, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&a.id)
        .bind(&a.stream)
        .bind(a.destroyed_at_us)
        .bind(a.from_us)
        .bind(a.to_us)
        .bind(a.count as i64)
        .bind(a.first_hash.to_vec())
        .bind(a.last_hash.to_vec())
        .bind(&a.signature)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn counts(&self, q: &CountQuery) -> StoreResult<Vec<CountRow>> {
        let mut sql: sqlx::QueryBuilder<Db> = sqlx::QueryBuilder::new(
            "SELECT hour, action, outcome, reason, CAST(SUM(count) AS BIGINT) AS total
             FROM trace_counts WHERE hour >= ",
        );
        sql.push_bind(q.from_us.div_euclid(HOUR_US));
        sql.push(" AND hour < ");
        // An hour that began before the end overlaps the period.
        sql.push_bind((q.to_us + HOUR_US - 1).div_euclid(HOUR_US));
        if let Some(reach) = &q.reach {
            if reach.is_empty() && q.reach_cafs.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND (partner IN (");
            let mut list = sql.separated(", ");
            list.push_bind("");
            for p in reach {
                list.push_bind(p.clone());
            }
            sql.push(") AND partner <> '' OR partner = '' AND staff_caf IN (");
            let mut list = sql.separated(", ");
            list.push_bind("-");
            for c in &q.reach_cafs {
                list.push_bind(c.clone());
            }
            sql.push("))");
        }
        if let Some(a) = &q.action {
            sql.push(" AND action = ");
            sql.push_bind(a.clone());
        }
        if let Some(o) = q.outcome {
            sql.push(" AND outcome = ");
            sql.push_bind(o.as_str());
        }
        sql.push(" GROUP BY hour, action, outcome, reason ORDER BY hour");
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter()
            .map(|row| {
                let reason: String = row.get("reason");
                Ok(CountRow {
                    hour: row.get("hour"),
                    action: row.get("action"),
                    outcome: Outcome::parse(&row.get::<String, _>("outcome"))
                        .ok_or_else(|| StoreError::Corrupt("count outcome".into()))?,
                    reason: (!reason.is_empty()).then_some(reason),
                    count: row.get::<i64, _>("total") as u64,
                })
            })
            .collect()
    }

    async fn last_logins(
        &self,
        accounts: &[String],
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        let mut found = std::collections::HashMap::new();
        for chunk in accounts.chunks(500) {
            let mut sql: sqlx::QueryBuilder<Db> = sqlx::QueryBuilder::new(
                "SELECT account, at_us FROM last_logins WHERE account IN (",
            );
            let mut list = sql.separated(", ");
            for a in chunk {
                list.push_bind(a.clone());
            }
            sql.push(")");
            for row in sql.build().fetch_all(&self.pool).await.map_err(backend)? {
                found.insert(row.get("account"), row.get("at_us"));
            }
        }
        Ok(found)
    }

    async fn forget_counts_before(&self, before_us: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM trace_counts WHERE hour < $1")
            .bind(before_us.div_euclid(HOUR_US))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM last_logins WHERE at_us < $1")
            .bind(before_us)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn attestations(&self) -> StoreResult<Vec<Attestation>> {
        let rows = sqlx::query("SELECT * FROM attestations ORDER BY destroyed_at_us DESC")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Attestation {
                    id: row.get("id"),
                    stream: row.get("stream"),
                    destroyed_at_us: row.get("destroyed_at_us"),
                    from_us: row.get("from_us"),
                    to_us: row.get("to_us"),
                    count: row.get::<i64, _>("count") as u64,
                    first_hash: hash_of(row, "first_hash")?,
                    last_hash: hash_of(row, "last_hash")?,
                    signature: row.get("signature"),
                })
            })
            .collect()
    }
}

const HOUR_US: i64 = 3_600_000_000;

/// Adds the traces a batch stores to the dashboard's counters and last logins, inside the
/// batch's transaction: the counters never disagree with the traces.
pub(super) async fn add_counts(
    conn: &mut <Db as sqlx::Database>::Connection,
    stored: impl Iterator<Item = &NewTrace>,
) -> StoreResult<()> {
    type Key<'a> = (i64, &'a str, &'a str, &'a str, &'static str, &'a str);
    let mut counts: std::collections::BTreeMap<Key<'_>, i64> = Default::default();
    let mut logins: std::collections::BTreeMap<&str, i64> = Default::default();
    for t in stored.filter(|t| t.stream == OWN_STREAM) {
        let partner = t.partner.as_deref().unwrap_or("");
        let staff_caf = match t.partner {
            None => t.actor_caf.as_deref().unwrap_or(""),
            Some(_) => "",
        };
        let key = (
            t.at_us.div_euclid(HOUR_US),
            partner,
            staff_caf,
            t.action.as_str(),
            t.outcome.as_str(),
            t.reason.as_deref().unwrap_or(""),
        );
        *counts.entry(key).or_default() += 1;
        if let (Some(account), "auth.login", Outcome::Success) =
            (&t.actor_account, t.action.as_str(), t.outcome)
        {
            let at = logins.entry(account).or_insert(t.at_us);
            *at = (*at).max(t.at_us);
        }
    }
    let counts: Vec<_> = counts.into_iter().collect();
    for chunk in counts.chunks(100) {
        let mut q: sqlx::QueryBuilder<Db> = sqlx::QueryBuilder::new(
            "INSERT INTO trace_counts (hour, partner, staff_caf, action, outcome, reason, count) ",
        );
        q.push_values(chunk, |mut row, ((hour, p, c, a, o, r), n)| {
            row.push_bind(*hour)
                .push_bind(*p)
                .push_bind(*c)
                .push_bind(*a)
                .push_bind(*o)
                .push_bind(*r)
                .push_bind(*n);
        });
        q.push(
            " ON CONFLICT (hour, partner, staff_caf, action, outcome, reason)
              DO UPDATE SET count = trace_counts.count + excluded.count",
        );
        q.build().execute(&mut *conn).await.map_err(backend)?;
    }
    let logins: Vec<_> = logins.into_iter().collect();
    for chunk in logins.chunks(100) {
        let mut q: sqlx::QueryBuilder<Db> =
            sqlx::QueryBuilder::new("INSERT INTO last_logins (account, at_us) ");
        q.push_values(chunk, |mut row, (account, at)| {
            row.push_bind(*account).push_bind(*at);
        });
        q.push(
            " ON CONFLICT (account) DO UPDATE SET at_us = excluded.at_us
              WHERE excluded.at_us > last_logins.at_us",
        );
        q.build().execute(&mut *conn).await.map_err(backend)?;
    }
    Ok(())
}

/// A search's filters after the reach, then its keyset, order and limit: the same SQL in both
/// dialects.
pub(super) fn push_filters(sql: &mut sqlx::QueryBuilder<'_, Db>, q: &TraceQuery) {
    let mut eq = |column: &str, value: &Option<String>| {
        if let Some(v) = value {
            sql.push(format!(" AND {column} = "));
            sql.push_bind(v.clone());
        }
    };
    eq("actor_account", &q.account);
    eq("partner", &q.partner);
    eq("client_id", &q.client_id);
    eq("action", &q.action);
    eq("reason", &q.reason);
    eq("target", &q.target);
    eq("ip", &q.ip);
    if let Some(o) = q.outcome {
        sql.push(" AND outcome = ");
        sql.push_bind(o.as_str());
    }
    if let Some(from) = q.from_us {
        sql.push(" AND at_us >= ");
        sql.push_bind(from);
    }
    if let Some(to) = q.to_us {
        sql.push(" AND at_us < ");
        sql.push_bind(to);
    }
    if let Some((at, seq)) = q.before {
        sql.push(" AND (at_us < ");
        sql.push_bind(at);
        sql.push(" OR (at_us = ");
        sql.push_bind(at);
        sql.push(" AND seq < ");
        sql.push_bind(seq);
        sql.push("))");
    }
    sql.push(" ORDER BY at_us DESC, seq DESC LIMIT ");
    sql.push_bind(i64::from(q.limit.clamp(1, 10_000)));
}
