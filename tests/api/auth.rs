//! Bearer tokens on both doors: who gets in, and what the refusals look like.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster::auth::{SigningKey, TOKEN_PREFIX, TokenSigner};
use roster::domain::audit::AuditContext;
use roster::domain::{OrganizationId, Scope};
use roster::service::tokens;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, create_org, create_token, spawn_app};

async fn native_status(app: &TestApp, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url("/api/v1/token/"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn scim_status(app: &TestApp, token: &str) -> (u16, String, Value) {
    let response = app
        .client
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, response.json().await.unwrap())
}

/// Every refused token gets 401 in the native error shape and in the SCIM Error schema.
async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let (status, body) = native_status(app, Some(token)).await;
    assert_eq!(status, 401, "{why}: native door");
    assert_eq!(body["code"], "unauthorized", "{why}: {body}");
    let (status, content_type, body) = scim_status(app, token).await;
    assert_eq!(status, 401, "{why}: SCIM door");
    assert_eq!(content_type, "application/scim+json");
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{why}"
    );
    assert_eq!(body["status"], "401", "{why}: status is a string");
}

async fn a_valid_token_identifies_its_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = native_status(&app, Some(&app.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["team_id"], app.org.to_string());
    assert_eq!(body["scopes"].as_array().unwrap().len(), Scope::ALL.len());
}

async fn missing_and_malformed_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = native_status(&app, None).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("missing bearer token")));
    let response = app.client.get(app.url("/scim/v2/Users")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    for junk in ["garbage", "roster_", "roster_a.b.c", &app.token[TOKEN_PREFIX.len()..]] {
        assert_refused(&app, junk, junk).await;
    }
    let response = app
        .client
        .get(app.url("/api/v1/token/"))
        .header("Authorization", format!("Basic {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "only the Bearer scheme is accepted");
}

async fn revoked_tokens_are_refused_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = create_token(&app.db, &app.signer, app.org, &[Scope::Scim, Scope::TeamRead]);
    assert_eq!(native_status(&app, Some(&token)).await.0, 200);
    let id = app.signer.verify(&token).unwrap().jti.parse().unwrap();
    tokens::revoke_token(&app.db, app.org, id, &AuditContext::cli()).unwrap();
    assert_refused(&app, &token, "revoked").await;
    // The bootstrap-style admin token of the same organization still works.
    assert_eq!(native_status(&app, Some(&app.token)).await.0, 200);
}

async fn tokens_signed_elsewhere_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    // Same organization and a registered-looking id, but another key.
    let foreign = TokenSigner::new(&SigningKey::generate(), "roster");
    let issued = foreign
        .issue(
            app.org,
            &Scope::ALL,
            None,
            roster::domain::now(),
            chrono::Duration::days(1),
        )
        .unwrap();
    assert_refused(&app, &issued.token, "other key").await;

    // Right key, wrong audience: shares the server's key through the data dir's key file.
    let key = std::fs::read_to_string(app.test_db.dir.path().join("signing.key")).unwrap();
    let other_audience = TokenSigner::new(&SigningKey::from_config(&key).unwrap(), "another-service");
    let issued = other_audience
        .issue(
            app.org,
            &Scope::ALL,
            None,
            roster::domain::now(),
            chrono::Duration::days(1),
        )
        .unwrap();
    assert_refused(&app, &issued.token, "wrong audience").await;

    // Right key and audience, but never registered (no row for its jti).
    let same = TokenSigner::new(&SigningKey::from_config(&key).unwrap(), "roster");
    let unregistered = same
        .issue(
            app.org,
            &Scope::ALL,
            None,
            roster::domain::now(),
            chrono::Duration::days(1),
        )
        .unwrap();
    assert_refused(&app, &unregistered.token, "unregistered").await;

    // Right key, expired.
    let expired = same
        .issue(
            app.org,
            &Scope::ALL,
            None,
            roster::domain::now() - chrono::Duration::days(2),
            chrono::Duration::days(1),
        )
        .unwrap();
    assert_refused(&app, &expired.token, "expired").await;
}

async fn alg_none_and_tampered_claims_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = create_token(&app.db, &app.signer, app.org, &[Scope::TeamRead]);
    let jwt = token.strip_prefix(TOKEN_PREFIX).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    assert_refused(&app, &format!("{TOKEN_PREFIX}{none_header}.{}.", parts[1]), "alg none").await;

    // Escalating scopes in the payload breaks the signature.
    claims["scope"] = "scim team:read team:write org:admin".into();
    let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_refused(
        &app,
        &format!("{TOKEN_PREFIX}{}.{forged}.{}", parts[0], parts[2]),
        "tampered",
    )
    .await;
}

async fn the_scim_door_needs_the_scim_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = create_token(&app.db, &app.signer, app.org, &[Scope::TeamRead]);
    let (status, content_type, body) = scim_status(&app, &token).await;
    assert_eq!(status, 403);
    assert_eq!(content_type, "application/scim+json");
    assert_eq!(body["status"], "403");
}

