//! Use cases. Each public function is one transaction that makes the change and writes its audit
//! event(s) together. Blocking: the HTTP layer calls these through `api::in_blocking_pool`.

pub mod bootstrap;
pub mod console;
pub mod events;
pub mod groups;
pub mod invitations;
pub mod members;
pub mod organizations;
pub mod team;
pub mod tokens;

use crate::domain::InvalidValue;
use crate::storage::StorageError;

/// What a use case can refuse or fail with; each door maps it to its own error format.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{0}")]
    Forbidden(String),
    /// `If-Match` names another version.
    #[error("precondition failed")]
    PreconditionFailed,
    #[error(transparent)]
    Storage(StorageError),
    #[error("{0}")]
    Internal(String),
}

impl From<StorageError> for ServiceError {
    fn from(err: StorageError) -> Self {
        ServiceError::Storage(err)
    }
}

impl ServiceError {
    pub fn conflict(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            field: Some(field),
            message: message.into(),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// A read with its audit row. The answer leaves only once its row is committed: a failed audit
/// write fails the read. On SQLite, whose single writer would otherwise serialise every audited read,
/// the read runs in a read transaction beside other readers and its row is written afterwards, in a
/// transaction shared with the writes that arrive at the same time (`Database::append_read_audit`).
/// On PostgreSQL, which writes concurrently, the read and its row share one transaction: measured
/// back to back, that was faster there than two transactions with a shared commit.
pub(crate) fn audited_read<T>(
    db: &crate::storage::Database,
    context: &crate::domain::audit::AuditContext,
    read: impl FnOnce(
        &mut crate::storage::DbConnection,
        chrono::NaiveDateTime,
    ) -> ServiceResult<(T, crate::domain::audit::NewAuditEvent)>,
) -> ServiceResult<T> {
    let now = crate::domain::now();
    if db.backend() == crate::storage::Backend::Postgres {
        return db.write(|conn| {
            let (value, event) = read(conn, now)?;
            crate::storage::insert_audit_event(conn, context, &event, now)?;
            Ok(value)
        });
    }
    let (value, event) = db.read(|conn| read(conn, now))?;
    db.append_read_audit(context, event)?;
    Ok(value)
}

/// Parses a stored column back into a domain type; a failure means the row is corrupt.
pub(crate) fn stored<T: std::str::FromStr>(column: &str, value: &str) -> Result<T, StorageError> {
    value
        .parse()
        .map_err(|_| StorageError::Corrupt(format!("column {column} holds {value:?}")))
}

/// Who makes a change, and the organization's settings that shape it.
pub struct ChangeContext<'a> {
    pub organization_id: crate::domain::OrganizationId,
    pub audit: &'a crate::domain::audit::AuditContext,
    /// How invitations are made (their lifetime).
    pub policy: team::InvitationPolicy,
    /// Groups that give a role by displayName (configuration).
    pub group_roles: &'a [(String, crate::domain::Role)],
}

/// The role an organization gives members that no role-bound group gives one.
pub(crate) fn default_role(
    conn: &mut crate::storage::DbConnection,
    organization_id: crate::domain::OrganizationId,
) -> Result<crate::domain::Role, StorageError> {
    let organization = crate::storage::find_organization(conn, organization_id)?;
    stored("organizations.default_role", &organization.default_role)
}
