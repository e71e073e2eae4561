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
//! | `read_optional`, `read_all`: the hot reads (client, person, habilitations, conventions, partner) | in place through rusqlite (`sqlite::reads`) | the pool |
//! | `forget_overwritten`: after secrets sealed from clear | `PRAGMA wal_checkpoint(TRUNCATE)` (with `secure_delete` on) | nothing: VACUUM is the owner's |
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

/// Records, as they are now, the holders of closed habilitations picked by `condition` (on
/// `h`, the habilitation, and `a`, the account; `$2` is free for it): the person holding it
/// directly, or the members of the group holding it. `$1` is the time recorded. Erased
/// accounts have nothing left to record; holders already recorded stay as they were.
pub fn record_holders(condition: &str) -> String {
    format!(
        "INSERT INTO habilitation_holders
            (habilitation_id, account_id, civility, given_name, family_name, email, function, recorded_at)
         SELECT h.id, a.id, a.civility, a.given_name, a.family_name, a.email, a.function, $1
         FROM habilitations h
         JOIN accounts a ON a.id = h.account_id
            OR a.id IN (SELECT m.account_id FROM group_members m WHERE m.group_id = h.group_id)
         WHERE h.status = 'closed' AND {condition}
           AND a.email NOT LIKE 'efface-%@compte.invalid'
         ON CONFLICT DO NOTHING"
    )
}

/// A row's cells by column name, whichever way it was read: through sqlx (`SqliteRow`,
/// `PgRow`) or in place by rusqlite (`sqlite::reads`), so that one decoding function per
/// record serves every path. Only the five shapes the records use.
pub trait Cells {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn optional_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn integer(&self, column: &str) -> StoreResult<i64>;
    fn optional_integer(&self, column: &str) -> StoreResult<Option<i64>>;
    fn optional_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>>;
}

macro_rules! cells_of_sqlx_row {
    ($row:ty) => {
        impl Cells for $row {
            fn text(&self, column: &str) -> StoreResult<String> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn optional_text(&self, column: &str) -> StoreResult<Option<String>> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn integer(&self, column: &str) -> StoreResult<i64> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn optional_integer(&self, column: &str) -> StoreResult<Option<i64>> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
            fn optional_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>> {
                sqlx::Row::try_get(self, column).map_err(backend)
            }
        }
    };
}
cells_of_sqlx_row!(sqlx::sqlite::SqliteRow);
cells_of_sqlx_row!(sqlx::postgres::PgRow);
