//! The native API's OpenAPI document, generated from the handlers' and wire types' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "roster native API", description = "Organizations, their members, invitations, roles, groups and audit logs (seeds 000 to 003)."),
    paths(
        super::team::list_members,
        super::team::get_member,
        super::team::invite_member,
        super::team::resend_invitation,
        super::team::cancel_invitation,
        super::team::update_member,
        super::team::deactivate_member,
        super::team::member_audit_log,
        super::team::update_members,
        super::team::suspend_member,
        super::team::block_member,
        super::team::activate_member,
        super::team::create_agent_token,
        super::token::current_token,
        super::groups::bind,
        super::groups::unbind,
        super::groups::list_groups,
        super::groups::create_group,
        super::groups::get_group,
        super::groups::rename_group,
        super::groups::add_members,
        super::groups::remove_members,
        super::groups::delete_group,
        super::organizations::list_organizations,
        super::organizations::create_organization,
        super::organizations::get_organization,
        super::organizations::rename_organization,
        super::organizations::delete_organization,
        super::organizations::leave_organization,
        super::organizations::caller_role,
        super::organizations::organization_summary,
        super::organizations::switch_organization,
        super::organizations::list_users,
        super::organizations::add_users,
        super::organizations::update_users,
        super::organizations::remove_users,
        super::organizations::remove_users_in_path,
        super::events::feed,
        super::events::create_webhook,
        super::events::list_webhooks,
        super::events::get_webhook,
        super::events::update_webhook,
        super::events::delete_webhook,
        super::events::list_deliveries,
        super::events::redeliver,
        super::events::record_events,
        super::events::export_audit_log,
        crate::api::invitations::invitation_page,
        crate::api::invitations::accept_invitation,
    ),
    modifiers(&BearerAuth),
    tags((name = "team", description = "Members and invitations"), (name = "audit", description = "Audit logs"),
         (name = "token", description = "The calling token"), (name = "groups", description = "Groups that give roles"),
         (name = "organizations", description = "The calling person's organizations and their people (seed 002)"),
         (name = "events", description = "Change events: the feed and webhooks"),
         (name = "invitations", description = "Accepting an invitation (the token in the path is the credential; no bearer token)"))
)]
pub struct NativeApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON (built once).
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        NativeApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
    })
}

/// `GET /api/v1/openapi.json`: readable without a token (it describes, it does not reveal).
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}
