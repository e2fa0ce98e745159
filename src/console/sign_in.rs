//! Signing in and out: with an `org:admin` token, or by a single-use link e-mailed to an
//! administrator (a page with a button, so that a mail scanner fetching the link does not use it).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{
    ConsoleError, CsrfForm, Flash, Signed, blocking, html, secure_cookies, see_other, session_cookie,
    with_flash_cleared,
};
use crate::api::AppState;
use crate::api::auth::RequestMeta;
use crate::domain::Email;
use crate::domain::audit::{AuditContext, Channel};
use crate::service::console::{self, NewSession, SIGN_IN_LINK_TTL};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(sign_in_page))
        .route("/sign-in/token", web::post().to(sign_in_with_token))
        .route("/sign-in/email", web::post().to(request_link))
        .route("/link/{credential}", web::get().to(link_page))
        .route("/link/{credential}", web::post().to(use_link))
        .route("/sign-out", web::post().to(sign_out));
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    flash: Option<Flash>,
    link_minutes: i64,
}

async fn sign_in_page(req: HttpRequest) -> HttpResponse {
    let flash = Flash::read(&req);
    let had = flash.is_some();
    let page = SignInPage {
        flash,
        link_minutes: SIGN_IN_LINK_TTL.num_minutes(),
    };
    with_flash_cleared(html(StatusCode::OK, &page), had)
}

fn signed_in(state: &AppState, session: NewSession) -> HttpResponse {
    let max_age = (session.expires_at - crate::domain::now()).num_seconds().max(1);
    let mut response = see_other("/console/", None);
    let _ = response.add_cookie(&session_cookie(session.cookie, max_age, secure_cookies(state)));
    response
}

/// A refused sign-in goes back to the form with the reason.
fn refused(e: console::SessionError) -> Result<HttpResponse, ConsoleError> {
    match ConsoleError::from(e) {
        ConsoleError::SignIn(why) => Ok(see_other("/console/sign-in", Some(Flash::error(why)))),
        other => Err(other),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

async fn sign_in_with_token(
    state: web::Data<AppState>,
    meta: RequestMeta,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ConsoleError> {
    let token = form.into_inner().token;
    if token.trim().is_empty() {
        return Ok(see_other("/console/sign-in", Some(Flash::error("paste a token first"))));
    }
    let s = state.clone();
    let ttl = state.settings.console_session;
    let outcome = blocking(move || {
        Ok(console::sign_in_with_token(
            &s.db,
            &s.signer,
            &token,
            ttl,
            meta.ip_address,
            meta.user_agent,
        ))
    })
    .await?;
    match outcome {
        Ok(session) => Ok(signed_in(&state, session)),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
struct EmailForm {
    email: String,
}

async fn request_link(
    state: web::Data<AppState>,
    meta: RequestMeta,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Ok(email) = Email::parse(form.email.trim()) else {
        return Ok(see_other(
            "/console/sign-in",
            Some(Flash::error("that is not an e-mail address")),
        ));
    };
    let db = state.db.clone();
    let context = AuditContext {
        actor: "console".into(),
        actor_member_id: None,
        channel: Channel::Api,
        ip_address: meta.ip_address,
        user_agent: meta.user_agent,
        token_hash: None,
    };
    blocking(move || Ok(console::request_sign_in_links(&db, &email, &context)?)).await?;
    // The same answer whether or not the address belongs to an administrator.
    Ok(see_other(
        "/console/sign-in",
        Some(Flash::ok(format!(
            "If that address belongs to an administrator, a sign-in link is on its way. It works once, for {} minutes.",
            SIGN_IN_LINK_TTL.num_minutes()
        ))),
    ))
}

#[derive(Template)]
#[template(path = "console/link.html")]
struct LinkPage {
    credential: String,
}

async fn link_page(credential: web::Path<String>) -> HttpResponse {
    html(
        StatusCode::OK,
        &LinkPage {
            credential: credential.into_inner(),
        },
    )
}

async fn use_link(
    state: web::Data<AppState>,
    meta: RequestMeta,
    credential: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let credential = credential.into_inner();
    let s = state.clone();
    let ttl = state.settings.console_session;
    let outcome = blocking(move || {
        Ok(console::sign_in_with_link(
            &s.db,
            &credential,
            ttl,
            meta.ip_address,
            meta.user_agent,
        ))
    })
    .await?;
    match outcome {
        Ok(session) => Ok(signed_in(&state, session)),
        Err(e) => refused(e),
    }
}

async fn sign_out(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    let db = state.db.clone();
    let context = signed.audit();
    blocking(move || Ok(console::sign_out(&db, &signed.cookie, &signed.identity, &context)?)).await?;
    let mut response = see_other("/console/sign-in", Some(Flash::ok("You are signed out.")));
    let _ = response.add_cookie(&super::expired_cookie(super::SESSION_COOKIE));
    Ok(response)
}
