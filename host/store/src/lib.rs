//! sandflow-store: Sandflow's persistence on SQLite. Embedded migrations, one writer thread that
//! group-commits many callers' writes per transaction, read-only connections for queries, and one
//! module per table. Every tenant-scoped query has the tenant id in its key. Knows no ASL: event,
//! history and snapshot payloads are opaque text and bytes to it.

pub mod activities;
pub mod approvals;
pub mod connections;
mod db;
pub mod executions;
pub mod functions;
pub mod http_origins;
pub mod invocations;
pub mod machines;
pub mod migrations;
pub mod queues;
pub mod table_expr;
pub mod tables;
pub mod tags;
pub mod tasks;
pub mod tenant_quotas;
pub mod tenants;
pub mod timers;
pub mod topics;
pub mod usage;

pub use db::{Stats, Store};
pub use rusqlite::Connection;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// The database holds something this build cannot read.
    #[error("unreadable store: {0}")]
    Corrupt(String),
    /// The transaction holding this write did not commit.
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store is closed")]
    Closed,
}

impl Error {
    /// Whether trying again may succeed (the database was busy or locked).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Maps a UNIQUE/PRIMARY KEY violation to `Conflict(what)`.
fn unique(e: rusqlite::Error, what: impl FnOnce() -> String) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Error::Conflict(what())
        }
        _ => Error::Sqlite(e),
    }
}

/// An in-memory, migrated connection for module tests.
#[cfg(test)]
fn test_conn() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    c.pragma_update(None, "foreign_keys", "ON").unwrap();
    migrations::migrate(&mut c).unwrap();
    c
}
