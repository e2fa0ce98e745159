//! Seed 000's workflows end to end through the native API, with permissions, the last-administrator
//! guard, audit events and cross-organization isolation.

use reqwest::StatusCode;
use roster::domain::audit::AuditContext;
use roster::domain::{MemberId, MemberStatus, OrganizationId, Scope};
use roster::service::tokens;
use roster::storage::{self, MemberChanges};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, create_org, create_token, spawn_app};

const MEMBER_FIELDS: &[&str] = &[
    "member_id",
    "user_id",
    "team_id",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "role",
    "status",
    "added_date",
    "last_login",
    "deactivated_date",
];

impl TestApp {
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    async fn invite(&self, token: &str, email: &str, phone: Option<&str>, role: &str) -> (StatusCode, Value) {
        let body = json!({"first_name": "Jo", "last_name": email.split('@').next().unwrap(), "email": email,
                          "phone_number": phone, "role": role});
        self.call(reqwest::Method::POST, "/api/v1/team/invite/", token, Some(body))
            .await
    }

    /// Invites with the admin token and returns the new member's id.
    async fn invited(&self, email: &str, role: &str) -> MemberId {
        let (status, body) = self.invite(&self.token, email, None, role).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["member_id"].as_str().unwrap().parse().unwrap()
    }

    /// What accepting the invitation does (its own issue): the member becomes ACTIVE.
    fn accept(&self, org: OrganizationId, id: MemberId) {
        let changes = MemberChanges {
            status: Some(MemberStatus::Active.as_str().to_owned()),
            verified_at: Some(Some(roster::domain::now())),
            ..MemberChanges::default()
        };
        storage::update_member(&mut self.db.get().unwrap(), org, id, &changes, roster::domain::now()).unwrap();
    }

    /// An ACTIVE member of `self.org` with `role`, and a token acting as them.
    async fn member_with_token(&self, email: &str, role: &str) -> (MemberId, String) {
        let id = self.invited(email, role).await;
        self.accept(self.org, id);
        let token = tokens::create_token(
            &self.db,
            &self.signer,
            tokens::CreateToken {
                organization_id: self.org,
                name: "member",
                scopes: &[],
                member_id: Some(id),
                ttl: chrono::Duration::days(1),
            },
            &AuditContext::cli(),
        )
        .unwrap()
        .token;
        (id, token)
    }

    async fn list(&self, query: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self.get(&format!("/api/v1/team/{query}")).send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.json().await.unwrap_or(Value::Null))
    }

    fn events(&self, org: OrganizationId, member: MemberId) -> Vec<roster::storage::AuditEventRow> {
        let query = roster::storage::AuditQuery {
            member_id: Some(member),
            from: None,
            to: None,
            offset: 0,
            limit: 1000,
        };
        storage::list_audit_events(&mut self.db.get().unwrap(), org, &query)
            .unwrap()
            .0
    }
}

fn emails(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect()
}

use reqwest::Method;

async fn list_and_review_members(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app
        .invite(
            &app.token,
            "john.doe@example.com",
            Some("+33 6 71 91 58 34"),
            "ADMINISTRATOR",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.invited("ann@example.com", "VIEWER").await;
    app.invited("zed@example.com", "CHECKER").await;

    let (status, headers, list) = app.list("").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-total-count"], "3");
    let first = &list[0];
    for field in MEMBER_FIELDS {
        assert!(first.get(*field).is_some(), "field {field} missing in {first}");
    }
    assert_eq!(first["email"], "john.doe@example.com");
    assert_eq!(first["phone_number"], "+33671915834");
    assert_eq!(first["role"], "ADMINISTRATOR");
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["team_id"], app.org.to_string());
    assert!(first["last_login"].is_null() && first["deactivated_date"].is_null() && first["user_id"].is_null());
    // Seed 000's timestamp shape: naive ISO 8601 with microseconds.
    let added = first["added_date"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(added, "%Y-%m-%dT%H:%M:%S%.6f").is_ok() && added.len() == 26,
        "{added}"
    );

    // Filters, search and paging run in SQL.
    assert_eq!(
        emails(&app.list("?role=VIEWER,CHECKER").await.2),
        ["ann@example.com", "zed@example.com"]
    );
    assert_eq!(app.list("?status=ACTIVE").await.2, json!([]));
    assert_eq!(emails(&app.list("?search=ZED").await.2), ["zed@example.com"]);
    assert_eq!(emails(&app.list("?search=%2B3367").await.2), ["john.doe@example.com"]);
    assert_eq!(
        emails(&app.list("?search=%25").await.2),
        Vec::<&str>::new(),
        "% is matched literally"
    );
    // Sorted by a named field, either way.
    assert_eq!(
        emails(&app.list("?sort=email&order=desc").await.2),
        ["zed@example.com", "john.doe@example.com", "ann@example.com"]
    );
    assert_eq!(
        emails(&app.list("?sort=role").await.2),
        ["john.doe@example.com", "zed@example.com", "ann@example.com"]
    );
    assert_eq!(app.list("?sort=shoe_size").await.0, 422);
    let (_, headers, page2) = app.list("?page=2&page_size=1").await;
    assert_eq!(emails(&page2), ["ann@example.com"]);
    let link = headers["link"].to_str().unwrap();
    assert!(
        link.contains("page=3") && link.contains("rel=\"next\"") && link.contains("rel=\"prev\""),
        "{link}"
    );
    for bad in [
        "?page=0",
        "?page_size=5000",
        "?status=GONE",
        "?role=ADMIN",
        "?page=x",
        "?colour=red",
    ] {
        let (status, _, body) = app.list(bad).await;
        assert!(status == 400 || status == 422, "{bad}: {status} {body}");
        assert!(body["code"].is_string() && body["message"].is_string(), "{bad}: {body}");
    }
}

