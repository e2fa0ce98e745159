//! Seed 002's organizations: a person's organizations across tenants, create, rename, delete with
//! confirmation, leave, the caller's role, the summary, and people added, changed and removed in
//! all-or-nothing batches; with cross-organization isolation throughout.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use roster::domain::audit::AuditContext;
use roster::domain::{MemberId, MemberStatus, OrganizationId, UserId};
use roster::service::tokens;
use roster::storage::{self, MemberChanges, UserRow};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, create_org, create_token, spawn_app};

/// A registered person: a member of some organization, with a token acting as them.
struct Person {
    member_id: MemberId,
    user_id: UserId,
    token: String,
}

impl TestApp {
    async fn org_call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Invites `email` into `org` (with an integration token of it) and registers the person, as
    /// accepting the invitation does: a `users` row, the member ACTIVE with its `user_id`.
    async fn person_in(&self, org: OrganizationId, org_token: &str, email: &str, role: &str) -> Person {
        let (status, member) = self
            .org_call(
                Method::POST,
                "/api/v1/team/invite/",
                org_token,
                Some(json!({"first_name": "Pat", "last_name": email.split('@').next().unwrap(), "email": email, "role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        let member_id: MemberId = member["member_id"].as_str().unwrap().parse().unwrap();
        let user_id = UserId::new();
        let now = roster::domain::now();
        let mut conn = self.db.get().unwrap();
        storage::insert_user(
            &mut conn,
            &UserRow {
                id: user_id.to_string(),
                email: email.to_owned(),
                email_ci: email.to_lowercase(),
                first_name: Some("Pat".into()),
                last_name: Some(email.split('@').next().unwrap().into()),
                created_at: now,
                verified_at: Some(now),
            },
        )
        .unwrap();
        let changes = MemberChanges {
            user_id: Some(Some(user_id.to_string())),
            status: Some(MemberStatus::Active.as_str().to_owned()),
            verified_at: Some(Some(now)),
            ..MemberChanges::default()
        };
        storage::update_member(&mut conn, org, member_id, &changes, now).unwrap();
        drop(conn);
        let token = tokens::create_token(
            &self.db,
            &self.signer,
            tokens::CreateToken {
                organization_id: org,
                name: "person",
                scopes: &[],
                member_id: Some(member_id),
                ttl: chrono::Duration::days(1),
            },
            &AuditContext::cli(),
        )
        .unwrap()
        .token;
        Person {
            member_id,
            user_id,
            token,
        }
    }

    async fn person(&self, email: &str, role: &str) -> Person {
        self.person_in(self.org, &self.token.clone(), email, role).await
    }

    /// `person` creates an organization and gets it back.
    async fn new_organization(&self, person: &Person, name: &str) -> (OrganizationId, Value) {
        let (status, body) = self
            .org_call(
                Method::POST,
                "/api/v1/organizations/",
                &person.token,
                Some(json!({"organization_name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["id"].as_str().unwrap().parse().unwrap(), body)
    }

    async fn organization_names(&self, token: &str) -> Vec<String> {
        let (status, list) = self.org_call(Method::GET, "/api/v1/organizations/", token, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .map(|o| o["organization_name"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn users_of(&self, org: OrganizationId, token: &str, query: &str) -> Value {
        let (status, page) = self
            .org_call(
                Method::GET,
                &format!("/api/v1/organizations/{org}/users/{query}"),
                token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    }

    fn event_names_of(&self, org: OrganizationId) -> Vec<String> {
        let query = storage::AuditQuery {
            member_id: None,
            from: None,
            to: None,
            offset: 0,
            limit: 10_000,
        };
        storage::list_audit_events(&mut self.db.get().unwrap(), org, &query)
            .unwrap()
            .0
            .into_iter()
            .map(|e| e.event_name)
            .collect()
    }
}

fn emails_of(page: &Value) -> Vec<&str> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect()
}

both_backends!(
    accepting_invitations_makes_one_person_of_several_memberships,
    strangers_are_invited_not_added,
    a_person_creates_renames_and_switches_organizations,
    people_are_added_changed_and_removed_all_or_nothing,
    leaving_an_organization,
    the_summary_counts_what_is_there,
    deleting_an_organization_needs_confirmation_and_keeps_the_audit,
    other_organizations_stay_invisible,
);

/// Waits for the file mailer's next `.eml` beyond the `seen` ones and returns the acceptance token in it.
async fn next_invitation_token(app: &TestApp, seen: &mut Vec<std::path::PathBuf>) -> String {
    crate::smtp::token_in(&crate::helpers::next_mail(app, seen).await)
}

async fn accepting_invitations_makes_one_person_of_several_memberships(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = create_org(&app.db, "Other tenant");
    let other_token = create_token(&app.db, &app.signer, other, &roster::domain::Scope::ALL);
    let mut seen = Vec::new();
    let mut members = Vec::new();
    for (org_token, role) in [(app.token.clone(), "CHECKER"), (other_token.clone(), "MARKET")] {
        let (status, member) = app
            .org_call(
                Method::POST,
                "/api/v1/team/invite/",
                &org_token,
                Some(json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        let token = next_invitation_token(&app, &mut seen).await;
        let response = app
            .client
            .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let accepted: Value = response.json().await.unwrap();
        members.push(accepted);
    }
    let user_id = members[0]["user_id"].as_str().unwrap();
    assert_eq!(members[1]["user_id"], user_id, "the same person, registered once");
    let token = tokens::create_token(
        &app.db,
        &app.signer,
        tokens::CreateToken {
            organization_id: app.org,
            name: "ada",
            scopes: &[],
            member_id: Some(members[0]["member_id"].as_str().unwrap().parse().unwrap()),
            ttl: chrono::Duration::days(1),
        },
        &AuditContext::cli(),
    )
    .unwrap()
    .token;
    let (_, me) = app.org_call(Method::GET, "/api/v1/token/", &token, None).await;
    assert_eq!(me["user_id"], user_id, "a member token names the person behind it");
    let (_, list) = app.org_call(Method::GET, "/api/v1/organizations/", &token, None).await;
    let roles: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["organization_name"].as_str().unwrap(), o["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![("Test organization", "CHECKER"), ("Other tenant", "MARKET")]
    );
    let (status, _) = app
        .org_call(
            Method::GET,
            &format!("/api/v1/organizations/{other}/role/"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_person_creates_renames_and_switches_organizations(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "CHECKER").await;
    assert_eq!(app.organization_names(&pat.token).await, vec!["Test organization"]);

    let (org, created) = app.new_organization(&pat, "  SajMix inc ").await;
    assert_eq!(created["organization_name"], "SajMix inc");
    assert_eq!(
        (created["role"].as_str(), created["status"].as_str()),
        (Some("ADMINISTRATOR"), Some("ACTIVE"))
    );
    assert_eq!(
        app.organization_names(&pat.token).await,
        vec!["Test organization", "SajMix inc"],
        "one person, two organizations, one role in each"
    );
    let (_, list) = app
        .org_call(Method::GET, "/api/v1/organizations/", &pat.token, None)
        .await;
    assert_eq!(list[0]["role"], "CHECKER");
    assert_eq!(list[1]["role"], "ADMINISTRATOR");

    // The caller's role, read with the token of the first organization.
    let (status, role) = app
        .org_call(
            Method::GET,
            &format!("/api/v1/organizations/{org}/role/"),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{role}");
    assert_eq!(role["role"], "ADMINISTRATOR");
    let (_, role_home) = app
        .org_call(
            Method::GET,
            &format!("/api/v1/organizations/{}/role", app.org),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(role_home["role"], "CHECKER");
    let (_, integration_role) = app
        .org_call(
            Method::GET,
            &format!("/api/v1/organizations/{}/role/", app.org),
            &app.token,
            None,
        )
        .await;
    assert_eq!(integration_role["role"], Value::Null, "an integration acts by scopes");
    assert!(integration_role["scopes"].as_array().unwrap().len() > 1);

    // Rename: the ADMINISTRATOR may, a CHECKER may not; audited in the organization renamed.
    let (status, renamed) = app
        .org_call(
            Method::PUT,
            &format!("/api/v1/organizations/{org}/"),
            &pat.token,
            Some(json!({"id": org, "organization_name": "SajMix"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["organization_name"], "SajMix");
    let (status, _) = app
        .org_call(
            Method::PUT,
            &format!("/api/v1/organizations/{}/", app.org),
            &pat.token,
            Some(json!({"organization_name": "Mine now"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a CHECKER does not rename its organization"
    );
    for (body, why) in [
        (json!({"organization_name": "  "}), "empty name"),
        (json!({"organization_name": "x".repeat(201)}), "too long"),
        (
            json!({"organization_name": "X", "id": app.org}),
            "id of another organization",
        ),
        (json!({"organization_name": "X", "colour": "red"}), "unknown field"),
    ] {
        let (status, err) = app
            .org_call(
                Method::PUT,
                &format!("/api/v1/organizations/{org}/"),
                &pat.token,
                Some(body),
            )
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{why}: {status} {err}"
        );
        assert!(err["code"].is_string(), "{why}: the native error shape");
    }
    let events = app.event_names_of(org);
    for expected in ["team.create", "team_member.add", "team.modify"] {
        assert!(events.iter().any(|e| e == expected), "{expected} in {events:?}");
    }

    // An integration token cannot create organizations (there is no person to administer them)
    // and only ever sees its own.
    let (status, err) = app
        .org_call(
            Method::POST,
            "/api/v1/organizations/",
            &app.token,
            Some(json!({"organization_name": "Nobody's"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(app.organization_names(&app.token).await, vec!["Test organization"]);

    // A session token for the new organization opens its team and group endpoints.
    let (status, session) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/token/"),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let session_token = session["token"].as_str().unwrap();
    let (status, team) = app.org_call(Method::GET, "/api/v1/team/", session_token, None).await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team.as_array().unwrap().len(), 1);
    assert_eq!(team[0]["user_id"], pat.user_id.to_string());
    assert_eq!(team[0]["role"], "ADMINISTRATOR");
    assert_eq!(team[0]["team_id"], org.to_string());
    assert!(team[0]["verified_at"].is_string(), "a registered person is verified");
    let (status, _) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/token/"),
            &app.token,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an integration token of another organization"
    );
    let (status, _) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{}/token/", app.org),
            &app.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an integration token is no person");
}

async fn people_are_added_changed_and_removed_all_or_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "VIEWER").await;
    let quinn = app.person("quinn@example.com", "VIEWER").await;
    let robin = app.person("robin@example.com", "VIEWER").await;
    let sam = app.person("sam@example.com", "VIEWER").await;
    let (org, _) = app.new_organization(&pat, "Second").await;
    let path = format!("/api/v1/organizations/{org}/users/");
    let nobody = UserId::new();

    // Add two people at once, as an array; they are ACTIVE with the role given.
    let (status, added) = app
        .org_call(
            Method::POST,
            &path,
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id, robin.user_id], "role": "CHECKER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let added = added.as_array().unwrap();
    assert_eq!(added.len(), 2);
    for m in added {
        assert_eq!(
            (m["role"].as_str(), m["status"].as_str()),
            (Some("CHECKER"), Some("ACTIVE"))
        );
        assert_eq!(m["team_id"], org.to_string());
    }
    assert_ne!(
        added[0]["member_id"],
        quinn.member_id.to_string(),
        "a member per organization"
    );

    // One bad id refuses the whole batch, and names the item and why.
    let (status, err) = app
        .org_call(
            Method::POST,
            &path,
            &pat.token,
            Some(json!({"user_ids": format!("{},{nobody}", sam.user_id), "role": "VIEWER", "is_active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["details"][0]["field"], "user_ids[1]", "{err}");
    assert!(err["message"].as_str().unwrap().contains(&nobody.to_string()), "{err}");
    let (status, err) = app
        .org_call(
            Method::POST,
            &path,
            &pat.token,
            Some(json!({"user_ids": [sam.user_id, quinn.user_id], "role": "VIEWER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "quinn is already a member: {err}");
    assert_eq!(err["details"][0]["field"], "user_ids[1]");
    let page = app.users_of(org, &pat.token, "").await;
    assert_eq!(
        page["total_count"], 3,
        "sam was not added by either refused batch: {page}"
    );
    for (body, why) in [
        (json!({"user_ids": [], "role": "VIEWER", "is_active": true}), "no ids"),
        (
            json!({"user_ids": ["not-an-id"], "role": "VIEWER", "is_active": true}),
            "a malformed id",
        ),
        (
            json!({"user_ids": [sam.user_id, sam.user_id], "role": "VIEWER", "is_active": true}),
            "the same id twice",
        ),
        (
            json!({"user_ids": [sam.user_id], "role": "OWNER", "is_active": true}),
            "an unknown role",
        ),
        (json!({"user_ids": [sam.user_id], "is_active": true}), "no role"),
        (json!({"user_ids": [sam.user_id], "role": "VIEWER"}), "no active flag"),
    ] {
        let (status, err) = app.org_call(Method::POST, &path, &pat.token, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {err}");
    }

    // Sam joins inactive.
    let (status, added) = app
        .org_call(
            Method::POST,
            &path,
            &pat.token,
            Some(json!({"user_ids": [sam.user_id], "role": "MARKET", "is_active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added[0]["status"], "INACTIVE");
    assert!(added[0]["deactivated_date"].is_string());

    // Paged from 0, sorted by a named field either way.
    let page = app
        .users_of(
            org,
            &pat.token,
            "?page_number=0&page_size=2&sort_by=email&sort_ascending=false",
        )
        .await;
    assert_eq!(emails_of(&page), vec!["sam@example.com", "robin@example.com"]);
    assert_eq!(
        (page["total_count"].as_i64(), page["total_pages"].as_i64()),
        (Some(4), Some(2))
    );
    let page = app
        .users_of(
            org,
            &pat.token,
            "?page_number=1&page_size=2&sort_by=email&sort_ascending=false",
        )
        .await;
    assert_eq!(emails_of(&page), vec!["quinn@example.com", "pat@example.com"]);
    let page = app
        .users_of(org, &pat.token, "?sort_by=email&sort_ascending=true&page_size=1")
        .await;
    assert_eq!(emails_of(&page), vec!["pat@example.com"]);
    for query in ["?page_number=-1", "?page_size=0", "?sort_by=shoe_size", "?colour=red"] {
        let (status, err) = app
            .org_call(Method::GET, &format!("{path}{query}"), &pat.token, None)
            .await;
        assert!(status.is_client_error(), "{query}: {status} {err}");
    }

    // Update several at once; one refused change rolls back the others.
    let (status, err) = app
        .org_call(
            Method::PUT,
            &path,
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id, nobody], "role": "MARKET"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["details"][0]["field"], "user_ids[1]");
    let (status, updated) = app
        .org_call(
            Method::PUT,
            &path,
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id, robin.user_id], "role": "MARKET", "is_active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    for m in updated.as_array().unwrap() {
        assert_eq!(
            (m["role"].as_str(), m["status"].as_str()),
            (Some("MARKET"), Some("INACTIVE"))
        );
    }
    let page = app.users_of(org, &pat.token, "?sort_by=email").await;
    let quinn_row = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "quinn@example.com")
        .unwrap();
    assert_eq!(
        quinn_row["role"], "MARKET",
        "the refused batch left nothing behind either way"
    );
    let (status, updated) = app
        .org_call(
            Method::PUT,
            &path,
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id], "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated[0]["status"], "ACTIVE");

    // A non-administrator cannot change people.
    let (_, session) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/token/"),
            &quinn.token,
            None,
        )
        .await;
    let (status, _) = app
        .org_call(
            Method::POST,
            &path,
            &quinn.token,
            Some(json!({"user_ids": [sam.user_id], "role": "VIEWER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Remove several: one unknown id keeps everyone; then by query and by path.
    let (status, err) = app
        .org_call(
            Method::DELETE,
            &format!("{path}?user_ids={},{nobody}", quinn.user_id),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(app.users_of(org, &pat.token, "").await["total_count"], 4);
    let (status, _) = app
        .org_call(
            Method::DELETE,
            &format!("{path}?user_ids={}", quinn.user_id),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .org_call(
            Method::DELETE,
            &format!("{path}{},{}/", robin.user_id, sam.user_id),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let page = app.users_of(org, &pat.token, "").await;
    assert_eq!(emails_of(&page), vec!["pat@example.com"]);
    assert_eq!(app.organization_names(&quinn.token).await, vec!["Test organization"]);
    // Quinn's session token in the organization was revoked with the membership.
    let (status, _) = app
        .org_call(Method::GET, "/api/v1/token/", session["token"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Added again, the same member comes back (history kept), with the new role.
    let (status, back) = app
        .org_call(
            Method::POST,
            &path,
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id], "role": "VIEWER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{back}");
    assert_eq!(back[0]["member_id"], added_member(&updated, 0));
    assert_eq!(
        (back[0]["role"].as_str(), back[0]["status"].as_str()),
        (Some("VIEWER"), Some("ACTIVE"))
    );
    let (status, _) = app
        .org_call(Method::GET, "/api/v1/token/", session["token"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token stays revoked");

    let events = app.event_names_of(org);
    let count = |name: &str| events.iter().filter(|e| *e == name).count();
    assert_eq!(count("team_member.add"), 1 + 2 + 1 + 1, "{events:?}");
    assert_eq!(count("team_member.remove"), 3, "{events:?}");
    assert!(count("team_member.modify") >= 2 && count("team_member.deactivate") == 2);
}

fn added_member(list: &Value, i: usize) -> Value {
    list[i]["member_id"].clone()
}

async fn leaving_an_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "VIEWER").await;
    let quinn = app.person("quinn@example.com", "VIEWER").await;
    let (org, _) = app.new_organization(&pat, "Second").await;
    let leave = format!("/api/v1/organizations/{org}/leave/");

    let (status, err) = app.org_call(Method::POST, &leave, &pat.token, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "the last administrator stays: {err}");
    let (status, _) = app.org_call(Method::POST, &leave, &quinn.token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "quinn is not a member there");

    let (status, body) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/users/"),
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id], "role": "ADMINISTRATOR", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, session) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/token/"),
            &pat.token,
            None,
        )
        .await;
    let (status, _) = app.org_call(Method::POST, &leave, &pat.token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.organization_names(&pat.token).await, vec!["Test organization"]);
    let (status, _) = app
        .org_call(Method::GET, &format!("/api/v1/organizations/{org}/"), &pat.token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "gone from pat's view");
    let (status, _) = app
        .org_call(Method::GET, "/api/v1/team/", session["token"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "pat's token there stopped at once");
    // Quinn is now the only administrator, and pat's history is kept.
    let (status, left) = app.org_call(Method::POST, &leave, &quinn.token, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{left}");
    assert!(app.event_names_of(org).iter().any(|e| e == "team_member.leave"));
    let (status, err) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{}/leave/", app.org),
            &app.token,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an integration token is no member: {err}"
    );
}

async fn the_summary_counts_what_is_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "ADMINISTRATOR").await;
    let viewer = app.person("vera@example.com", "VIEWER").await;
    for email in ["p1@example.com", "p2@example.com", "p3@example.com"] {
        let (status, _) = app
            .org_call(
                Method::POST,
                "/api/v1/team/invite/",
                &app.token,
                Some(json!({"first_name": "P", "last_name": "Q", "email": email, "role": "MARKET"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // One invitation has run out.
    {
        use roster::storage::schema::invitations;
        let mut conn = app.db.get().unwrap();
        let id: String = invitations::table
            .filter(invitations::email.eq("p3@example.com"))
            .select(invitations::id)
            .first(&mut *conn)
            .unwrap();
        diesel::update(invitations::table.filter(invitations::id.eq(id)))
            .set(invitations::expires_at.eq(roster::domain::now() - chrono::Duration::hours(1)))
            .execute(&mut *conn)
            .unwrap();
    }
    let (status, _) = app
        .org_call(
            Method::DELETE,
            &format!("/api/v1/team/{}/", viewer.member_id),
            &app.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .org_call(
            Method::POST,
            "/api/v1/groups/",
            &app.token,
            Some(json!({"name": "Checkers", "role": "CHECKER"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .org_call(
            Method::POST,
            "/api/v1/groups/",
            &app.token,
            Some(json!({"name": "Plain"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let summary_path = format!("/api/v1/organizations/{}/summary/", app.org);
    let (status, summary) = app.org_call(Method::GET, &summary_path, &pat.token, None).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["members"]["total"], 5, "{summary}");
    assert_eq!(summary["members"]["by_status"]["ACTIVE"], 1);
    assert_eq!(summary["members"]["by_status"]["PENDING"], 3);
    assert_eq!(summary["members"]["by_status"]["INACTIVE"], 1);
    assert_eq!(summary["members"]["by_status"]["BLOCKED"], 0, "every status is listed");
    assert_eq!(summary["members"]["by_role"]["MARKET"], 3);
    assert_eq!(summary["members"]["by_role"]["ADMINISTRATOR"], 1);
    assert_eq!(summary["invitations"]["pending"], 2);
    assert_eq!(summary["invitations"]["expired"], 1);
    assert_eq!(summary["groups"]["total"], 2);
    assert_eq!(summary["groups"]["role_bound"], 1);
    assert_eq!(
        summary["last_provisioning_activity"],
        Value::Null,
        "no IdP has called yet"
    );

    // An identity provider provisions someone: the summary shows when.
    let response = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .json(
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "idp@example.com",
                      "emails": [{"value": "idp@example.com", "primary": true}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let (_, summary) = app.org_call(Method::GET, &summary_path, &pat.token, None).await;
    assert!(summary["last_provisioning_activity"].is_string(), "{summary}");
    assert_eq!(summary["members"]["total"], 6);

    // Reading the summary needs the team-read permission.
    let viewer2 = app.person("v2@example.com", "VIEWER").await;
    let (status, _) = app.org_call(Method::GET, &summary_path, &viewer2.token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(app.event_names_of(app.org).iter().any(|e| e == "team.summary"));
}

async fn deleting_an_organization_needs_confirmation_and_keeps_the_audit(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "VIEWER").await;
    let quinn = app.person("quinn@example.com", "VIEWER").await;
    let (org, _) = app.new_organization(&pat, "Doomed & Co").await;
    let (status, _) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/users/"),
            &pat.token,
            Some(json!({"user_ids": [quinn.user_id], "role": "CHECKER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Fill it through its own tokens: an invitation, a group, an integration token.
    let (_, session) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/token/"),
            &pat.token,
            None,
        )
        .await;
    let session = session["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .org_call(
            Method::POST,
            "/api/v1/team/invite/",
            &session,
            Some(json!({"first_name": "I", "last_name": "V", "email": "iv@example.com", "role": "VIEWER"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .org_call(
            Method::POST,
            "/api/v1/groups/",
            &session,
            Some(json!({"name": "Doomed group", "role": "MARKET"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let integration = create_token(&app.db, &app.signer, org, &[roster::domain::Scope::TeamRead]);

    let path = format!("/api/v1/organizations/{org}/");
    let (status, err) = app.org_call(Method::DELETE, &path, &pat.token, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"][0]["field"], "confirm");
    let (status, _) = app
        .org_call(Method::DELETE, &format!("{path}?confirm=Doomed"), &pat.token, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the wrong name");
    let (status, _) = app
        .org_call(
            Method::DELETE,
            &format!("{path}?confirm=Doomed%20%26%20Co"),
            &quinn.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a CHECKER does not delete");
    let (status, _) = app
        .org_call(
            Method::DELETE,
            &format!("{path}?confirm=Doomed%20%26%20Co"),
            &integration,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "team:read does not delete");
    assert_eq!(count_rows(&app, org), [3, 1, 1, 1, 2], "nothing deleted yet");

    let (status, body) = app
        .org_call(
            Method::DELETE,
            &format!("{path}?confirm=Doomed%20%26%20Co"),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(count_rows(&app, org), [0, 0, 0, 0, 0], "everything in it is gone");
    let (status, _) = app.org_call(Method::GET, &path, &pat.token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.organization_names(&quinn.token).await, vec!["Test organization"]);
    for token in [&session, &integration] {
        let (status, _) = app.org_call(Method::GET, "/api/v1/token/", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "its tokens went with it");
    }
    let events = app.event_names_of(org);
    assert_eq!(events.last().map(String::as_str), Some("team.delete"), "{events:?}");
    assert!(events.iter().any(|e| e == "team_member.invite"), "the history stays");
    // The people and their other organization are untouched.
    let page = app.users_of(app.org, &app.token, "").await;
    assert_eq!(page["total_count"], 2);
}

/// Members, groups, invitations, outbox e-mails and tokens of `org`.
fn count_rows(app: &TestApp, org: OrganizationId) -> [i64; 5] {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.get().unwrap();
    ["members", "member_groups", "invitations", "email_outbox", "api_tokens"].map(|table| {
        diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE organization_id = '{org}'"
        ))
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n
    })
}

async fn other_organizations_stay_invisible(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "ADMINISTRATOR").await;
    let (org, _) = app.new_organization(&pat, "Pat's").await;
    // Another tenant with its own administrator (a different person).
    let other = create_org(&app.db, "Other tenant");
    let other_token = create_token(&app.db, &app.signer, other, &roster::domain::Scope::ALL);
    let olga = app
        .person_in(other, &other_token, "olga@example.com", "ADMINISTRATOR")
        .await;

    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/organizations/{org}/"), None),
        (
            Method::PUT,
            format!("/api/v1/organizations/{org}/"),
            Some(json!({"organization_name": "Taken"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/organizations/{org}/?confirm=Pat%27s"),
            None,
        ),
        (Method::GET, format!("/api/v1/organizations/{org}/role/"), None),
        (Method::GET, format!("/api/v1/organizations/{org}/summary/"), None),
        (Method::GET, format!("/api/v1/organizations/{org}/users/"), None),
        (
            Method::POST,
            format!("/api/v1/organizations/{org}/users/"),
            Some(json!({"user_ids": [olga.user_id], "role": "ADMINISTRATOR", "is_active": true})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/organizations/{org}/users/?user_ids={}", pat.user_id),
            None,
        ),
        (Method::POST, format!("/api/v1/organizations/{org}/leave/"), None),
        (Method::POST, format!("/api/v1/organizations/{org}/token/"), None),
        (Method::GET, "/api/v1/organizations/not-an-id/".to_owned(), None),
    ];
    for token in [&olga.token, &other_token] {
        for (method, path, body) in &requests {
            let (status, err) = app.org_call(method.clone(), path, token, body.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {err}");
            assert_eq!(err["code"], "not_found");
        }
    }
    assert_eq!(app.organization_names(&olga.token).await, vec!["Other tenant"]);
    assert_eq!(
        app.organization_names(&pat.token).await,
        vec!["Test organization", "Pat's"]
    );

    // A person suspended in an organization cannot act there through another organization's token.
    let (_, session) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{org}/token/"),
            &pat.token,
            None,
        )
        .await;
    assert!(session["token"].is_string());
    let mut conn = app.db.get().unwrap();
    let member = storage::find_member_by_user(&mut conn, org, pat.user_id)
        .unwrap()
        .unwrap();
    let changes = MemberChanges {
        status: Some(MemberStatus::Suspended.as_str().to_owned()),
        ..MemberChanges::default()
    };
    storage::update_member(
        &mut conn,
        org,
        member.id.parse().unwrap(),
        &changes,
        roster::domain::now(),
    )
    .unwrap();
    drop(conn);
    let (status, _) = app
        .org_call(
            Method::GET,
            &format!("/api/v1/organizations/{org}/summary/"),
            &pat.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.organization_names(&pat.token).await,
        vec!["Test organization", "Pat's"],
        "still a member, listed with its status"
    );
    let (_, list) = app
        .org_call(Method::GET, "/api/v1/organizations/", &pat.token, None)
        .await;
    assert_eq!(list[1]["status"], "SUSPENDED");
}

/// Adding a registered person the caller shares no organization with (or adding anyone with an
/// integration token) invites them: PENDING, nothing of their profile shown, an e-mail to the
/// address they registered with; accepting shares the profile and makes them ACTIVE.
async fn strangers_are_invited_not_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let pat = app.person("pat@example.com", "VIEWER").await;
    let known = app.person("known@example.com", "VIEWER").await;
    let elsewhere = create_org(&app.db, "Elsewhere");
    let elsewhere_token = create_token(&app.db, &app.signer, elsewhere, &roster::domain::Scope::ALL);
    let zoe = app
        .person_in(elsewhere, &elsewhere_token, "zoe.private@example.com", "VIEWER")
        .await;
    let (org, _) = app.new_organization(&pat, "Second").await;
    let path = format!("/api/v1/organizations/{org}/users/");
    let mut seen = Vec::new();
    // The invitations of `person_in` went out earlier; skip their e-mails.
    for _ in 0..3 {
        next_invitation_token(&app, &mut seen).await;
    }

    let (status, added) = app
        .org_call(
            Method::POST,
            &path,
            &pat.token,
            Some(json!({"user_ids": [zoe.user_id, known.user_id], "role": "CHECKER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (stranger, acquaintance) = (&added[0], &added[1]);
    assert_eq!(stranger["status"], "PENDING", "{stranger}");
    for field in ["email", "first_name", "last_name", "phone_number"] {
        assert_eq!(stranger[field], Value::Null, "{field} must not be revealed: {stranger}");
    }
    assert!(!added.to_string().contains("zoe.private"), "{added}");
    assert_eq!(stranger["user_id"], zoe.user_id.to_string());
    assert!(
        matches!(stranger["invitation_status"].as_str(), Some("QUEUED" | "SENT")),
        "{stranger}"
    );
    assert_eq!(
        (acquaintance["status"].as_str(), acquaintance["email"].as_str()),
        (Some("ACTIVE"), Some("known@example.com")),
        "someone pat already shares an organization with joins at once"
    );
    // Neither the list nor a search gives the address away.
    let page = app.users_of(org, &pat.token, "").await;
    assert!(!page.to_string().contains("zoe.private"), "{page}");
    let events = app.event_names_of(org);
    assert!(events.contains(&"team_member.invite".to_owned()), "{events:?}");

    // The invitation goes to the address Zoe registered with; accepting shares her profile.
    let token = next_invitation_token(&app, &mut seen).await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(
        (
            accepted["status"].as_str(),
            accepted["email"].as_str(),
            accepted["first_name"].as_str()
        ),
        (Some("ACTIVE"), Some("zoe.private@example.com"), Some("Pat")),
        "{accepted}"
    );
    assert_eq!(accepted["user_id"], zoe.user_id.to_string(), "the same person");

    // An integration token knows nobody: even a member of its own organization elsewhere is invited.
    let (status, added) = app
        .org_call(
            Method::POST,
            &format!("/api/v1/organizations/{elsewhere}/users/"),
            &elsewhere_token,
            Some(json!({"user_ids": [known.user_id], "role": "VIEWER", "is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added[0]["status"], "PENDING");
    assert_eq!(added[0]["email"], Value::Null);
}
