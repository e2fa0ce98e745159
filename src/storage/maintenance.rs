//! Planner statistics on PostgreSQL when nothing else keeps them.
//!
//! Diesel prepares each statement once per connection, and after a few executions PostgreSQL may
//! keep one generic plan for it. A plan made while a table was nearly empty is a sequential scan,
//! and it is only replanned when the table's statistics change. With autovacuum on that happens
//! within a minute of a bulk provisioning; with autovacuum off (some managed and test servers) it
//! never does, and every lookup of a growing organization scans all of its members: measured on
//! this project's benchmark, POST /Users and PATCH ran at a third of their speed. So when
//! autovacuum is off, roster analyzes its own tables once they have changed by as much as
//! autovacuum's default threshold would wait for.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{DbConnection, StorageResult};

/// roster's tables, the only ones it analyzes.
const TABLES: &[&str] = &[
    "organizations",
    "users",
    "members",
    "member_emails",
    "member_groups",
    "group_memberships",
    "group_role_bindings",
    "invitations",
    "email_outbox",
    "audit_events",
    "api_tokens",
    "agent_owners",
    "events",
    "webhook_endpoints",
    "webhook_deliveries",
    "console_sessions",
    "console_sign_in_links",
    "provisioning_activity",
];

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    on: bool,
}

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = Text)]
    relname: String,
}

/// Whether PostgreSQL's autovacuum keeps statistics itself (SQLite: true, it needs nothing here:
/// it replans a statement when statistics change and prefers an index for equality without them).
pub fn autovacuum_keeps_statistics(conn: &mut DbConnection) -> StorageResult<bool> {
    match conn {
        DbConnection::Sqlite(_) => Ok(true),
        DbConnection::Postgres(pg) => Ok(diesel::sql_query("SELECT current_setting('autovacuum') = 'on' AS on")
            .get_result::<Flag>(pg)?
            .on),
    }
}

/// Analyzes every roster table changed by more than 50 rows plus a tenth of its size since it was
/// last analyzed (autovacuum's default threshold); returns their names. Not organization data:
/// this reads only the catalog's counters.
pub fn analyze_changed_tables(conn: &mut DbConnection) -> StorageResult<Vec<String>> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    let tables: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    let stale: Vec<Stale> = diesel::sql_query(
        "SELECT relname::text AS relname FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND relname = ANY($1) \
         AND n_mod_since_analyze > 50 + 0.1 * n_live_tup ORDER BY relname",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&tables)
    .load(pg)?;
    let mut analyzed = Vec::with_capacity(stale.len());
    for Stale { relname } in stale {
        // The name is one of TABLES (matched above), never input.
        if let Some(table) = TABLES.iter().find(|t| **t == relname) {
            diesel::sql_query(format!("ANALYZE {table}")).execute(pg)?;
            analyzed.push(relname);
        }
    }
    Ok(analyzed)
}