async fn invite_then_find_then_watch_the_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, invited) = app
        .invite(&app.token, "new.user@domain.com", Some("+111111111111"), "VIEWER")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited["status"], "PENDING");
    let (_, _, list) = app.list("").await;
    let found = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "new.user@domain.com")
        .unwrap();
    let id: MemberId = found["member_id"].as_str().unwrap().parse().unwrap();
    let (status, member) = app
        .call(Method::GET, &format!("/api/v1/team/{id}/"), &app.token, None)
        .await;
    assert_eq!((status, member["status"].as_str()), (StatusCode::OK, Some("PENDING")));

    // The invitation and its e-mail were written with the member.
    let mut conn = app.db.get().unwrap();
    let invitation = storage::find_latest_invitation(&mut conn, app.org, id)
        .unwrap()
        .expect("invitation");
    assert_eq!(invitation.status, "SENT");
    assert!(invitation.expires_at > roster::domain::now() + chrono::Duration::days(6));
    let outbox = storage::list_outbox_for_invitation(&mut conn, app.org, invitation.id.parse().unwrap()).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].recipient, "new.user@domain.com");
    // Stored as its template, rendered when it leaves.
    assert!(outbox[0].body_text.is_empty() && outbox[0].body_html.is_empty());
    let template = roster::domain::email::EmailTemplate::from_json(outbox[0].template.as_deref().unwrap()).unwrap();
    assert!(template.render().text.contains("Test organization"));
    assert_eq!(template.render().subject, outbox[0].subject);
    drop(conn);

    app.accept(app.org, id);
    let (_, member) = app
        .call(Method::GET, &format!("/api/v1/team/{id}"), &app.token, None)
        .await;
    assert_eq!(
        member["status"], "ACTIVE",
        "the same path without the trailing slash works too"
    );
}

