//! What the SQLite and PostgreSQL stores share, and the one list of where they differ.
//!
//! One technique for every store: the traits are implemented once, in `durable.rs`,
//! `habilitations.rs` and `traces.rs` of this folder, with portable SQL (`$n` parameters,
//! `ON CONFLICT`, integers as BIGINT, dates and enumerations as text, hashes as bytes). Each
//! backend includes those files with `#[path]` after defining `Store` (its struct, with a
//! `pool`), `Db` and `DbRow` (its sqlx driver types), so the one source compiles once per
//! driver with native types and no runtime dispatch; what a dialect does differently is an
//! inherent method of the backend that the shared file calls.
//!
//! The dialect differences, all of them:
//!
//! | What | SQLite (`sqlite.rs`, `sqlite/traces.rs`) | PostgreSQL (`postgres.rs`, `postgres/traces.rs`) |
//! |---|---|---|
//! | `serialized()`: quota checks exclude each other | `BEGIN IMMEDIATE` (the file's one write lock) | `pg_advisory_xact_lock` on one constant key |
//! | `append_batch`: chaining a batch of traces | one `BEGIN IMMEDIATE` transaction; the stream's head kept in `streams` | one advisory lock per stream, taken in name order; the head read from the last row |
//! | `search_records`: the reach | `partner IN (…)`, `+partner` to keep the planner on the person's index | `partner = ANY($n)` |
//! | retention of traces | `destroy_oldest_records` row by row behind `retention_gate` | `drop_months`: whole monthly partitions (`trace_month`, `drop_trace_months`) |
//! | who may delete traces | the retention gate trigger | the application role may only INSERT and SELECT |
//! | migrations | `migrations/sqlite`, `migrations/traces` | `migrations/postgres`, `migrations/postgres_traces` |

use super::{Change, StoreError, StoreResult};

pub fn backend(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict(db.message().to_owned());
    }
    StoreError::Backend(anyhow::Error::new(e))
}

pub fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

pub fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// After an upsert that did write: an update if a record existed before.
pub fn change_from<T>(existing: Option<T>) -> Change {
    if existing.is_some() {
        Change::Updated
    } else {
        Change::Created
    }
}

pub fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}
