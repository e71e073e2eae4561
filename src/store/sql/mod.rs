//! What the SQLite and PostgreSQL stores share.
//!
//! The durable traits are implemented once, in `durable.rs` and `habilitations.rs` of this
//! folder, with portable SQL (`$n` parameters, `ON CONFLICT`, integers as BIGINT, dates and
//! enumerations as text). Each backend module includes both files with `#[path]` after
//! defining `Store` (its struct), `Db` and `DbRow` (its sqlx driver types) and
//! `Store::serialized()` (a transaction that excludes concurrent writers of quotas), so the
//! one source compiles once per driver with native types and no runtime dispatch.

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
