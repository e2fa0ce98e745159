use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong below the service layer. Constraint violations are kept apart from failures so
/// that callers can turn them into 409s.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    /// A unique index refused the row; `constraint` names the index when the backend tells which.
    #[error("uniqueness violation on {constraint}")]
    UniqueViolation { constraint: String },
    #[error("foreign key violation: {0}")]
    ForeignKeyViolation(String),
    #[error("the database URL is invalid: {0}")]
    InvalidUrl(String),
    #[error("could not connect to the database")]
    Connection(#[source] diesel::ConnectionError),
    #[error("no database connection available")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Query(#[source] DieselError),
    /// A write shared with other callers failed (see `storage::group_commit`); the text is the
    /// failure's chain, as the caller that wrote the batch saw it.
    #[error("{0}")]
    Shared(String),
    /// A thread the storage runs (the SQLite background checkpoint) could not start.
    #[error("cannot start a storage thread")]
    Thread(#[source] std::io::Error),
}

impl From<DieselError> for StorageError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StorageError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StorageError::UniqueViolation {
                    constraint: info.constraint_name().map(str::to_owned).unwrap_or_else(|| {
                        // SQLite names the columns, not the index: "UNIQUE constraint failed: members.organization_id, members.email_ci"
                        info.message().rsplit(": ").next().unwrap_or(info.message()).to_owned()
                    }),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                StorageError::ForeignKeyViolation(info.message().to_owned())
            }
            other => StorageError::Query(other),
        }
    }
}

impl StorageError {
    /// True when the database cannot be reached or is going away (no connection from the pool in
    /// time, a connection lost, a server shutting down, SQLite busy past its timeout): a client
    /// should retry later, and nothing was written.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Pool(_) | StorageError::Connection(_) => true,
            StorageError::Query(DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            StorageError::Query(DieselError::BrokenTransactionManager) => true,
            StorageError::Query(DieselError::DatabaseError(_, info)) => {
                let message = info.message();
                // PostgreSQL's class 57 (operator intervention) and SQLite's busy lock, which
                // diesel reports without a kind of their own.
                [
                    "terminating connection due to administrator command",
                    "the database system is shutting down",
                    "the database system is starting up",
                    "the database system is in recovery mode",
                    "server closed the connection unexpectedly",
                    "no connection to the server",
                    "database is locked",
                    "database is busy",
                ]
                .iter()
                .any(|known| message.contains(known))
            }
            _ => false,
        }
    }

    /// True when a unique index on `column` refused the write (works with both backends' messages).
    pub fn is_unique_on(&self, column: &str) -> bool {
        matches!(self, StorageError::UniqueViolation { constraint } if constraint.contains(column))
    }
}
