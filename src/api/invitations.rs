//! Accepting an invitation: `GET /invitations/{token}` (a small page with an accept button) and
//! `POST /api/v1/invitations/{token}/accept`. The token in the path is the credential, so these
//! routes sit outside the bearer-token doors.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::RequestMeta;
use super::error::ApiError;
use super::native::wire::MemberResponse;
use crate::domain::invitation::html_escape;
use crate::service::invitations::{self, InvitationError, InvitationView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/invitations/{token}", "/invitations/{token}/"]).get(invitation_page))
        .service(
            web::resource([
                "/api/v1/invitations/{token}/accept",
                "/api/v1/invitations/{token}/accept/",
            ])
            .post(accept_invitation),
        );
}

fn refusal(err: &InvitationError) -> (StatusCode, &'static str) {
    match err {
        InvitationError::NotFound => (StatusCode::NOT_FOUND, "invitation_not_found"),
        InvitationError::Expired => (StatusCode::GONE, "invitation_expired"),
        InvitationError::AlreadyAccepted => (StatusCode::CONFLICT, "invitation_used"),
        InvitationError::Closed => (StatusCode::GONE, "invitation_closed"),
        InvitationError::Service(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}

fn into_api_error(err: InvitationError) -> ApiError {
    match err {
        InvitationError::Service(e) => e.into(),
        other => {
            let (status, code) = refusal(&other);
            ApiError::new(status, code, other.to_string())
        }
    }
}

/// A page that never leaks its URL (the token) onwards and is never cached or framed.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}\
             button{{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:.3rem;background:#1d4ed8;color:#fff;cursor:pointer}}</style></head>\
             <body><h1>{title}</h1>{body}</body></html>",
            title = html_escape(title),
        ))
}

fn refusal_page(err: InvitationError) -> HttpResponse {
    if let InvitationError::Service(e) = err {
        let _ = ApiError::from(e); // logs the failure
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "<p>Please try again later.</p>",
        );
    }
    let (status, _) = refusal(&err);
    page(
        status,
        "Invitation unavailable",
        &format!("<p>{}</p>", html_escape(&err.to_string())),
    )
}

fn invitation_body(token: &str, view: &InvitationView) -> String {
    let greeting = view
        .first_name
        .as_deref()
        .map(|n| format!("Hello {},", html_escape(n)))
        .unwrap_or_default();
    format!(
        "<p>{greeting}</p><p>You are invited to join <strong>{org}</strong> as <strong>{role}</strong> \
         with the address {email}.</p><form method=\"post\" action=\"/api/v1/invitations/{token}/accept\">\
         <button type=\"submit\">Accept the invitation</button></form>\
         <p><small>This invitation is valid until {expires} UTC.</small></p>",
        org = html_escape(&view.organization_name),
        role = view.role,
        email = html_escape(&view.email),
        token = html_escape(token),
        expires = view.expires_at.format("%Y-%m-%d %H:%M"),
    )
}

/// The invitation's page: who invites whom to which organization, with an accept button. The token
/// in the path is the credential (from the invitation e-mail); no bearer token.
#[utoipa::path(get, path = "/invitations/{token}", tag = "invitations",
    params(("token" = String, Path, description = "the acceptance token from the invitation e-mail")),
    responses(
        (status = 200, description = "An HTML page with an accept button", content_type = "text/html"),
        (status = 404, description = "No such invitation (HTML)", content_type = "text/html"),
        (status = 409, description = "Already accepted (HTML)", content_type = "text/html"),
        (status = 410, description = "Expired, superseded or cancelled (HTML)", content_type = "text/html")))]
pub(crate) async fn invitation_page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let token = token.into_inner();
    let db = state.db.clone();
    let lookup = token.clone();
    match crate::api::in_blocking_pool(move || invitations::describe_invitation(&db, &lookup)).await {
        Ok(Ok(view)) => page(StatusCode::OK, "You are invited", &invitation_body(&token, &view)),
        Ok(Err(e)) => refusal_page(e),
        Err(_) => refusal_page(InvitationError::Service(crate::service::ServiceError::Internal(
            "cancelled".into(),
        ))),
    }
}

/// Browsers (the page's form) get a page back; API clients get the member as JSON.
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// Accepts an invitation: the person is registered (or recognised by e-mail) and the member becomes
/// ACTIVE. `Accept: text/html` (the page's form) gets a page back; other clients get the member.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "invitations",
    params(("token" = String, Path, description = "the acceptance token from the invitation e-mail")),
    responses(
        (status = 200, description = "The member, now ACTIVE", body = MemberResponse),
        (status = 404, description = "`invitation_not_found`", body = ApiError),
        (status = 409, description = "`invitation_used`: accepted already", body = ApiError),
        (status = 410, description = "`invitation_expired` or `invitation_closed` (superseded or cancelled)", body = ApiError)))]
pub(crate) async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    meta: RequestMeta,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = token.into_inner();
    let db = state.db.clone();
    let result = crate::api::in_blocking_pool(move || {
        invitations::accept_invitation(&db, &token, meta.ip_address, meta.user_agent)
    })
    .await
    .unwrap_or_else(|_| {
        Err(InvitationError::Service(crate::service::ServiceError::Internal(
            "cancelled".into(),
        )))
    });
    match (result, wants_html(&req)) {
        (Ok(member), true) => {
            let org = html_escape(&member.organization_id.to_string());
            Ok(page(
                StatusCode::OK,
                "Welcome aboard",
                &format!("<p>Your invitation is accepted: you are now an active member (team {org}).</p>"),
            ))
        }
        (Ok(member), false) => Ok(HttpResponse::Ok().json(MemberResponse::from(member))),
        (Err(e), true) => Ok(refusal_page(e)),
        (Err(e), false) => Err(into_api_error(e)),
    }
}
