//! Invitation delivery and acceptance: real SMTP, retries, the file mailer, the acceptance page,
//! expiry and closed links.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use roster::mail::SmtpSecurity;
use roster::storage::schema::{email_outbox, invitations};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, spawn_app_with};
use crate::smtp::{SmtpSink, free_port, token_in};

async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn smtp_app(backend: Backend, port: u16, max_attempts: i32) -> TestApp {
    spawn_app_with(TestDb::create(backend), |s| {
        s.mail.kind = roster::config::MailerKind::Smtp;
        s.mail.smtp.host = "127.0.0.1".into();
        s.mail.smtp.port = port;
        s.mail.smtp.security = SmtpSecurity::None;
        s.mail.smtp.timeout = Duration::from_secs(2);
        s.mail.retry_base = Duration::from_millis(100);
        s.mail.max_attempts = max_attempts;
    })
    .await
}

impl TestApp {
    async fn invite_json(&self, email: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v1/team/invite/"))
            .bearer_auth(&self.token)
            .json(&json!({"first_name": "Ida", "last_name": "Invitee", "email": email, "role": "CHECKER"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn member_json(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/team/{id}/"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn accept_json(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/invitations/{token}/accept")))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    /// (status, attempts, last_error) of every outbox message.
    fn outbox(&self) -> Vec<(String, i32, Option<String>)> {
        email_outbox::table
            .select((email_outbox::status, email_outbox::attempts, email_outbox::last_error))
            .load(&mut *self.db.get().unwrap())
            .unwrap()
    }

    fn event_names(&self) -> Vec<String> {
        let query = roster::storage::AuditQuery {
            member_id: None,
            from: None,
            to: None,
            offset: 0,
            limit: 1000,
        };
        roster::storage::list_audit_events(&mut self.db.get().unwrap(), self.org, &query)
            .unwrap()
            .0
            .into_iter()
            .map(|e| e.event_name)
            .collect()
    }
}

async fn a_real_smtp_conversation_then_acceptance(backend: Backend) {
    let smtp = SmtpSink::start(0).await;
    let app = smtp_app(backend, smtp.port, 5).await;
    let member = app.invite_json("ida@example.com").await;
    let id = member["member_id"].as_str().unwrap().to_owned();

    let message = eventually("the invitation e-mail", || smtp.received().into_iter().next()).await;
    assert!(
        message.contains("Subject: You are invited to join Test organization"),
        "{message}"
    );
    assert!(message.contains("To: ida@example.com"), "{message}");
    assert!(
        message.contains("text/plain") && message.contains("text/html"),
        "plain text and HTML parts"
    );
    let token = token_in(&message);
    assert_eq!(token.len(), 43, "{token}");

    // Only the token's hash is stored.
    let hashes: Vec<String> = invitations::table
        .select(invitations::token_hash)
        .load(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(hashes, vec![roster::auth::hash_token(&token)]);

    // The link shows the invitation, with a button that posts the acceptance.
    let page = app
        .client
        .get(app.url(&format!("/invitations/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("Test organization") && html.contains("CHECKER") && html.contains("ida@example.com"));
    assert!(
        html.contains(&format!("action=\"/api/v1/invitations/{token}/accept\"")),
        "{html}"
    );

    let (status, accepted) = app.accept_json(&token).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "ACTIVE");
    let seen = app.member_json(&id).await;
    assert_eq!(seen["status"], "ACTIVE");
    assert!(seen["user_id"].is_string(), "registered: {seen}");
    assert_eq!(seen["invitation_status"], "ACCEPTED");
    assert!(
        seen["verified_at"].is_string() && seen["updated_at"].is_string(),
        "{seen}"
    );

    // Single use.
    let (status, body) = app.accept_json(&token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_used"))
    );
    let names = app.event_names();
    for expected in [
        "team_member.invite",
        "team_member.invite_delivered",
        "team_member.invite_accept",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert_eq!(smtp.received().len(), 1);
    smtp.stop();
}

async fn a_mail_server_that_is_down_delays_but_never_loses(backend: Backend) {
    let port = free_port();
    let app = smtp_app(backend, port, 50).await;
    let invited = app.invite_json("patient@example.com").await;
    let id = invited["member_id"].as_str().unwrap().to_owned();
    // Nothing has left yet: the member says so.
    assert_eq!(invited["invitation_status"], "QUEUED", "{invited}");
    // The server is down: the message stays pending and is retried.
    let (status, attempts, error) = eventually("two failed attempts", || {
        app.outbox()
            .into_iter()
            .next()
            .filter(|(_, attempts, _)| *attempts >= 2)
    })
    .await;
    assert_eq!(status, "PENDING");
    assert!(attempts >= 2 && error.is_some(), "{attempts} {error:?}");
    assert_eq!(app.member_json(&id).await["invitation_status"], "QUEUED");

    let smtp = SmtpSink::start(port).await;
    eventually("delivery once the server is back", || {
        app.outbox()
            .into_iter()
            .next()
            .filter(|(status, _, _)| status == "SENT")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(smtp.received().len(), 1, "delivered exactly once");
    assert_eq!(app.member_json(&id).await["invitation_status"], "SENT");
    let token = token_in(&smtp.received()[0]);
    assert_eq!(app.accept_json(&token).await.0, 200, "the delivered link works");
    smtp.stop();
}

async fn delivery_gives_up_after_the_last_attempt(backend: Backend) {
    let app = smtp_app(backend, free_port(), 2).await;
    let member = app.invite_json("unreachable@example.com").await;
    eventually("the message to fail", || {
        app.outbox().into_iter().next().filter(|(s, _, _)| s == "FAILED")
    })
    .await;
    let seen = app.member_json(member["member_id"].as_str().unwrap()).await;
    assert_eq!(seen["invitation_status"], "DELIVERY_FAILED", "{seen}");
    assert!(
        app.event_names()
            .iter()
            .any(|n| n == "team_member.invite_delivery_failed")
    );
}

async fn the_file_mailer_and_the_browser_flow(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend), |_| {}).await;
    let member = app.invite_json("browser@example.com").await;
    let outbox = app.test_db.dir.path().join("outbox");
    let file = eventually("an .eml file", || {
        std::fs::read_dir(&outbox)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "eml"))
    })
    .await;
    let token = token_in(
        &std::fs::read_to_string(file)
            .unwrap()
            .replace('\n', "\r\n")
            .replace("\r\r\n", "\r\n"),
    );
    // The page's form posts without a bearer token and gets a page back.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .header("accept", "text/html,application/xhtml+xml")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Welcome aboard"));
    assert_eq!(
        app.member_json(member["member_id"].as_str().unwrap()).await["status"],
        "ACTIVE"
    );
}

async fn expired_superseded_and_cancelled_links(backend: Backend) {
    let smtp = SmtpSink::start(0).await;
    let app = smtp_app(backend, smtp.port, 5).await;
    let member = app.invite_json("late@example.com").await;
    let id = member["member_id"].as_str().unwrap().to_owned();
    let first = token_in(&eventually("the first e-mail", || smtp.received().into_iter().next()).await);

    // Time passes beyond the expiry.
    diesel::update(invitations::table)
        .set(invitations::expires_at.eq(roster::domain::now() - chrono::Duration::minutes(1)))
        .execute(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(app.member_json(&id).await["invitation_status"], "EXPIRED");
    let (status, body) = app.accept_json(&first).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::GONE, Some("invitation_expired"))
    );
    let page = app
        .client
        .get(app.url(&format!("/invitations/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.unwrap().contains("expired"));

    // Resending renews it; the old link is closed for good.
    let resent = app
        .client
        .post(app.url(&format!("/api/v1/team/{id}/invite/")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), 200);
    let second = token_in(&eventually("the second e-mail", || smtp.received().get(1).cloned()).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while app.member_json(&id).await["invitation_status"] != "SENT" {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed invitation never read SENT"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_ne!(first, second);
    assert_eq!(app.accept_json(&first).await.1["code"], "invitation_closed");

    // Cancelled: the new link is closed too.
    let cancelled = app
        .client
        .delete(app.url(&format!("/api/v1/team/{id}/invite/")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 204);
    assert_eq!(app.accept_json(&second).await.1["code"], "invitation_closed");

    // Made-up links are unknown, never a 500.
    for junk in ["x", "A".repeat(43).as_str(), "%00", "../../etc/passwd"] {
        let (status, _) = app.accept_json(junk).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
            "{junk}: {status}"
        );
        let page = app
            .client
            .get(app.url(&format!("/invitations/{junk}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{junk}");
    }
    smtp.stop();
}

async fn two_instances_send_each_message_once(backend: Backend) {
    let smtp = SmtpSink::start(0).await;
    let app = smtp_app(backend, smtp.port, 5).await;
    // A second instance on the same database and mail server, with its own worker.
    let mut settings = crate::helpers::test_settings(&app.test_db);
    settings.mail.kind = roster::config::MailerKind::Smtp;
    settings.mail.smtp.host = "127.0.0.1".into();
    settings.mail.smtp.port = smtp.port;
    settings.mail.smtp.security = SmtpSecurity::None;
    settings.mail.poll = Duration::from_millis(10);
    let second = roster::startup::Application::build(settings).await.unwrap();
    tokio::spawn(second.run_until_stopped());

    const INVITES: usize = 30;
    for i in 0..INVITES {
        app.invite_json(&format!("crowd{i}@example.com")).await;
    }
    eventually("every message sent", || {
        let outbox = app.outbox();
        (outbox.len() == INVITES && outbox.iter().all(|(s, _, _)| s == "SENT")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = smtp.received();
    let mut recipients: Vec<String> = received
        .iter()
        .map(|m| m.lines().find(|l| l.starts_with("To: ")).unwrap().to_owned())
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(
        (received.len(), recipients.len()),
        (INVITES, INVITES),
        "each message exactly once"
    );
    smtp.stop();
}

/// Messages queued before the outbox stored templates hold rendered bodies and no template; they
/// still leave as they were written, with a working link.
async fn a_message_queued_with_rendered_bodies_still_leaves(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend), |_| {}).await;
    let member = app.invite_json("legacy@example.com").await;
    let mut seen = Vec::new();
    let first = crate::helpers::next_mail(&app, &mut seen).await;
    assert!(first.contains("invited you to join"), "{first}");

    // An older message of the same invitation, as an earlier version stored it.
    let mut conn = app.db.get().unwrap();
    let invitation = roster::storage::find_latest_invitation(
        &mut conn,
        app.org,
        member["member_id"].as_str().unwrap().parse().unwrap(),
    )
    .unwrap()
    .unwrap();
    let now = roster::domain::now();
    let placeholder = roster::domain::invitation::ACCEPT_URL_PLACEHOLDER;
    roster::storage::insert_outbox_message(
        &mut conn,
        app.org,
        &roster::storage::OutboxRow {
            invitation_id: Some(invitation.id.clone()),
            body_text: format!("Rendered long ago: {placeholder}\n"),
            body_html: format!("<p><a href=\"{placeholder}\">Rendered long ago</a></p>"),
            template: None,
            ..roster::storage::OutboxRow::queued(
                app.org,
                "legacy@example.com".into(),
                "Stored whole".into(),
                String::new(),
                now,
            )
        },
    )
    .unwrap();
    drop(conn);

    let second = crate::helpers::next_mail(&app, &mut seen).await;
    assert!(
        second.contains("Subject: Stored whole") && second.contains("Rendered long ago"),
        "{second}"
    );
    assert!(!second.contains(placeholder), "{second}");
    assert_eq!(app.accept_json(&token_in(&second)).await.0, 200, "its link works");
}

both_backends!(
    a_message_queued_with_rendered_bodies_still_leaves,
    two_instances_send_each_message_once,
    a_real_smtp_conversation_then_acceptance,
    a_mail_server_that_is_down_delays_but_never_loses,
    delivery_gives_up_after_the_last_attempt,
    the_file_mailer_and_the_browser_flow,
    expired_superseded_and_cancelled_links,
);
