//! The admin console at `/console/`: server-rendered pages (askama templates compiled into the
//! binary, no script but a copy button) for an organization's administrators. Each handler is thin,
//! as the API's are: extract the session, check the native API's permission, call one use case,
//! render. State-changing requests are forms that carry the session's CSRF token and must come from
//! this origin.

mod charts;
mod pages;
mod sign_in;
mod views;

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use crate::api::AppState;
use crate::domain::Permission;
use crate::domain::audit::AuditContext;
use crate::service::ServiceError;
use crate::service::console::{ConsoleIdentity, SessionError};

/// The session cookie; scoped to the console's paths.
pub const SESSION_COOKIE: &str = "roster_console";
/// A one-request message to show on the next page (after a form's redirect).
const FLASH_COOKIE: &str = "roster_flash";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(actix_web::middleware::from_fn(same_origin_forms))
            .app_data(
                web::FormConfig::default().limit(64 * 1024).error_handler(|err, _req| {
                    ConsoleError::Invalid(format!("the form could not be read: {err}")).into()
                }),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ConsoleError::NotFound("page").into()))
            .route("/assets/console.css", web::get().to(assets::css))
            .route("/assets/console.js", web::get().to(assets::js))
            .configure(sign_in::configure)
            .configure(pages::configure),
    );
}

mod assets {
    use actix_web::HttpResponse;
    use actix_web::http::header;

    const CSS: &str = include_str!("../../templates/console/console.css");
    const JS: &str = include_str!("../../templates/console/console.js");

    pub async fn css() -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(CSS)
    }

    pub async fn js() -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(JS)
    }
}

/// Refuses a form posted from another origin (the CSRF token is the second lock; the SameSite cookie
/// the third).
async fn same_origin_forms(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if req.method() == actix_web::http::Method::POST {
        let sent_from = req
            .headers()
            .get(header::ORIGIN)
            .or_else(|| req.headers().get(header::REFERER))
            .and_then(|v| v.to_str().ok())
            .map(origin_of);
        if let Some(sent_from) = sent_from {
            // roster's own origins: the configured public URL (behind a proxy), and the one this
            // request reached (a local run, where public_url is the listen address).
            let info = req.connection_info();
            let reached = format!("{}://{}", info.scheme(), info.host()).to_ascii_lowercase();
            let public = req
                .app_data::<web::Data<AppState>>()
                .map(|s| origin_of(&s.settings.public_url()));
            if sent_from != reached && Some(&sent_from) != public.as_ref() {
                return Err(ConsoleError::Forbidden("this form was sent from another site".into()).into());
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// `scheme://host[:port]` of a URL, lower-cased (`null` stays `null`, and matches nothing).
fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split(['/', '?', '#']).next().unwrap_or_default()),
        None => url,
    }
}

/// A failure, shown to the person as a page in plain words.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in (or the session ended): back to the sign-in page.
    #[error("{0}")]
    SignIn(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("something went wrong on our side; it has been logged")]
    Internal,
}

impl From<ServiceError> for ConsoleError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(what) => ConsoleError::NotFound(what),
            ServiceError::Invalid(v) => ConsoleError::Invalid(v.to_string()),
            ServiceError::Conflict { message, .. } => ConsoleError::Invalid(message),
            ServiceError::Forbidden(m) => ConsoleError::Forbidden(m),
            ServiceError::PreconditionFailed => ConsoleError::Invalid("the record changed meanwhile; try again".into()),
            other => {
                crate::telemetry::log_error_chain(&other, "console request failed");
                ConsoleError::Internal
            }
        }
    }
}

impl From<SessionError> for ConsoleError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Service(s) => s.into(),
            SessionError::Missing => ConsoleError::SignIn(String::new()),
            other => ConsoleError::SignIn(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn(_) => StatusCode::SEE_OTHER,
            ConsoleError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn(why) = self {
            let mut response = HttpResponse::SeeOther();
            response.insert_header((header::LOCATION, "/console/sign-in"));
            // Only a session that ended is cleared: a request without one (a link followed from
            // elsewhere) must not sign anybody out.
            if !why.is_empty() {
                response.cookie(expired_cookie(SESSION_COOKIE));
                response.cookie(flash_cookie(Flash::error(why.clone())));
            }
            return response.finish();
        }
        let title = match self {
            ConsoleError::Invalid(_) => "That did not work",
            ConsoleError::Forbidden(_) => "Not allowed",
            ConsoleError::NotFound(_) => "Not found",
            _ => "Something went wrong",
        };
        let message = self.to_string();
        html(
            self.status_code(),
            &ErrorPage {
                title,
                message: &message,
            },
        )
    }
}

