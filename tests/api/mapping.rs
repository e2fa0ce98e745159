//! The mapping layer: the design's rule table through SCIM with native reads (and back), IdP
//! lifecycle replays, and group-to-role bindings.

use reqwest::{Method, StatusCode};
use roster::domain::{MemberId, MemberStatus};
use roster::storage::{self, MemberChanges};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, spawn_app, spawn_app_with};

const SCIM: &str = "application/scim+json";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ROSTER_USER: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:User";
const ROSTER_GROUP: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:Group";

impl TestApp {
    async fn s(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
            .header("accept", SCIM);
        if let Some(body) = body {
            request = request.header("content-type", SCIM).body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ops(&self, path: &str, operations: Value) -> Value {
        let (status, body) = self
            .s(
                Method::PATCH,
                path,
                Some(json!({"schemas": [PATCH_OP], "Operations": operations})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn native(&self, id: &str) -> (StatusCode, Value) {
        let response = self.get(&format!("/api/v1/team/{id}/")).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn scim_user(&self, user_name: &str, active: Option<bool>) -> String {
        let mut body = json!({"userName": user_name, "emails": [{"value": user_name, "primary": true}], "name": {"givenName": "G", "familyName": "F"}});
        if let Some(a) = active {
            body["active"] = json!(a);
        }
        let (status, user) = self.s(Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, 201, "{user}");
        user["id"].as_str().unwrap().to_owned()
    }

    /// What accepting an invitation leaves behind: a registered, ACTIVE member.
    fn register(&self, id: &str) {
        let changes = MemberChanges {
            status: Some(MemberStatus::Active.as_str().to_owned()),
            verified_at: Some(Some(roster::domain::now())),
            ..MemberChanges::default()
        };
        storage::update_member(
            &mut self.db.get().unwrap(),
            self.org,
            id.parse().unwrap(),
            &changes,
            roster::domain::now(),
        )
        .unwrap();
    }

    fn set_status(&self, id: &str, status: MemberStatus) {
        let changes = MemberChanges {
            status: Some(status.as_str().to_owned()),
            ..MemberChanges::default()
        };
        storage::update_member(
            &mut self.db.get().unwrap(),
            self.org,
            id.parse().unwrap(),
            &changes,
            roster::domain::now(),
        )
        .unwrap();
    }

    fn member_events(&self, id: &str) -> Vec<(String, Value)> {
        let query = roster::storage::AuditQuery {
            member_id: Some(id.parse().unwrap()),
            from: None,
            to: None,
            offset: 0,
            limit: 10_000,
        };
        storage::list_audit_events(&mut self.db.get().unwrap(), self.org, &query)
            .unwrap()
            .0
            .into_iter()
            .map(|e| (e.event_name, serde_json::from_str(&e.metadata).unwrap()))
            .collect()
    }
}

fn status(native: &Value) -> &str {
    native["status"].as_str().unwrap()
}

async fn every_row_of_the_mapping_table(backend: Backend) {
    let app = spawn_app(backend).await;
    // (row, set-up, SCIM request, native status after, invitation state after, SCIM active after)
    // POST active true / absent → invite.
    for active in [Some(true), None] {
        let id = app
            .scim_user(
                &format!("invite-{active:?}@x.example")
                    .to_lowercase()
                    .replace(['(', ')'], ""),
                active,
            )
            .await;
        let (_, m) = app.native(&id).await;
        // QUEUED until the delivery worker hands the e-mail over, then SENT.
        assert_eq!(status(&m), "PENDING", "POST active {active:?}");
        assert!(
            matches!(m["invitation_status"].as_str(), Some("QUEUED" | "SENT")),
            "POST active {active:?}: {m}"
        );
    }
    // POST active false → INACTIVE, no invitation.
    let id = app.scim_user("inactive@x.example", Some(false)).await;
    let (_, m) = app.native(&id).await;
    assert_eq!((status(&m), m["invitation_status"].clone()), ("INACTIVE", Value::Null));

    // active true → false on an ACTIVE member: deactivate.
    let active = app.scim_user("active@x.example", None).await;
    app.register(&active);
    let user = app
        .ops(
            &format!("/Users/{active}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    let (_, m) = app.native(&active).await;
    assert_eq!(status(&m), "INACTIVE");
    assert!(m["deactivated_date"].is_string());
    assert_eq!(user["active"], false);

    // active true → false on a PENDING member: the invitation is revoked.
    let pending = app.scim_user("pending@x.example", None).await;
    app.ops(
        &format!("/Users/{pending}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let (_, m) = app.native(&pending).await;
    assert_eq!(
        (status(&m), m["invitation_status"].as_str()),
        ("INACTIVE", Some("CANCELLED"))
    );

    // active false → true, registered before: reactivate.
    app.ops(
        &format!("/Users/{active}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    let (_, m) = app.native(&active).await;
    assert_eq!((status(&m), m["deactivated_date"].clone()), ("ACTIVE", Value::Null));

    // active false → true, never registered: invited again.
    app.ops(
        &format!("/Users/{pending}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    let (_, m) = app.native(&pending).await;
    assert_eq!(status(&m), "PENDING");
    assert!(
        matches!(m["invitation_status"].as_str(), Some("QUEUED" | "SENT")),
        "{m}"
    );

    // A member blocked natively stays blocked whatever the IdP sends; SCIM says so.
    let blocked = app.scim_user("blocked@x.example", None).await;
    app.register(&blocked);
    app.set_status(&blocked, MemberStatus::Blocked);
    let user = app
        .ops(
            &format!("/Users/{blocked}"),
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(
        (user["active"].as_bool(), user[ROSTER_USER]["status"].as_str()),
        (Some(false), Some("BLOCKED"))
    );
    assert_eq!(status(&app.native(&blocked).await.1), "BLOCKED");

    // DELETE an ACTIVE member: deactivated, SCIM 404, the native API keeps it.
    app.s(Method::DELETE, &format!("/Users/{active}"), None).await;
    assert_eq!(app.s(Method::GET, &format!("/Users/{active}"), None).await.0, 404);
    let (code, m) = app.native(&active).await;
    assert_eq!((code, status(&m)), (StatusCode::OK, "INACTIVE"));
    // DELETE a PENDING member: the invitation is cancelled (the member leaves the native list too).
    let (_, m) = app.native(&pending).await;
    assert_eq!(status(&m), "PENDING");
    app.s(Method::DELETE, &format!("/Users/{pending}"), None).await;
    assert_eq!(app.native(&pending).await.0, 404);
    let history = app.member_events(&pending);
    assert!(
        history
            .iter()
            .any(|(n, meta)| n == "team_member.invite_cancel" && meta["scim_delete"] == true),
        "{history:?}"
    );

    // Profile attributes become member fields, and native reads show them.
    let (_, user) = app
        .s(
            Method::POST,
            "/Users",
            Some(json!({"userName": "profile@x.example", "name": {"givenName": "Pro", "familyName": "File"},
                        "emails": [{"value": "home@x.example", "type": "home"}, {"value": "Pro.File@Work.example", "type": "work"}],
                        "phoneNumbers": [{"value": "+44 20 7946 0958", "type": "work"}]})),
        )
        .await;
    let (_, m) = app.native(user["id"].as_str().unwrap()).await;
    assert_eq!(
        (
            m["first_name"].as_str(),
            m["last_name"].as_str(),
            m["email"].as_str(),
            m["phone_number"].as_str()
        ),
        (
            Some("Pro"),
            Some("File"),
            Some("Pro.File@Work.example"),
            Some("+442079460958")
        )
    );
}

async fn native_changes_are_visible_through_scim(backend: Backend) {
    let app = spawn_app(backend).await;
    // Invited natively: an IdP that starts provisioning later finds them by userName = e-mail.
    let invite = app
        .client
        .post(app.url("/api/v1/team/invite/"))
        .bearer_auth(&app.token)
        .json(&json!({"first_name": "Nat", "last_name": "Ive", "email": "Native@X.example", "role": "CHECKER"}))
        .send()
        .await
        .unwrap();
    let id = invite.json::<Value>().await.unwrap()["member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, found) = app
        .s(
            Method::GET,
            "/Users?filter=userName%20eq%20%22native@x.example%22",
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    assert_eq!(found["Resources"][0][ROSTER_USER]["role"], "CHECKER");
    assert_eq!(found["Resources"][0]["emails"][0]["value"], "Native@X.example");
    // A POST of the same userName is a conflict (the IdP should link, not duplicate).
    let (code, _) = app
        .s(Method::POST, "/Users", Some(json!({"userName": "native@x.example"})))
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    // A native deactivation reads active: false.
    app.register(&id);
    app.client
        .delete(app.url(&format!("/api/v1/team/{id}/")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let (_, user) = app.s(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(
        (user["active"].as_bool(), user[ROSTER_USER]["status"].as_str()),
        (Some(false), Some("INACTIVE"))
    );
    // SCIM events carry the SCIM token as actor and scim as the channel.
    let events = storage::list_audit_events(
        &mut app.db.get().unwrap(),
        app.org,
        &roster::storage::AuditQuery {
            member_id: None,
            from: None,
            to: None,
            offset: 0,
            limit: 100,
        },
    )
    .unwrap()
    .0;
    assert!(
        events
            .iter()
            .all(|e| e.channel != "scim" || e.actor.starts_with("token:"))
    );
}

async fn okta_lifecycle_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    // Lookup, create, update by PUT, deactivate, reactivate, group push.
    let (_, none) = app
        .s(
            Method::GET,
            "/Users?filter=userName%20eq%20%22okta@x.example%22&startIndex=1&count=100",
            None,
        )
        .await;
    assert_eq!(none["totalResults"], 0);
    let (code, user) = app
        .s(Method::POST, "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "okta@x.example",
            "name": {"givenName": "Ok", "familyName": "Ta"}, "emails": [{"primary": true, "value": "okta@x.example", "type": "work"}],
            "displayName": "Ok Ta", "locale": "en-US", "externalId": "00u1", "groups": [], "password": "pw", "active": true})))
        .await;
    assert_eq!(code, 201);
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(status(&app.native(&id).await.1), "PENDING");
    app.register(&id);
    let mut put = app.s(Method::GET, &format!("/Users/{id}"), None).await.1;
    put["name"]["familyName"] = json!("Tah");
    let (code, _) = app.s(Method::PUT, &format!("/Users/{id}"), Some(put)).await;
    assert_eq!(code, 200);
    assert_eq!(app.native(&id).await.1["last_name"], "Tah");
    app.ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    assert_eq!(status(&app.native(&id).await.1), "INACTIVE");
    app.ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await;
    assert_eq!(status(&app.native(&id).await.1), "ACTIVE");
    let (_, group) = app
        .s(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Okta push", "members": []})),
        )
        .await;
    let gid = group["id"].as_str().unwrap();
    let other = app.scim_user("okta2@x.example", None).await;
    app.ops(
        &format!("/Groups/{gid}"),
        json!([{"op": "add", "path": "members", "value": [{"value": id, "display": "okta@x.example"}]}]),
    )
    .await;
    let g = app
        .ops(&format!("/Groups/{gid}"), json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}, {"op": "add", "path": "members", "value": [{"value": other}]}]))
        .await;
    assert_eq!(g["members"].as_array().unwrap().len(), 1);
    let names: Vec<String> = app.member_events(&id).into_iter().map(|(n, _)| n).collect();
    for expected in [
        "team_member.invite",
        "team_member.modify",
        "team_member.deactivate",
        "team_member.reactivate",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing: {names:?}");
    }
}

async fn entra_lifecycle_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, none) = app
        .s(
            Method::GET,
            "/Users?filter=userName+eq+%22c5a9e2d0-0000-4000-8000-000000000000%22",
            None,
        )
        .await;
    assert_eq!(none["Resources"], json!([]));
    let id = app.scim_user("entra@x.example", Some(true)).await;
    app.register(&id);
    let user = app
        .ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "displayName", "value": "Entra"},
                {"op": "Replace", "path": "active", "value": "False"}
            ]),
        )
        .await;
    assert_eq!(user["active"], false);
    assert_eq!(status(&app.native(&id).await.1), "INACTIVE");
    app.ops(
        &format!("/Users/{id}"),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(status(&app.native(&id).await.1), "ACTIVE");
    let (_, group) = app
        .s(Method::POST, "/Groups", Some(json!({"schemas": ["http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], "displayName": "Entra group", "externalId": "e1", "members": [{"value": id}]})))
        .await;
    let gid = group["id"].as_str().unwrap();
    let g = app
        .ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}]),
        )
        .await;
    assert!(g.get("members").is_none_or(|m| m.as_array().unwrap().is_empty()));
    let (code, _) = app.s(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    assert_eq!(status(&app.native(&id).await.1), "INACTIVE");
    let names: Vec<String> = app.member_events(&id).into_iter().map(|(n, _)| n).collect();
    assert!(
        names.iter().filter(|n| *n == "team_member.deactivate").count() >= 2,
        "{names:?}"
    );
}

async fn group_bindings_set_roles(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend), |s| {
        s.group_roles = vec![("traders".into(), roster::domain::Role::Market)];
    })
    .await;
    let a = app.scim_user("a@x.example", None).await;
    let b = app.scim_user("b@x.example", None).await;
    let role = |m: &Value| m["role"].as_str().unwrap().to_owned();
    // A group bound through roster's Group extension.
    let (_, admins) = app
        .s(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Admins", ROSTER_GROUP: {"role": "ADMINISTRATOR"}, "members": [{"value": a}]})),
        )
        .await;
    assert_eq!(admins[ROSTER_GROUP]["role"], "ADMINISTRATOR");
    let admins_id = admins["id"].as_str().unwrap().to_owned();
    assert_eq!(role(&app.native(&a).await.1), "ADMINISTRATOR");
    // A group bound by configuration (displayName Traders).
    let (_, traders) = app
        .s(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Traders", "members": [{"value": a}, {"value": b}]})),
        )
        .await;
    let traders_id = traders["id"].as_str().unwrap().to_owned();
    assert_eq!(traders[ROSTER_GROUP]["role"], "MARKET");
    assert_eq!(
        (role(&app.native(&a).await.1), role(&app.native(&b).await.1)),
        ("ADMINISTRATOR".into(), "MARKET".into()),
        "highest rank wins"
    );
    // Leaving the stronger group, then the last bound group: back to the organization's default.
    app.ops(
        &format!("/Groups/{admins_id}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
    )
    .await;
    assert_eq!(role(&app.native(&a).await.1), "MARKET");
    let events = app.member_events(&a);
    assert!(
        events
            .iter()
            .any(|(n, m)| n == "team_member.modify" && m["cause"]["group"] == "Admins" && m["new_role"] == "MARKET"),
        "{events:?}"
    );
    // The role is owned by groups: SCIM roles are ignored and the native API refuses, naming them.
    app.ops(
        &format!("/Users/{b}"),
        json!([{"op": "add", "path": "roles", "value": [{"value": "CHECKER"}]}]),
    )
    .await;
    assert_eq!(role(&app.native(&b).await.1), "MARKET");
    app.register(&b);
    let refused = app
        .client
        .put(app.url(&format!("/api/v1/team/{b}/")))
        .bearer_auth(&app.token)
        .json(&json!({"role": "CHECKER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(
        refused.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("Traders")
    );
    // Unbinding (a rename away from the configured name) recomputes: the default role again.
    app.ops(
        &format!("/Groups/{traders_id}"),
        json!([{"op": "replace", "path": "displayName", "value": "Former traders"}]),
    )
    .await;
    assert_eq!(
        (role(&app.native(&a).await.1), role(&app.native(&b).await.1)),
        ("VIEWER".into(), "VIEWER".into())
    );
    // Binding by PATCH of the extension attribute; deleting the group recomputes too.
    app.ops(&format!("/Groups/{traders_id}"), json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:roster:2.0:Group:role", "value": "CHECKER"}])).await;
    assert_eq!(role(&app.native(&b).await.1), "CHECKER");
    app.s(Method::DELETE, &format!("/Groups/{traders_id}"), None).await;
    assert_eq!(role(&app.native(&b).await.1), "VIEWER");
    // Now the role is the member's own again: SCIM roles apply.
    app.ops(
        &format!("/Users/{b}"),
        json!([{"op": "replace", "path": "roles", "value": [{"value": "CHECKER"}]}]),
    )
    .await;
    assert_eq!(role(&app.native(&b).await.1), "CHECKER");
    let (code, err) = app
        .s(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Bad", ROSTER_GROUP: {"role": "KING"}})),
        )
        .await;
    assert_eq!(
        (code, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
}

async fn a_ten_thousand_member_group_in_one_patch(backend: Backend) {
    let app = spawn_app(backend).await;
    const N: usize = 10_000;
    let now = roster::domain::now();
    let rows: Vec<roster::storage::NewMember> = (0..N)
        .map(|i| roster::storage::NewMember {
            id: MemberId::new().to_string(),
            organization_id: app.org.to_string(),
            user_id: None,
            user_name: format!("m{i}@bulk.example"),
            user_name_ci: format!("m{i}@bulk.example"),
            external_id: None,
            display_name: None,
            first_name: None,
            last_name: None,
            email: None,
            email_ci: None,
            phone_number: None,
            role: "VIEWER".into(),
            status: "ACTIVE".into(),
            scim_attributes: "{}".into(),
            added_date: now,
            updated_at: now,
            ignored_roles: None,
            kind: "person".to_owned(),
        })
        .collect();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let org = app.org;
    app.db.write(|c| storage::insert_members(c, org, &rows)).unwrap();
    let (_, group) = app
        .s(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Everyone", ROSTER_GROUP: {"role": "CHECKER"}})),
        )
        .await;
    let gid = group["id"].as_str().unwrap().to_owned();
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let started = std::time::Instant::now();
    let (code, filled) = app
        .s(
            Method::PATCH,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": members}]})),
        )
        .await;
    let fill_time = started.elapsed();
    assert_eq!(code, 200, "{filled}");
    let (_, back) = app.s(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(back["members"].as_array().map_or(0, Vec::len), N);
    let (_, sample) = app.native(&ids[N - 1]).await;
    assert_eq!(sample["role"], "CHECKER", "{sample}");
    let checkers = app.get("/api/v1/team/?role=CHECKER&page_size=1").send().await.unwrap();
    assert_eq!(checkers.headers()["x-total-count"], N.to_string().as_str());
    let started = std::time::Instant::now();
    app.ops(
        &format!("/Groups/{gid}?excludedAttributes=members"),
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await;
    let empty_time = started.elapsed();
    assert_eq!(app.native(&ids[0]).await.1["role"], "VIEWER");
    let modify_events = storage::list_audit_events(
        &mut app.db.get().unwrap(),
        app.org,
        &roster::storage::AuditQuery {
            member_id: None,
            from: None,
            to: None,
            offset: 0,
            limit: 1,
        },
    )
    .unwrap()
    .1;
    assert!(
        modify_events >= 2 * N as i64,
        "one event per member changed, each way: {modify_events}"
    );
    eprintln!("filled {N} in {fill_time:?}, emptied in {empty_time:?}");
}

async fn groups_bound_through_the_native_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.scim_user("native.bound@x.example", None).await;
    let (_, group) = app
        .s(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Desk", "members": [{"value": a}]})),
        )
        .await;
    let gid = group["id"].as_str().unwrap().to_owned();
    let bind = |role: &str| {
        app.client
            .put(app.url(&format!("/api/v1/groups/{gid}/role/")))
            .bearer_auth(&app.token)
            .json(&json!({"role": role}))
    };
    assert_eq!(bind("CHECKER").send().await.unwrap().status(), 200);
    assert_eq!(app.native(&a).await.1["role"], "CHECKER");
    // A SCIM PUT without roster's extension keeps a binding made natively.
    let (code, _) = app
        .s(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({"displayName": "Desk", "members": [{"value": a}]})),
        )
        .await;
    assert_eq!(code, 200);
    let (_, g) = app.s(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(g[ROSTER_GROUP]["role"], "CHECKER");
    // Only administrators bind ADMINISTRATOR.
    let writer = crate::helpers::create_token(&app.db, &app.signer, app.org, &[roster::domain::Scope::TeamWrite]);
    let refused = app
        .client
        .put(app.url(&format!("/api/v1/groups/{gid}/role/")))
        .bearer_auth(&writer)
        .json(&json!({"role": "ADMINISTRATOR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let unbound = app
        .client
        .delete(app.url(&format!("/api/v1/groups/{gid}/role/")))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(unbound.status(), 200);
    assert_eq!(app.native(&a).await.1["role"], "VIEWER");
    let missing = app
        .client
        .put(app.url("/api/v1/groups/00000000-0000-0000-0000-000000000000/role/"))
        .bearer_auth(&app.token)
        .json(&json!({"role": "VIEWER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

both_backends!(
    groups_bound_through_the_native_api,
    every_row_of_the_mapping_table,
    native_changes_are_visible_through_scim,
    okta_lifecycle_replay,
    entra_lifecycle_replay,
    group_bindings_set_roles,
    role_values_are_kept_mapped_or_reported,
    the_identity_provider_may_take_away_the_last_administrator,
    a_ten_thousand_member_group_in_one_patch,
);

/// `roles` values (Entra app roles, whatever scim2-tester writes) never fail provisioning: a roster
/// role name or a configured alias sets the role, anything else is kept as sent, grants nothing,
/// and is named in the audit event and the organization summary.
async fn role_values_are_kept_mapped_or_reported(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend), |s| {
        s.role_aliases = vec![("approver".into(), roster::domain::Role::Checker)];
    })
    .await;
    let body = |user: &str, roles: Value| json!({"userName": user, "emails": [{"value": user, "primary": true}], "roles": roles});
    let (code, reader) = app
        .s(
            Method::POST,
            "/Users",
            Some(body(
                "reader@x.example",
                json!([{"value": "Reader", "type": "WindowsAzureActiveDirectoryRole"}]),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{reader}");
    assert_eq!(reader["roles"][0]["value"], "Reader", "kept as sent: {reader}");
    let id = reader["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.native(&id).await.1["role"],
        "VIEWER",
        "an unmapped value grants nothing"
    );
    let events = app.member_events(&id);
    assert_eq!(events[0].1["roles_ignored"], json!(["Reader"]), "{events:?}");

    let (code, approver) = app
        .s(
            Method::POST,
            "/Users",
            Some(body(
                "approver@x.example",
                json!([{"value": "Approver"}, {"value": "Guest"}]),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{approver}");
    let approver_id = approver["id"].as_str().unwrap().to_owned();
    assert_eq!(app.native(&approver_id).await.1["role"], "CHECKER", "the alias maps");
    let (code, named) = app
        .s(
            Method::POST,
            "/Users",
            Some(body("named@x.example", json!([{"value": "market"}]))),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{named}");
    assert_eq!(
        app.native(named["id"].as_str().unwrap()).await.1["role"],
        "MARKET",
        "a role name, any case"
    );

    // A PATCH with another unknown value: 200, the role unchanged, the value reported.
    let patched = app
        .ops(
            &format!("/Users/{approver_id}"),
            json!([{"op": "replace", "path": "roles", "value": [{"value": "Approver"}, {"value": "Auditor"}]}]),
        )
        .await;
    assert_eq!(patched["roles"][1]["value"], "Auditor");
    assert_eq!(app.native(&approver_id).await.1["role"], "CHECKER");
    let last = app
        .member_events(&approver_id)
        .into_iter()
        .rfind(|(name, _)| name == "team_member.modify")
        .unwrap();
    assert_eq!(last.1["roles_ignored"], json!(["Auditor"]), "{last:?}");

    let summary: Value = app
        .get(&format!("/api/v1/organizations/{}/summary/", app.org))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        summary["ignored_role_values"],
        json!({"Auditor": 1, "Reader": 1}),
        "{summary}"
    );
}

/// The last active ADMINISTRATOR: the organization may not remove them natively (409), the
/// identity provider may (deactivation, deletion, a role from `roles`), and that shows in the
/// audit (`team.without_administrator`) and the summary (`active_administrators: 0`).
async fn the_identity_provider_may_take_away_the_last_administrator(backend: Backend) {
    let app = spawn_app(backend).await;
    let boss = app.scim_user("boss@x.example", None).await;
    app.register(&boss);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/team/{boss}/")))
        .bearer_auth(&app.token)
        .json(&json!({"role": "ADMINISTRATOR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let summary = |app: &TestApp| {
        let request = app.get(&format!("/api/v1/organizations/{}/summary/", app.org)).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(summary(&app).await["active_administrators"], 1);

    // Natively: refused, whichever way.
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/team/{boss}/")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/team/{boss}/")))
        .bearer_auth(&app.token)
        .json(&json!({"role": "VIEWER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // The identity provider: allowed, recorded, visible.
    let user = app
        .ops(
            &format!("/Users/{boss}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(user["active"], false, "{user}");
    assert_eq!(status(&app.native(&boss).await.1), "INACTIVE");
    let events = app.member_events(&boss);
    assert!(
        events.iter().any(|(n, _)| n == "team.without_administrator"),
        "{events:?}"
    );
    let deactivation = events.iter().rfind(|(n, _)| n == "team_member.deactivate").unwrap();
    assert_eq!(deactivation.1["last_administrator"], true, "{deactivation:?}");
    assert_eq!(summary(&app).await["active_administrators"], 0);

    // Back, then demoted through `roles`: the same rule.
    app.ops(
        &format!("/Users/{boss}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    assert_eq!(summary(&app).await["active_administrators"], 1);
    app.ops(
        &format!("/Users/{boss}"),
        json!([{"op": "replace", "path": "roles", "value": [{"value": "VIEWER"}]}]),
    )
    .await;
    assert_eq!(app.native(&boss).await.1["role"], "VIEWER");
    let without = app
        .member_events(&boss)
        .into_iter()
        .filter(|(n, _)| n == "team.without_administrator")
        .count();
    assert_eq!(without, 2);
    assert_eq!(summary(&app).await["active_administrators"], 0);
}
