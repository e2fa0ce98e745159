//! Persistence: one diesel schema and one set of queries over SQLite and PostgreSQL.
//!
//! Every function that reads or writes tenant data takes the organization id as a required argument
//! and puts it in the `WHERE` clause; nothing here reads across organizations except the operator's
//! organization listing. Functions are synchronous and take a connection: the caller decides the
//! transaction (see [`Database::write`]) and runs it off the async workers.

mod audit;
mod checkpoint;
mod connection;
mod console;
mod error;
pub mod events;
mod group_commit;
mod groups;
mod invitations;
mod maintenance;
mod members;
mod migrations;
mod organizations;
mod query;
mod roles;
pub mod schema;
mod tokens;
mod users;

pub use audit::{
    AuditEventRow, AuditQuery, ProductAuditEvent, audit_events_after, insert_audit_event, insert_audit_event_about,
    insert_audit_events, insert_product_event, list_audit_events,
};
pub use connection::{
    Backend, Database, DatabaseUrl, DbConnection, PoolSettings, PoolStatus, redact, write_transaction,
};
pub use console::{
    ActivityRow, ConsoleSessionRow, HourlyCount, NewActivityRow, SignInLinkRow, activity_per_hour, count_sign_in_mails,
    delete_console_session, delete_member_console_sessions, find_console_session, find_sign_in_link, insert_activity,
    insert_console_session, insert_sign_in_link, list_activity, outbox_backlog, prune_activity, prune_console,
    recent_sign_in_link, set_sign_in_link_token, use_sign_in_link,
};
pub use error::StorageError;
pub use groups::{
    GroupChanges, GroupRow, add_group_members, clear_group_members, delete_group, find_group, groups_of_member,
    groups_of_members, insert_group, list_group_members, lock_group, remove_group_members,
    remove_member_from_all_groups, search_groups, touch_group, visible_member_ids,
};
pub use invitations::{
    InvitationRow, OutboxRow, claim_due_messages, close_open_invitations, find_invitation,
    find_invitation_by_token_hash, find_latest_invitation, insert_invitation, insert_outbox_message,
    latest_invitations, list_outbox_for_invitation, mark_invitation_accepted, record_delivery, set_invitation_delivery,
    set_invitation_token,
};
pub use maintenance::{analyze_changed_tables, autovacuum_keeps_statistics};
pub use members::{
    MemberChanges, MemberFilter, MemberRow, MemberSort, NewMember, add_member_emails, count_active_administrators,
    count_agents_without_owner, find_member, find_member_by_email, find_member_by_phone, find_member_by_user,
    find_member_by_user_name, find_member_with_invitation, find_members_matching, insert_member, insert_members,
    list_members, lock_member, members_by_id, owners_of_agents, search_members, set_agent_owners, set_member_emails,
    touch_member_login, update_member,
};
pub use migrations::{MIGRATION_LOCK_KEY, run_migrations};
pub use organizations::{
    OrganizationCounts, OrganizationRow, count_organization, count_organizations, create_organization,
    delete_organization, find_organization, list_organizations, lock_for_bootstrap, lock_organization,
    memberships_of_user, rename_organization,
};
pub use roles::{
    Affected, RoleBindingRow, bound_groups_of_member, find_role_binding, recompute_roles, set_role_binding,
};
pub use tokens::{
    ApiTokenRow, NewApiToken, find_token, insert_token, list_tokens, revoke_member_tokens, revoke_token, touch_token,
};
pub use users::{UserRow, find_user, find_user_by_email, insert_user};

pub type StorageResult<T> = Result<T, StorageError>;
