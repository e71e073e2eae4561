//! The reads every token request makes on the embedded store (the client, the person, their
//! habilitations, conventions and partner), run in place on the calling task.
//!
//! sqlx runs each SQLite connection on a thread of its own: a query is a message to that
//! thread and its rows come back by channel, and on this path that hand-off cost as much as a
//! whole HTTP request. These reads are short indexed lookups of pages SQLite keeps in memory,
//! and in WAL mode a reader never waits for a writer, so they run on the async worker itself,
//! through rusqlite on the same SQLite library, with statements prepared once per connection.
//! Every read is its own transaction on the file as committed now: nothing is cached, a
//! suspension or a revocation written by another replica or a CLI command is seen by the next
//! read. Writes stay on sqlx.

use crate::store::sql::Cells;
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, Row};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Connections opened on demand and kept for reuse, at most `keep` of them idle.
pub struct InPlaceReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

/// Statements prepared and kept per connection (the hot reads are a handful).
const STATEMENTS_KEPT: usize = 32;

impl InPlaceReads {
    /// For the database at `path`, already created and in WAL mode.
    pub fn new(path: &Path, keep: usize) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    fn open(&self) -> StoreResult<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(read_error)?;
        // Readers only: a statement that would write fails instead.
        connection
            .pragma_update(None, "query_only", true)
            .map_err(read_error)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(read_error)?;
        connection.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(connection)
    }

    /// Runs `read` on an idle connection (or a new one); a connection that failed is dropped.
    fn with<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let taken = self.idle.lock().expect("reads pool").pop();
        let connection = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&connection);
        if result.is_ok() {
            let mut idle = self.idle.lock().expect("reads pool");
            if idle.len() < self.keep {
                idle.push(connection);
            }
        }
        result
    }

    /// Every row `sql` selects for `key` (its one parameter, `$1`, which it may repeat).
    pub fn all<T>(
        &self,
        sql: &str,
        key: &str,
        decode: impl Fn(&dyn Cells) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.with(|connection| {
            let mut statement = connection.prepare_cached(sql).map_err(read_error)?;
            let mut rows = statement.query([key]).map_err(read_error)?;
            let mut found = Vec::new();
            while let Some(row) = rows.next().map_err(read_error)? {
                found.push(decode(row)?);
            }
            Ok(found)
        })
    }

    /// The first row `sql` selects for `key`, if any.
    pub fn optional<T>(
        &self,
        sql: &str,
        key: &str,
        decode: impl Fn(&dyn Cells) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.with(|connection| {
            let mut statement = connection.prepare_cached(sql).map_err(read_error)?;
            let mut rows = statement.query([key]).map_err(read_error)?;
            rows.next()
                .map_err(read_error)?
                .map(|row| decode(row))
                .transpose()
        })
    }

    /// Closes the idle connections (a command that hands the file to another process).
    pub fn close(&self) {
        self.idle.lock().expect("reads pool").clear();
    }
}

fn read_error(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(anyhow::Error::new(e))
}

impl Cells for Row<'_> {
    fn text(&self, column: &str) -> StoreResult<String> {
        self.get(column).map_err(read_error)
    }
    fn optional_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.get(column).map_err(read_error)
    }
    fn integer(&self, column: &str) -> StoreResult<i64> {
        self.get(column).map_err(read_error)
    }
    fn optional_integer(&self, column: &str) -> StoreResult<Option<i64>> {
        self.get(column).map_err(read_error)
    }
    fn optional_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(column).map_err(read_error)
    }
}