/// The SCIM door checks a token's registry entry inside each handler's own database call: every
/// route, reads and writes, discovery, Bulk and unknown paths alike, refuses a revoked token, and
/// a token without the `scim` scope, before anything is read or written.
async fn every_scim_route_checks_the_registry(backend: Backend) {
    let app = spawn_app(backend).await;
    let revoked = create_token(&app.db, &app.signer, app.org, &[Scope::Scim]);
    let id = app.signer.verify(&revoked).unwrap().jti.parse().unwrap();
    tokens::revoke_token(&app.db, app.org, id, &AuditContext::cli()).unwrap();
    let unscoped = create_token(&app.db, &app.signer, app.org, &[Scope::TeamRead, Scope::TeamWrite]);
    let user =
        serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ghost@example.com"});
    let group =
        serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ghosts"});
    let patch = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]});
    let search = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let bulk = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "g", "data": user.clone()}]});
    let some_id = roster::domain::MemberId::new().to_string();
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, "/ServiceProviderConfig".into(), None),
        (reqwest::Method::GET, "/ResourceTypes".into(), None),
        (reqwest::Method::GET, "/ResourceTypes/User".into(), None),
        (reqwest::Method::GET, "/Schemas".into(), None),
        (
            reqwest::Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User".into(),
            None,
        ),
        (reqwest::Method::POST, "/Schemas".into(), Some(search.clone())),
        (reqwest::Method::GET, "/Users".into(), None),
        (reqwest::Method::POST, "/Users".into(), Some(user.clone())),
        (reqwest::Method::POST, "/Users/.search".into(), Some(search.clone())),
        (reqwest::Method::GET, format!("/Users/{some_id}"), None),
        (reqwest::Method::PUT, format!("/Users/{some_id}"), Some(user.clone())),
        (reqwest::Method::PATCH, format!("/Users/{some_id}"), Some(patch.clone())),
        (reqwest::Method::DELETE, format!("/Users/{some_id}"), None),
        (reqwest::Method::GET, "/Groups".into(), None),
        (reqwest::Method::POST, "/Groups".into(), Some(group.clone())),
        (reqwest::Method::POST, "/Groups/.search".into(), Some(search.clone())),
        (reqwest::Method::GET, format!("/Groups/{some_id}"), None),
        (reqwest::Method::PUT, format!("/Groups/{some_id}"), Some(group.clone())),
        (
            reqwest::Method::PATCH,
            format!("/Groups/{some_id}"),
            Some(patch.clone()),
        ),
        (reqwest::Method::DELETE, format!("/Groups/{some_id}"), None),
        (reqwest::Method::POST, "/.search".into(), Some(search.clone())),
        (reqwest::Method::POST, "/Bulk".into(), Some(bulk.clone())),
        (reqwest::Method::GET, "/NoSuchThing".into(), None),
    ];
    for (token, expected) in [(&revoked, 401), (&unscoped, 403)] {
        for (method, path, body) in &routes {
            let mut request = app
                .client
                .request(method.clone(), app.url(&format!("/scim/v2{path}")))
                .bearer_auth(token)
                .header("content-type", "application/scim+json");
            if let Some(body) = body {
                request = request.body(body.to_string());
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), expected, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], expected.to_string(), "{method} {path}: {body}");
        }
    }
    let page = roster::storage::list_members(
        &mut app.db.get().unwrap(),
        app.org,
        &roster::storage::MemberFilter::default(),
        0,
        10,
    )
    .unwrap();
    assert_eq!(page.1, 0, "nothing was written");
}

async fn a_token_names_only_its_own_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = create_org(&app.db, "Other");
    let token_b = create_token(&app.db, &app.signer, other, &[Scope::TeamRead]);
    let (_, body) = native_status(&app, Some(&token_b)).await;
    assert_eq!(body["team_id"], other.to_string());
    // A token of B's presented with A's id in its claims cannot be made without the key; and B's
    // token id looked up under A does not exist.
    let b_id = app.signer.verify(&token_b).unwrap().jti.parse().unwrap();
    let mut conn = app.db.get().unwrap();
    assert!(matches!(
        roster::storage::find_token(&mut conn, app.org, b_id),
        Err(roster::storage::StorageError::NotFound)
    ));
    let unknown_org = OrganizationId::new();
    assert!(roster::storage::find_token(&mut conn, unknown_org, b_id).is_err());
}

both_backends!(
    a_valid_token_identifies_its_organization,
    missing_and_malformed_tokens_are_refused,
    revoked_tokens_are_refused_at_once,
    tokens_signed_elsewhere_are_refused,
    alg_none_and_tampered_claims_are_refused,
    the_scim_door_needs_the_scim_scope,
    every_scim_route_checks_the_registry,
    a_token_names_only_its_own_organization,
);
