use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::StorageError;
use super::connection::{DbConnection, write_transaction};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary but fixed: the advisory lock every roster instance takes while migrating.
pub const MIGRATION_LOCK_KEY: i64 = 0x726f_7374_6572; // "roster"

/// Applies pending migrations and returns the versions applied (empty when up to date).
///
/// Several instances may start at once: on PostgreSQL the run holds a session advisory lock, on
/// SQLite an immediate (write) transaction, so a second run waits for the first and then finds
/// nothing to do.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    match conn {
        DbConnection::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = apply(pg, POSTGRES);
            let unlock = pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            let applied = result?;
            unlock?;
            Ok(applied)
        }
        DbConnection::Sqlite(_) => write_transaction(conn, |c| match c {
            DbConnection::Sqlite(sqlite) => apply(sqlite, SQLITE),
            DbConnection::Postgres(_) => unreachable!("matched as SQLite above"),
        }),
    }
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<Vec<String>, StorageError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|versions| versions.into_iter().map(|v| v.to_string()).collect())
        .map_err(|e| StorageError::Migration(e.to_string()))
}
