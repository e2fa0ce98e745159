//! The request span every log line of a request carries: method, route, request id, status. The
//! path is logged with one-time tokens blanked, since invitation links carry their secret in it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

pub struct RedactedRootSpan;

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let route = request.match_pattern().unwrap_or_else(|| "(unmatched)".into());
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %redact_path(request.path()),
            http.client_ip = %request.connection_info().peer_addr().unwrap_or(""),
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Credentials in paths are blanked: `/invitations/<token>` → `/invitations/***` (also under
/// `/api/v1`), and the console's sign-in links `/console/link/<secret>` → `/console/link/***`.
pub fn redact_path(path: &str) -> String {
    let mut segments: Vec<&str> = path.split('/').collect();
    for i in 1..segments.len() {
        let credential =
            segments[i - 1] == "invitations" || (i == 3 && segments[1] == "console" && segments[2] == "link");
        if credential && !segments[i].is_empty() {
            segments[i] = "***";
        }
    }
    segments.join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn invitation_tokens_are_blanked() {
        assert_eq!(super::redact_path("/invitations/abc123"), "/invitations/***");
        assert_eq!(
            super::redact_path("/api/v1/invitations/abc/accept"),
            "/api/v1/invitations/***/accept"
        );
        assert_eq!(super::redact_path("/api/v1/team/"), "/api/v1/team/");
        assert_eq!(
            super::redact_path("/console/link/0193.secret-part"),
            "/console/link/***"
        );
        assert_eq!(super::redact_path("/console/people/abc"), "/console/people/abc");
    }
}
