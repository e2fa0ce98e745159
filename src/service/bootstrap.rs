//! First start: an empty database gets a default organization and an admin token, so that the
//! zero-set-up default is usable at once.

use super::organizations::{Organization, create_organization_in};
use super::tokens::{CreateToken, create_token_in};
use super::{ServiceError, ServiceResult};
use crate::auth::{IssuedToken, TokenSigner};
use crate::domain::audit::AuditContext;
use crate::domain::{Role, Scope};
use crate::storage::{self, Database};

pub const DEFAULT_ORGANIZATION_NAME: &str = "Default";

/// Creates the default organization and a token with every scope, when (and only when) the
/// database holds no organization. Several instances starting together create it once.
pub fn bootstrap_if_empty(
    db: &Database,
    signer: &TokenSigner,
    ttl: chrono::Duration,
) -> ServiceResult<Option<(Organization, IssuedToken)>> {
    db.write(|conn| {
        storage::lock_for_bootstrap(conn)?;
        if storage::count_organizations(conn)? > 0 {
            return Ok(None);
        }
        let context = AuditContext::system();
        let org = create_organization_in(conn, DEFAULT_ORGANIZATION_NAME, Role::Viewer, &context)?;
        let token = create_token_in(
            conn,
            signer,
            CreateToken {
                organization_id: org.id,
                name: "bootstrap",
                scopes: &Scope::ALL,
                member_id: None,
                ttl,
            },
            &context,
        )?;
        Ok::<_, ServiceError>(Some((org, token)))
    })
}