async fn invitations_are_validated_and_unique(backend: Backend) {
    let app = spawn_app(backend).await;
    app.invite(&app.token, "dup@example.com", Some("+4915112345678"), "VIEWER")
        .await;
    let (status, body) = app.invite(&app.token, "DUP@Example.com", None, "VIEWER").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["details"][0]["field"], "email");
    let (status, body) = app
        .invite(&app.token, "other@example.com", Some("+49 151 1234 5678"), "VIEWER")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["details"][0]["field"], "phone_number");
    for (email, phone, role, field) in [
        ("not-an-email", None, "VIEWER", "email"),
        ("x@example.com", Some("0611223344"), "VIEWER", "phone_number"),
        ("x@example.com", None, "OWNER", "role"),
    ] {
        let (status, body) = app.invite(&app.token, email, phone, role).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["details"][0]["field"], field, "{body}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/team/invite/",
            &app.token,
            Some(json!({"email": "x@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let response = app
        .client
        .post(app.url("/api/v1/team/invite/"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "bad_request");
    // Nothing was written by the refused requests.
    assert_eq!(app.list("").await.1["x-total-count"], "1");
}

async fn resend_an_invitation(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.invited("slow@example.com", "MARKET").await;
    let first = storage::find_latest_invitation(&mut app.db.get().unwrap(), app.org, id)
        .unwrap()
        .unwrap();
    let (status, body) = app
        .call(Method::POST, &format!("/api/v1/team/{id}/invite/"), &app.token, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "PENDING");
    let mut conn = app.db.get().unwrap();
    let second = storage::find_latest_invitation(&mut conn, app.org, id)
        .unwrap()
        .unwrap();
    assert_ne!(first.id, second.id);
    assert_ne!(first.token_hash, second.token_hash);
    assert!(second.expires_at >= first.expires_at);
    // The superseded invitation's unsent e-mail is dropped: only the new one will go out. (The
    // delivery worker may already have sent the first one; a sent message stays as history.)
    assert!(
        storage::list_outbox_for_invitation(&mut conn, app.org, first.id.parse().unwrap())
            .unwrap()
            .iter()
            .all(|m| m.status == "SENT"),
        "no unsent e-mail of the superseded invitation remains"
    );
    assert_eq!(
        storage::list_outbox_for_invitation(&mut conn, app.org, second.id.parse().unwrap())
            .unwrap()
            .len(),
        1
    );
    drop(conn);
    let names: Vec<String> = app.events(app.org, id).into_iter().map(|e| e.event_name).collect();
    assert!(names.contains(&"team_member.invite_resend".to_owned()), "{names:?}");

    app.accept(app.org, id);
    let (status, body) = app
        .call(Method::POST, &format!("/api/v1/team/{id}/invite/"), &app.token, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("ACTIVE"), "{body}");
}

async fn cancel_an_invitation_then_confirm_absence(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.invited("oops@example.com", "VIEWER").await;
    let keep = app.invited("keep@example.com", "VIEWER").await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/team/{id}/invite/"), &app.token, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(emails(&app.list("").await.2), ["keep@example.com"]);
    let (status, _) = app
        .call(Method::GET, &format!("/api/v1/team/{id}/"), &app.token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let invitation = storage::find_latest_invitation(&mut app.db.get().unwrap(), app.org, id)
        .unwrap()
        .unwrap();
    assert_eq!(invitation.status, "CANCELLED");
    // Cancelling again, or cancelling an active member's invitation: 404 and 409.
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/team/{id}/invite/"), &app.token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.accept(app.org, keep);
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/team/{keep}/invite/"),
            &app.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Inviting the same person again brings the same member back, PENDING.
    let (status, body) = app.invite(&app.token, "oops@example.com", None, "CHECKER").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["member_id"], id.to_string());
    assert_eq!(
        (body["status"].as_str(), body["role"].as_str()),
        (Some("PENDING"), Some("CHECKER"))
    );
}

async fn change_role_and_or_reactivate(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.invited("worker@example.com", "VIEWER").await;
    let path = format!("/api/v1/team/{id}/");
    // A pending member cannot be activated by PUT.
    let (status, body) = app
        .call(Method::PUT, &path, &app.token, Some(json!({"status": "ACTIVE"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("invitation"), "{body}");
    app.accept(app.org, id);

    // Role only.
    let (status, body) = app
        .call(Method::PUT, &path, &app.token, Some(json!({"role": "CHECKER"})))
        .await;
    assert_eq!(
        (status, body["role"].as_str(), body["status"].as_str()),
        (StatusCode::OK, Some("CHECKER"), Some("ACTIVE"))
    );
    // Deactivate, then status only: reactivation.
    let (status, body) = app.call(Method::DELETE, &path, &app.token, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("INACTIVE")));
    let (status, body) = app
        .call(Method::PUT, &path, &app.token, Some(json!({"status": "ACTIVE"})))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{body}"
    );
    assert!(body["deactivated_date"].is_null());
    // Both at once.
    app.call(Method::DELETE, &path, &app.token, None).await;
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            &app.token,
            Some(json!({"role": "MARKET", "status": "ACTIVE"})),
        )
        .await;
    assert_eq!(
        (status, body["role"].as_str(), body["status"].as_str()),
        (StatusCode::OK, Some("MARKET"), Some("ACTIVE"))
    );

    let names: Vec<String> = app.events(app.org, id).into_iter().map(|e| e.event_name).collect();
    for expected in [
        "team_member.invite",
        "team_member.modify",
        "team_member.deactivate",
        "team_member.reactivate",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    // Nonsense is refused with a reason, and the member is unchanged.
    for (body, code) in [
        (json!({"status": "PENDING"}), StatusCode::CONFLICT),
        (json!({"status": "BLOCKED"}), StatusCode::CONFLICT),
        (json!({"role": "GOD"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"role": "VIEWER", "colour": "red"}), StatusCode::BAD_REQUEST),
    ] {
        let (status, answer) = app.call(Method::PUT, &path, &app.token, Some(body.clone())).await;
        assert_eq!(status, code, "{body} -> {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let (_, member) = app.call(Method::GET, &path, &app.token, None).await;
    assert_eq!(
        (member["role"].as_str(), member["status"].as_str()),
        (Some("MARKET"), Some("ACTIVE"))
    );
}

async fn deactivate_then_confirm_and_check_last_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, member_token) = app
        .member_with_token("leaver@example.com", "NON_TRANSACTIONAL_ADMIN")
        .await;
    let path = format!("/api/v1/team/{id}/");
    // Using their own token is a login.
    let (status, me) = app.call(Method::GET, &path, &member_token, None).await;
    assert_eq!(status, 200, "{me}");
    let (_, member) = app.call(Method::GET, &path, &app.token, None).await;
    assert!(member["last_login"].is_string(), "{member}");

    let (status, body) = app.call(Method::DELETE, &path, &app.token, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "INACTIVE");
    assert!(body["deactivated_date"].is_string());
    let (_, confirmed) = app.call(Method::GET, &path, &app.token, None).await;
    assert_eq!(confirmed["status"], "INACTIVE");
    // Their token stops working at once; deactivating twice is refused.
    assert_eq!(
        app.call(Method::GET, &path, &member_token, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::DELETE, &path, &app.token, None).await.0,
        StatusCode::CONFLICT
    );
}

async fn audit_logs_by_time_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = roster::domain::now() - chrono::Duration::seconds(1);
    let id = app.invited("audited@example.com", "VIEWER").await;
    app.accept(app.org, id);
    let path = format!("/api/v1/team/{id}/");
    app.call(Method::PUT, &path, &app.token, Some(json!({"role": "CHECKER"})))
        .await;
    app.call(Method::DELETE, &path, &app.token, None).await;

    let logs = format!("/api/v1/team/members/{id}/audit-logs/");
    let (status, events) = app
        .send(
            app.get(&logs)
                .header("user-agent", "roster-tests/1.0")
                .query(&[("from", before.and_utc().to_rfc3339())]),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_name"].as_str().unwrap())
        // The delivery worker writes its own event about the member whenever it gets to it.
        .filter(|n| *n != "team_member.invite_delivered")
        .collect();
    assert_eq!(
        names,
        ["team_member.invite", "team_member.modify", "team_member.deactivate"],
        "in time order"
    );
    let event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_name"] == "team_member.modify")
        .unwrap();
    for field in ["actor", "event_name", "id", "entry_metadata", "team_id", "timestamp"] {
        assert!(event.get(field).is_some(), "{field} missing in {event}");
    }
    let meta = &event["entry_metadata"];
    assert_eq!(meta["ip_address"], "127.0.0.1");
    assert_eq!(meta["member_id"], id.to_string());
    assert_eq!(
        meta["token_hash"],
        roster::auth::hash_token(&app.token),
        "the token's hash, never the token"
    );
    assert!(!event.to_string().contains(&app.token));
    assert_eq!(meta["old_role"], "VIEWER");
    assert_eq!(event["team_id"], app.org.to_string());

    // A window after everything is empty; a bad or reversed range is 400.
    let later = (roster::domain::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let (status, empty) = app.send(app.get(&logs).query(&[("from", later.as_str())])).await;
    assert_eq!((status, empty), (StatusCode::OK, json!([])));
    for query in [
        vec![("from", "2026-02-01"), ("to", "2026-01-01")],
        vec![("from", "last tuesday")],
        vec![("to", "2026-13-45")],
    ] {
        let (status, body) = app.send(app.get(&logs).query(&query)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {body}");
    }
    let (_, headers, _) = app.list("").await;
    assert!(headers.contains_key("x-total-count"));
    // Reads are audited too.
    let mut conn = app.db.get().unwrap();
    let all = storage::list_audit_events(
        &mut conn,
        app.org,
        &roster::storage::AuditQuery {
            member_id: None,
            from: None,
            to: None,
            offset: 0,
            limit: 1000,
        },
    )
    .unwrap()
    .0;
    assert!(all.iter().any(|e| e.event_name == "team.list"));
    assert!(all.iter().any(|e| e.event_name == "audit_log.list"));
}

/// Reads at once, each audited: every answer comes back only with its own audit row committed,
/// although the rows share transactions (see `storage::group_commit`).
async fn concurrent_reads_each_keep_their_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.invited(&format!("read{i}@example.com"), "VIEWER").await);
    }
    let reads = (0..48).map(|i| {
        let request = app
            .get(&format!("/api/v1/team/{}/", ids[i % ids.len()]))
            .header("user-agent", format!("reader-{i}"));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(reads).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    let mut agents: Vec<String> = ids
        .iter()
        .flat_map(|id| app.events(app.org, *id))
        .filter(|e| e.event_name == "team_member.get")
        .filter_map(|e| e.user_agent)
        .collect();
    agents.sort();
    let mut expected: Vec<String> = (0..48).map(|i| format!("reader-{i}")).collect();
    expected.sort();
    assert_eq!(agents, expected);
}

async fn permission_matrix(backend: Backend) {
    let app = spawn_app(backend).await;
    let target = app.invited("target@example.com", "VIEWER").await;
    let read = create_token(&app.db, &app.signer, app.org, &[Scope::TeamRead]);
    let write = create_token(&app.db, &app.signer, app.org, &[Scope::TeamWrite]);
    let scim = create_token(&app.db, &app.signer, app.org, &[Scope::Scim]);
    let audit = create_token(&app.db, &app.signer, app.org, &[Scope::AuditRead]);
    let (viewer_id, viewer) = app.member_with_token("viewer@example.com", "VIEWER").await;
    let (_, nta) = app
        .member_with_token("nta@example.com", "NON_TRANSACTIONAL_ADMIN")
        .await;
    let (admin_id, admin) = app.member_with_token("admin@example.com", "ADMINISTRATOR").await;
    let target_path = format!("/api/v1/team/{target}/");
    let logs = format!("/api/v1/team/members/{target}/audit-logs/");

    let can = |status: StatusCode| status.is_success();
    // (token, may list, may invite a VIEWER, may invite an ADMINISTRATOR, may read audit logs)
    let cases = [
        ("team:read", &read, true, false, false, false),
        ("team:write", &write, true, true, false, false),
        ("scim", &scim, false, false, false, false),
        ("audit:read", &audit, false, false, false, true),
        ("VIEWER", &viewer, false, false, false, false),
        ("NON_TRANSACTIONAL_ADMIN", &nta, true, true, false, true),
        ("ADMINISTRATOR", &admin, true, true, true, true),
    ];
    for (i, (who, token, list, invite, invite_admin, read_audit)) in cases.into_iter().enumerate() {
        let (status, _) = app.call(Method::GET, "/api/v1/team/", token, None).await;
        assert_eq!(can(status), list, "{who} listing: {status}");
        let (status, body) = app.invite(token, &format!("v{i}@example.com"), None, "VIEWER").await;
        assert_eq!(can(status), invite, "{who} inviting: {status} {body}");
        if !invite {
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
            assert_eq!(body["code"], "forbidden");
        }
        let (status, _) = app
            .invite(token, &format!("a{i}@example.com"), None, "ADMINISTRATOR")
            .await;
        assert_eq!(can(status), invite_admin, "{who} inviting an ADMINISTRATOR: {status}");
        let (status, _) = app.call(Method::GET, &logs, token, None).await;
        assert_eq!(can(status), read_audit, "{who} reading audit logs: {status}");
    }
    // Anyone may read their own record, not others'.
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/team/{viewer_id}/"), &viewer, None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.call(Method::GET, &target_path, &viewer, None).await.0,
        StatusCode::FORBIDDEN
    );
    // A non-transactional admin cannot change or deactivate an ADMINISTRATOR, nor make one.
    let admin_path = format!("/api/v1/team/{admin_id}/");
    assert_eq!(
        app.call(Method::PUT, &admin_path, &nta, Some(json!({"role": "VIEWER"})))
            .await
            .0,
        403
    );
    assert_eq!(app.call(Method::DELETE, &admin_path, &nta, None).await.0, 403);
    app.accept(app.org, target);
    assert_eq!(
        app.call(Method::PUT, &target_path, &nta, Some(json!({"role": "ADMINISTRATOR"})))
            .await
            .0,
        403
    );
    assert_eq!(
        app.call(
            Method::PUT,
            &target_path,
            &admin,
            Some(json!({"role": "ADMINISTRATOR"}))
        )
        .await
        .0,
        200
    );
}

async fn the_last_administrator_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.member_with_token("only.admin@example.com", "ADMINISTRATOR").await;
    let path = format!("/api/v1/team/{admin_id}/");
    let (status, body) = app
        .call(Method::PUT, &path, &admin, Some(json!({"role": "VIEWER"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("last active ADMINISTRATOR"));
    assert_eq!(
        app.call(Method::DELETE, &path, &app.token, None).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.call(Method::PUT, &path, &app.token, Some(json!({"status": "INACTIVE"})))
            .await
            .0,
        StatusCode::CONFLICT
    );
    // With a second administrator, the first may step down.
    let second = app.invited("second.admin@example.com", "ADMINISTRATOR").await;
    assert_eq!(
        app.call(Method::DELETE, &path, &app.token, None).await.0,
        StatusCode::CONFLICT,
        "a PENDING one does not count"
    );
    app.accept(app.org, second);
    let (status, body) = app
        .call(Method::PUT, &path, &admin, Some(json!({"role": "VIEWER"})))
        .await;
    assert_eq!((status, body["role"].as_str()), (StatusCode::OK, Some("VIEWER")));
}

async fn another_organizations_members_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = create_org(&app.db, "Other");
    let other_token = create_token(&app.db, &app.signer, other, &Scope::ALL);
    let (status, body) = app.invite(&other_token, "theirs@other.com", None, "VIEWER").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let theirs = body["member_id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/team/{theirs}/"), None),
        (
            Method::PUT,
            format!("/api/v1/team/{theirs}/"),
            Some(json!({"role": "CHECKER"})),
        ),
        (Method::DELETE, format!("/api/v1/team/{theirs}/"), None),
        (Method::POST, format!("/api/v1/team/{theirs}/invite/"), None),
        (Method::DELETE, format!("/api/v1/team/{theirs}/invite/"), None),
        (Method::GET, format!("/api/v1/team/members/{theirs}/audit-logs/"), None),
        (Method::GET, "/api/v1/team/not-a-uuid/".to_owned(), None),
    ] {
        let (status, answer) = app.call(method.clone(), &path, &app.token, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "not_found");
    }
    assert_eq!(app.list("").await.2, json!([]), "A's list does not show B's member");
    // The same e-mail may be invited in A: uniqueness is per organization.
    assert_eq!(
        app.invite(&app.token, "theirs@other.com", None, "VIEWER").await.0,
        StatusCode::CREATED
    );
    // And B's member is untouched.
    let (_, member) = app
        .call(Method::GET, &format!("/api/v1/team/{theirs}/"), &other_token, None)
        .await;
    assert_eq!(
        (member["status"].as_str(), member["role"].as_str()),
        (Some("PENDING"), Some("VIEWER"))
    );
}

async fn suspend_block_and_activate(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, token) = app.member_with_token("lifecycle@example.com", "CHECKER").await;
    let path = |action: &str| format!("/api/v1/team/{id}/{action}/");
    let (status, m) = app
        .call(
            Method::POST,
            &path("suspend"),
            &app.token,
            Some(json!({"reason": "on leave"})),
        )
        .await;
    assert_eq!(
        (status, m["status"].as_str(), m["status_reason"].as_str()),
        (StatusCode::OK, Some("SUSPENDED"), Some("on leave"))
    );
    // Their token stops working at once.
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/team/{id}/"), &token, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = app.call(Method::POST, &path("suspend"), &app.token, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, m) = app.call(Method::POST, &path("activate"), &app.token, None).await;
    assert_eq!((status, m["status"].as_str()), (StatusCode::OK, Some("ACTIVE")));
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/team/{id}/"), &token, None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = app.call(Method::POST, &path("activate"), &app.token, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["message"].as_str().unwrap().contains("already ACTIVE"));
    let (status, m) = app
        .call(
            Method::POST,
            &path("block"),
            &app.token,
            Some(json!({"reason": "compromised"})),
        )
        .await;
    assert_eq!((status, m["status"].as_str()), (StatusCode::OK, Some("BLOCKED")));
    // A blocked member stays blocked whatever an IdP sends, and SCIM says so.
    let scim = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .header("accept", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": true}]}).to_string())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(scim["active"], false);
    assert_eq!(
        scim["urn:ietf:params:scim:schemas:extension:roster:2.0:User"]["status"],
        "BLOCKED"
    );
    let names: Vec<String> = app.events(app.org, id).into_iter().map(|e| e.event_name).collect();
    for expected in ["team_member.suspend", "team_member.activate", "team_member.block"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    // A pending member, a malformed body, an ADMINISTRATOR changed by a non-transactional admin.
    let pending = app.invited("not.yet@example.com", "VIEWER").await;
    assert_eq!(
        app.call(
            Method::POST,
            &format!("/api/v1/team/{pending}/suspend/"),
            &app.token,
            None
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let raw = app
        .client
        .post(app.url(&path("block")))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let (admin, _) = app
        .member_with_token("only.admin.lc@example.com", "ADMINISTRATOR")
        .await;
    let (_, nta) = app
        .member_with_token("nta.lc@example.com", "NON_TRANSACTIONAL_ADMIN")
        .await;
    assert_eq!(
        app.call(Method::POST, &format!("/api/v1/team/{admin}/suspend/"), &nta, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // The last active ADMINISTRATOR cannot be suspended or blocked.
    let (status, body) = app
        .call(Method::POST, &format!("/api/v1/team/{admin}/block/"), &app.token, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, member) = app
        .call(Method::GET, "/api/v1/team/?status=BLOCKED", &app.token, None)
        .await;
    assert_eq!(member.as_array().unwrap().len(), 1);
}

async fn groups_through_the_native_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.invited("g.a@example.com", "VIEWER").await;
    let b = app.invited("g.b@example.com", "VIEWER").await;
    let (status, group) = app
        .call(
            Method::POST,
            "/api/v1/groups/",
            &app.token,
            Some(json!({"name": "Traders", "role": "MARKET", "member_ids": [a]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(
        (group["role"].as_str(), group["member_ids"].as_array().unwrap().len()),
        (Some("MARKET"), 1)
    );
    let gid = group["group_id"].as_str().unwrap().to_owned();
    let role_of = |m: Value| m["role"].as_str().unwrap().to_owned();
    assert_eq!(
        role_of(
            app.call(Method::GET, &format!("/api/v1/team/{a}/"), &app.token, None)
                .await
                .1
        ),
        "MARKET"
    );
    // Several at once, all or none: an unknown id refuses the whole request.
    let (status, err) = app
        .call(
            Method::POST,
            &format!("/api/v1/groups/{gid}/members/"),
            &app.token,
            Some(json!({"member_ids": [b, "00000000-0000-0000-0000-000000000000"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        role_of(
            app.call(Method::GET, &format!("/api/v1/team/{b}/"), &app.token, None)
                .await
                .1
        ),
        "VIEWER"
    );
    let (status, group) = app
        .call(
            Method::POST,
            &format!("/api/v1/groups/{gid}/members/"),
            &app.token,
            Some(json!({"member_ids": [b]})),
        )
        .await;
    assert_eq!(
        (status, group["member_ids"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    assert_eq!(
        role_of(
            app.call(Method::GET, &format!("/api/v1/team/{b}/"), &app.token, None)
                .await
                .1
        ),
        "MARKET"
    );
    let (_, group) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/groups/{gid}/members/"),
            &app.token,
            Some(json!({"member_ids": [a]})),
        )
        .await;
    assert_eq!(group["member_ids"], json!([b.to_string()]));
    assert_eq!(
        role_of(
            app.call(Method::GET, &format!("/api/v1/team/{a}/"), &app.token, None)
                .await
                .1
        ),
        "VIEWER"
    );
    // Rename, list, read through SCIM too (one model, two doors), delete.
    let (_, renamed) = app
        .call(
            Method::PUT,
            &format!("/api/v1/groups/{gid}/"),
            &app.token,
            Some(json!({"name": "Desk"})),
        )
        .await;
    assert_eq!(renamed["name"], "Desk");
    let list = app.get("/api/v1/groups/").send().await.unwrap();
    assert_eq!(list.headers()["x-total-count"], "1");
    let scim: Value = app
        .client
        .get(app.url(&format!("/scim/v2/Groups/{gid}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scim["displayName"], "Desk");
    assert_eq!(
        scim["urn:ietf:params:scim:schemas:extension:roster:2.0:Group"]["role"],
        "MARKET"
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/groups/{gid}/"), &app.token, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        role_of(
            app.call(Method::GET, &format!("/api/v1/team/{b}/"), &app.token, None)
                .await
                .1
        ),
        "VIEWER"
    );
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/groups/{gid}/"), &app.token, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Permissions: reading needs team:read, an ADMINISTRATOR group needs an administrator.
    let reader = create_token(&app.db, &app.signer, app.org, &[Scope::TeamRead]);
    assert_eq!(
        app.call(Method::POST, "/api/v1/groups/", &reader, Some(json!({"name": "X"})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let writer = create_token(&app.db, &app.signer, app.org, &[Scope::TeamWrite]);
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/groups/",
            &writer,
            Some(json!({"name": "Admins", "role": "ADMINISTRATOR"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (_, admins) = app
        .call(
            Method::POST,
            "/api/v1/groups/",
            &app.token,
            Some(json!({"name": "Admins", "role": "ADMINISTRATOR"})),
        )
        .await;
    let admins_id = admins["group_id"].as_str().unwrap();
    assert_eq!(
        app.call(
            Method::POST,
            &format!("/api/v1/groups/{admins_id}/members/"),
            &writer,
            Some(json!({"member_ids": [a]}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // Another organization's group is not found.
    let other = create_org(&app.db, "Other");
    let theirs = create_token(&app.db, &app.signer, other, &Scope::ALL);
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/groups/{admins_id}/"), &theirs, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

async fn several_members_changed_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.invited("batch.a@example.com", "VIEWER").await;
    let b = app.invited("batch.b@example.com", "VIEWER").await;
    app.accept(app.org, a);
    app.accept(app.org, b);
    let (status, members) = app
        .call(
            Method::PUT,
            "/api/v1/team/",
            &app.token,
            Some(json!({"members": [{"member_id": a, "role": "CHECKER"}, {"member_id": b, "status": "INACTIVE"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert_eq!(
        (members[0]["role"].as_str(), members[1]["status"].as_str()),
        (Some("CHECKER"), Some("INACTIVE"))
    );
    // One bad item: nothing changes, and the answer names it.
    let (status, err) = app
        .call(
            Method::PUT,
            "/api/v1/team/",
            &app.token,
            Some(json!({"members": [{"member_id": a, "role": "MARKET"}, {"member_id": b, "status": "PENDING"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["details"][0]["field"], "members[1]");
    assert!(err["message"].as_str().unwrap().contains(&b.to_string()));
    let (_, still) = app
        .call(Method::GET, &format!("/api/v1/team/{a}/"), &app.token, None)
        .await;
    assert_eq!(still["role"], "CHECKER", "the first change was rolled back");
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/team/",
            &app.token,
            Some(json!({"members": [{"member_id": "00000000-0000-0000-0000-000000000000", "role": "MARKET"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::PUT, "/api/v1/team/", &app.token, Some(json!({"members": []})))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

both_backends!(
    several_members_changed_at_once,
    groups_through_the_native_api,
    suspend_block_and_activate,
    list_and_review_members,
    invite_then_find_then_watch_the_status,
    invitations_are_validated_and_unique,
    resend_an_invitation,
    cancel_an_invitation_then_confirm_absence,
    change_role_and_or_reactivate,
    deactivate_then_confirm_and_check_last_login,
    audit_logs_by_time_range,
    concurrent_reads_each_keep_their_audit_row,
    permission_matrix,
    the_last_administrator_stays,
    another_organizations_members_are_not_found,
);

async fn the_openapi_document_matches_the_router(backend: Backend) {
    let app = spawn_app(backend).await;
    // Readable without a token, like its rendered reference.
    let (status, doc) = app.send(app.client.get(app.url("/api/v1/openapi.json"))).await;
    assert_eq!(status, 200);
    let reference = app.client.get(app.url("/api/v1/reference")).send().await.unwrap();
    assert_eq!(reference.status(), 200);
    let reference = reference.text().await.unwrap();
    for needle in [
        "/api/v1/team/invite/",
        "/api/v1/invitations/{token}/accept",
        "invitation_expired",
        "schema-Member",
    ] {
        assert!(reference.contains(needle), "{needle} missing from the reference");
    }
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Member",
        "InviteRequest",
        "UpdateMemberRequest",
        "AuditEvent",
        "Error",
        "Role",
        "MemberStatus",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let roles: Vec<&str> = schemas["Role"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "VIEWER",
            "MARKET",
            "CHECKER",
            "NON_TRANSACTIONAL_ADMIN",
            "ADMINISTRATOR"
        ]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{member_id}", &MemberId::new().to_string())
                .replace("{token}", "no-such-token");
            let method: Method = method.to_uppercase().parse().unwrap();
            let (_, body) = app.call(method.clone(), &concrete, &app.token, Some(json!({}))).await;
            assert_ne!(
                body["message"], "endpoint not found",
                "{method} {path} is documented but not routed"
            );
        }
    }
    // 36 of seeds 000-003, 10 of the events (feed, webhooks, deliveries, ingestion, export), 1 for
    // agents' tokens, 2 for accepting an invitation.
    assert_eq!(operations, 49, "every native operation is documented");
}

both_backends!(the_openapi_document_matches_the_router);
