use chrono::NaiveDateTime;

use super::{ServiceError, ServiceResult, stored};
use crate::domain::audit::{AuditContext, NewAuditEvent, events};
use crate::domain::{InvalidValue, OrganizationId, Role};
use crate::storage::{self, Database, DbConnection, OrganizationRow, StorageError};

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub default_role: Role,
    pub created_at: NaiveDateTime,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StorageError;
    fn try_from(row: OrganizationRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: stored("organizations.id", &row.id)?,
            name: row.name,
            default_role: stored("organizations.default_role", &row.default_role)?,
            created_at: row.created_at,
        })
    }
}

pub fn parse_organization_name(raw: &str) -> Result<String, InvalidValue> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(InvalidValue::new("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(InvalidValue::new("name", "longer than 200 characters"));
    }
    Ok(name.to_owned())
}

pub fn create_organization(
    db: &Database,
    name: &str,
    default_role: Role,
    context: &AuditContext,
) -> ServiceResult<Organization> {
    db.write(|conn| create_organization_in(conn, name, default_role, context))
}

/// [`create_organization`] inside a transaction the caller holds.
pub(crate) fn create_organization_in(
    conn: &mut DbConnection,
    name: &str,
    default_role: Role,
    context: &AuditContext,
) -> ServiceResult<Organization> {
    let name = parse_organization_name(name)?;
    let now = crate::domain::now();
    let row = storage::create_organization(conn, OrganizationId::new(), &name, default_role, now)?;
    let org = Organization::try_from(row)?;
    storage::insert_audit_event(
        conn,
        context,
        &NewAuditEvent::new(org.id, events::ORGANIZATION_CREATE)
            .with("organization_id", org.id.to_string())
            .with("name", org.name.clone()),
        now,
    )?;
    Ok(org)
}

pub fn find_organization(db: &Database, id: OrganizationId) -> ServiceResult<Organization> {
    let mut conn = db.get()?;
    match storage::find_organization(&mut conn, id) {
        Ok(row) => Ok(row.try_into()?),
        Err(StorageError::NotFound) => Err(ServiceError::NotFound("organization")),
        Err(e) => Err(e.into()),
    }
}

/// Operator use (CLI): all organizations.
pub fn list_organizations(db: &Database) -> ServiceResult<Vec<Organization>> {
    let mut conn = db.get()?;
    let rows = storage::list_organizations(&mut conn)?;
    Ok(rows.into_iter().map(Organization::try_from).collect::<Result<_, _>>()?)
}
