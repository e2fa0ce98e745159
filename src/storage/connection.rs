use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};

use super::StorageError;

/// One connection type for both backends; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL whose scheme has been recognised. Anything else is an error: a typo in a
/// PostgreSQL URL must never silently become a new SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: the SQLite file path, or the libpq URL.
    target: String,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, StorageError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: raw.to_owned(),
            });
        }
        if let Some(path) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StorageError::InvalidUrl("sqlite URL without a file path".into()));
            }
            return Ok(Self {
                backend: Backend::Sqlite,
                target: path.to_owned(),
            });
        }
        Err(StorageError::InvalidUrl(format!(
            "unrecognised scheme in {:?}; use sqlite://PATH or postgres://…",
            redact(raw)
        )))
    }

    pub fn sqlite_file(path: impl Into<PathBuf>) -> Self {
        Self {
            backend: Backend::Sqlite,
            target: path.into().to_string_lossy().into_owned(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password, for handing to another roster process. Never log this.
    pub fn to_string_unredacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => self.target.clone(),
        }
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.backend == Backend::Sqlite).then(|| PathBuf::from(&self.target))
    }

    pub fn connect(&self) -> Result<DbConnection, StorageError> {
        match self.backend {
            Backend::Postgres => {
                // libpq's TLS runs on the vendored OpenSSL. Initialised here without its exit
                // handler: at process exit that handler frees state that worker threads still
                // holding connections may touch (a crash on the way out).
                openssl_sys::init();
                let mut conn = PgConnection::establish(&self.target).map_err(StorageError::Connection)?;
                conn.batch_execute("SET TIME ZONE 'UTC'")?;
                Ok(DbConnection::Postgres(conn))
            }
            Backend::Sqlite => {
                if let Some(parent) = PathBuf::from(&self.target)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StorageError::InvalidUrl(format!("cannot create the directory {}: {e}", parent.display()))
                    })?;
                }
                configure_sqlite_library();
                let mut conn = SqliteConnection::establish(&self.target).map_err(StorageError::Connection)?;
                // busy_timeout first: switching to WAL takes a lock another connection may hold.
                // case_sensitive_like: LIKE behaves as on PostgreSQL, and prefix matches can use indexes.
                // wal_autocheckpoint: checkpoints run in the background (see `storage::checkpoint`);
                // journal_size_limit: the log file shrinks back after a burst.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON; \
                     PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
                    super::checkpoint::BACKSTOP_PAGES,
                    16 * 1024 * 1024,
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Runs a diesel query on the backend's own connection instead of through the `DbConnection`
/// multi-connection. Each pass of the multi-connection (the "is it cacheable" check, the bind
/// collection) serialises the whole query to SQL again; on a point read that was a sixth of the CPU
/// in perf. `$query` is written once and compiled for each backend (selectables are typed by it).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $query:expr) => {
        match $conn {
            $crate::storage::DbConnection::Sqlite($c) => $query,
            $crate::storage::DbConnection::Postgres($c) => $query,
        }
    };
}
pub(crate) use on_backend;

/// Process-wide SQLite settings, applied once before the library's first use. A pooled connection
/// is only ever used by one thread at a time, so the per-connection mutexes of SQLite's default
/// "serialized" mode protect nothing here, and its memory statistics take a global mutex on every
/// allocation; under load both showed up as lock traffic in profiles. If the library was already
/// initialised (another SQLite user in this process went first), SQLite refuses the calls and keeps
/// its safe defaults.
fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config takes these options with the documented argument types (none for
        // MULTITHREAD, one int for MEMSTATUS) and is called before any connection is opened by us.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
        }
        if !sqlite_plans_are_stable() {
            tracing::warn!(
                "SQLite was built without SQLITE_ENABLE_QPSG (set in .cargo/config.toml): statements with a LIMIT are prepared again on every run"
            );
        }
    });
}

/// Whether this SQLite was built with the planner stability guarantee (`.cargo/config.toml`).
fn sqlite_plans_are_stable() -> bool {
    // SAFETY: a NUL-terminated option name; the call only reads it.
    unsafe { libsqlite3_sys::sqlite3_compileoption_used(c"ENABLE_QPSG".as_ptr()) == 1 }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", redact(&self.target))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.backend {
            Backend::Sqlite => write!(f, "sqlite://{}", self.target),
            Backend::Postgres => f.write_str(&redact(&self.target)),
        }
    }
}

/// Hides the password of a URL (`postgres://user:secret@host` → `postgres://user:***@host`).
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _password)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

/// The r2d2 connection manager: connects to the configured backend and applies its session settings.
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = StorageError;

    fn connect(&self) -> Result<DbConnection, StorageError> {
        self.url.connect()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        conn.batch_execute("SELECT 1").map_err(StorageError::from)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        // Diesel's check: a connection returned in the middle of a transaction is discarded.
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: u32,
    /// Connections kept open ahead of need (a background thread tops the pool up).
    pub min_idle: Option<u32>,
    pub connect_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 8,
            min_idle: Some(1),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl PoolSettings {
    /// One connection, made on demand: for short-lived commands, which must not exit while a
    /// background thread is still opening connections.
    pub fn single() -> Self {
        Self {
            max_size: 1,
            min_idle: None,
            ..Self::default()
        }
    }
}

pub type DbPool = Pool<Manager>;
pub type PooledDb = PooledConnection<Manager>;

/// The pool and the backend it talks to. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    url: DatabaseUrl,
    /// SQLite has one writer at a time: the writers of this process queue here and share
    /// transactions (see `storage::group_commit`).
    sqlite_writer: std::sync::Arc<super::group_commit::WriteGroup>,
    /// Checkouts that gave up waiting for a connection (the metrics show it).
    wait_timeouts: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// SQLite: the log is checkpointed in the background while a clone of this pool lives.
    _checkpointer: Option<std::sync::Arc<super::checkpoint::Checkpointer>>,
}

