//! Reading a trace record back, shared by the SQLite and PostgreSQL trace stores (included with
//! `#[path]` after each names its `DbRow`).

use super::DbRow;
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
        },
        prev_hash: hash_of(row, "prev_hash")?,
        hash: hash_of(row, "hash")?,
    })
}