/// A rendered page with the console's headers: never cached, never framed, nothing loaded from
/// elsewhere.
/// A form whose only field is its CSRF token (sign-out, revocations).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

pub(crate) fn html(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(body) => secure_headers(HttpResponse::build(status)).body(body),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().body("the page could not be rendered")
        }
    }
}

fn secure_headers(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    builder
}

/// Redirects after a form (POST, then GET), with a message for the next page.
pub(crate) fn see_other(location: &str, flash: Option<Flash>) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_owned()));
    if let Some(flash) = flash {
        response.cookie(flash_cookie(flash));
    }
    response.finish()
}

/// A message for the next page: what worked, or why not.
#[derive(Debug, Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
        }
    }

    fn read(req: &HttpRequest) -> Option<Flash> {
        let cookie = req.cookie(FLASH_COOKIE)?;
        let value = cookie.value();
        let (kind, text) = value.split_once(':')?;
        let text: String = url_decode(text).chars().take(500).collect();
        Some(Flash { ok: kind == "ok", text })
    }
}

fn url_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|mut v| v.pop())
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn flash_cookie(flash: Flash) -> Cookie<'static> {
    let encoded = serde_urlencoded::to_string([("v", flash.text.as_str())]).unwrap_or_default();
    let value = format!("{}:{}", if flash.ok { "ok" } else { "error" }, &encoded[2..]);
    Cookie::build(FLASH_COOKIE, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(60))
        .finish()
}

fn expired_cookie(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// The session cookie for a new sign-in; `Secure` when roster is reached over https. `Lax`, so
/// that a link into the console from an e-mail or a chat opens it signed in; no cross-site POST
/// carries it, and every form also needs the session's CSRF token and this origin.
pub(crate) fn session_cookie(value: String, max_age_seconds: i64, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/console")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_seconds))
        .finish()
}

/// What every signed-in page knows: who is signed in, the form token, the message to show.
pub struct Signed {
    pub identity: ConsoleIdentity,
    pub cookie: String,
    pub flash: Option<Flash>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl Signed {
    pub fn audit(&self) -> AuditContext {
        self.identity
            .audit_context(self.ip_address.clone(), self.user_agent.clone())
    }

    /// The native API's rule for this permission.
    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.identity.actor.may(permission) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(permission.refusal().into()))
        }
    }

    /// A form must carry this session's token.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        let expected = self.identity.csrf_token.as_bytes();
        let presented = presented.as_bytes();
        let same = expected.len() == presented.len()
            && expected.iter().zip(presented).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(
                "this form has expired; reload the page and try again".into(),
            ))
        }
    }

    /// What the layout shows.
    pub fn layout(&self, section: &'static str) -> views::Layout {
        views::Layout {
            organization: self.identity.organization_name.clone(),
            user: self.identity.display_name.clone(),
            csrf: self.identity.csrf_token.clone(),
            section,
            flash: self.flash.clone(),
        }
    }
}

impl FromRequest for Signed {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let flash = Flash::read(req);
        let ip_address = req.peer_addr().map(|a| a.ip().to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        Box::pin(async move {
            let cookie = cookie.ok_or(ConsoleError::SignIn(String::new()))?;
            let state = state.ok_or(ConsoleError::Internal)?;
            let value = cookie.clone();
            let identity =
                crate::api::in_blocking_pool(move || crate::service::console::resolve_session(&state.db, &value))
                    .await
                    .map_err(|_| ConsoleError::Internal)??;
            Ok(Signed {
                identity,
                cookie,
                flash,
                ip_address,
                user_agent,
            })
        })
    }
}

/// Runs blocking work (a use case) off the async workers, with the console's errors.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConsoleError> + Send + 'static,
) -> Result<T, ConsoleError> {
    crate::api::in_blocking_pool(f)
        .await
        .unwrap_or(Err(ConsoleError::Internal))
}

/// Whether cookies should be `Secure`: roster is reached over https.
pub(crate) fn secure_cookies(state: &AppState) -> bool {
    state.settings.public_url().starts_with("https://")
}

/// The page's flash message is consumed by showing it.
pub(crate) fn with_flash_cleared(mut response: HttpResponse, had_flash: bool) -> HttpResponse {
    if had_flash {
        let _ = response.add_cookie(&expired_cookie(FLASH_COOKIE));
    }
    response
}