/// The pool as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub connections: u32,
    pub idle: u32,
    pub wait_timeouts: u64,
}

impl Database {
    /// Opens a pool. Fails fast (one connection is made at once) so a wrong URL stops start-up.
    pub fn open(url: &DatabaseUrl, settings: &PoolSettings) -> Result<Self, StorageError> {
        let pool = Pool::builder()
            .max_size(settings.max_size)
            .min_idle(settings.min_idle)
            .connection_timeout(settings.connect_timeout)
            .test_on_check_out(false)
            .build(Manager { url: url.clone() })?;
        let checkpointer = match url.backend() {
            Backend::Sqlite => Some(std::sync::Arc::new(
                super::checkpoint::Checkpointer::start(url).map_err(StorageError::Thread)?,
            )),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            url: url.clone(),
            sqlite_writer: Default::default(),
            wait_timeouts: Default::default(),
            _checkpointer: checkpointer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn get(&self) -> Result<PooledDb, StorageError> {
        self.pool.get().map_err(|e| {
            self.wait_timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            e.into()
        })
    }

    pub fn pool_status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus {
            connections: state.connections,
            idle: state.idle_connections,
            wait_timeouts: self.wait_timeouts.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Writes the audit row of a read on its own, outside the read's transaction; on SQLite it
    /// shares the commit of the writes that arrive at the same time (see `storage::group_commit`).
    /// Returns once the row is committed.
    pub fn append_read_audit(
        &self,
        context: &crate::domain::audit::AuditContext,
        event: crate::domain::audit::NewAuditEvent,
    ) -> Result<(), StorageError> {
        self.write(|conn| super::insert_audit_event(conn, context, &event, crate::domain::now()).map(|_| ()))
    }

    /// Runs `f` in a read transaction (a consistent snapshot for multi-query reads).
    pub fn read<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let mut conn = self.get()?;
        conn.transaction(|c| f(c).map_err(Wrapped::Inner))
            .map_err(Wrapped::into_inner)
    }

    /// Runs `f` in a write transaction and returns once it is committed; rolls `f`'s changes back
    /// when it returns an error. On SQLite, writers that arrive together share one transaction,
    /// each in a savepoint of its own (see `storage::group_commit`); on PostgreSQL each writer has
    /// a transaction of its own.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        if self.backend() == Backend::Sqlite {
            return self.sqlite_writer.write(self, f);
        }
        let mut conn = self.get()?;
        write_transaction(&mut conn, f)
    }
}

/// One write transaction of its own on a connection the caller already holds (`BEGIN IMMEDIATE`
/// on SQLite, so that the write lock is taken up front).
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError>,
{
    begin_immediate(conn).map_err(E::from)?;
    match f(conn) {
        Ok(value) => match <DbConnection as Connection>::TransactionManager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn);
                Err(E::from(e.into()))
            }
        },
        Err(err) => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
                .map_err(|e| E::from(e.into()))?;
            Err(err)
        }
    }
}

/// `BEGIN IMMEDIATE` on SQLite: the write lock is taken up front, so a writer of another process
/// makes this one wait on the busy timeout instead of failing on a lock upgrade. A plain `BEGIN` on
/// PostgreSQL.
pub(super) fn begin_immediate(conn: &mut DbConnection) -> Result<(), StorageError> {
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConnection::Postgres(_) => <DbConnection as Connection>::TransactionManager::begin_transaction(conn),
    }
    .map_err(StorageError::from)
}

/// Lets `Connection::transaction` carry the caller's error type through diesel's `From<diesel::Error>` bound.
enum Wrapped<E> {
    Inner(E),
    Diesel(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Wrapped<E> {
    fn from(e: diesel::result::Error) -> Self {
        Wrapped::Diesel(e)
    }
}

impl<E: From<StorageError>> Wrapped<E> {
    fn into_inner(self) -> E {
        match self {
            Wrapped::Inner(e) => e,
            Wrapped::Diesel(e) => E::from(StorageError::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_by_scheme_only() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/roster.db").unwrap().backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db").unwrap().sqlite_path().unwrap(),
            PathBuf::from("/tmp/x.db")
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        for bad in ["data/roster.db", "mysql://u@h/db", "postgre://u@h/db", "sqlite://", ""] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    /// `.cargo/config.toml` builds SQLite with the planner stability guarantee; without it every
    /// statement with a LIMIT is parsed again on each run (see there).
    #[test]
    fn sqlite_is_built_with_stable_plans() {
        assert!(
            sqlite_plans_are_stable(),
            "LIBSQLITE3_FLAGS from .cargo/config.toml did not reach the SQLite build"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:hunter2@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(
            format!("{}", DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap()),
            "postgres://u:***@h/db"
        );
    }
}
