//! The SCIM door end to end: discovery, Users, Groups, filters in SQL, paging, PATCH forms from
//! real IdPs, ETags, errors, and isolation between organizations.

use reqwest::{Method, StatusCode};
use roster::domain::Scope;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, create_org, create_token, spawn_app};

const SCIM: &str = "application/scim+json";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

impl TestApp {
    pub(crate) async fn scim(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.scim_with(method, path, body, &self.token, &[("accept", SCIM)])
            .await
    }

    pub(crate) async fn scim_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(&format!("/scim/v2{path}")))
            .bearer_auth(token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.header("content-type", SCIM).body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
            assert_eq!(response.headers()["content-type"], SCIM, "{path}");
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn create_user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "name": {"givenName": "Given", "familyName": user_name.split('@').next().unwrap()},
            "emails": [{"value": user_name, "type": "work", "primary": true}],
            "active": true
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, user) = self.scim(Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user
    }

    async fn scim_list(&self, query: &str) -> Value {
        let (status, body) = self.scim(Method::GET, &format!("/Users?{query}"), None).await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    pub(crate) async fn patch(&self, path: &str, operations: Value) -> (StatusCode, Value) {
        self.scim(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH_OP], "Operations": operations})),
        )
        .await
    }
}

fn user_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn discovery_describes_what_is_supported(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/ServiceProviderConfig", "/serviceConfiguration"] {
        let (status, spc) = app.scim(Method::GET, path, None).await;
        assert_eq!(status, 200);
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["bulk"]["supported"], true);
        assert_eq!(spc["etag"]["supported"], true);
        assert_eq!(spc["pagination"]["cursor"], true);
    }
    let (_, types) = app.scim(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 3, "User, Group, Agent");
    let (_, user_type) = app.scim(Method::GET, "/ResourceTypes/User", None).await;
    assert_eq!(user_type["schemaExtensions"].as_array().unwrap().len(), 2);
    let (_, schemas) = app.scim(Method::GET, "/Schemas", None).await;
    assert_eq!(schemas["totalResults"], 6);
    let (status, enterprise) = app
        .scim(
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        enterprise["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "manager")
    );
    for (method, path) in [
        (Method::POST, "/ServiceProviderConfig"),
        (Method::PUT, "/Schemas"),
        (Method::DELETE, "/ResourceTypes/User"),
    ] {
        let (status, body) = app.scim(method, path, Some(json!({}))).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("405")),
            "{path}"
        );
    }
    assert_eq!(app.scim(Method::GET, "/Nothing", None).await.0, 404);
}

async fn users_are_created_read_and_unique_ignoring_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(json!({"userName": "Alice@X.com", "password": "s3cret", "groups": [], "active": true, "emails": [{"value": "alice@x.com", "primary": true}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let user: Value = response.json().await.unwrap();
    let id = user["id"].as_str().unwrap();
    assert!(location.ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(etag, "W/\"1\"");
    assert!(user.get("password").is_none(), "write-only");
    for key in ["resourceType", "created", "lastModified", "location", "version"] {
        assert!(user["meta"].get(key).is_some(), "meta.{key}");
    }
    assert_eq!(user["active"], true);
    let ext = &user["urn:ietf:params:scim:schemas:extension:roster:2.0:User"];
    assert_eq!(
        (ext["status"].as_str(), ext["role"].as_str()),
        (Some("PENDING"), Some("VIEWER"))
    );

    let (status, dup) = app
        .scim(Method::POST, "/Users", Some(json!({"userName": "alice@x.COM"})))
        .await;
    assert_eq!(
        (status, dup["scimType"].as_str(), dup["status"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"), Some("409"))
    );
    let (status, got) = app.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(
        (status, got["userName"].as_str()),
        (StatusCode::OK, Some("Alice@X.com"))
    );
    // The native API sees the same member, invited.
    let member: Value = app
        .get(&format!("/api/v1/team/{id}/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (member["status"].as_str(), member["email"].as_str()),
        (Some("PENDING"), Some("alice@x.com"))
    );

    for bad in [json!({"name": {"givenName": "x"}}), json!({"userName": ""})] {
        let (status, err) = app.scim(Method::POST, "/Users", Some(bad.clone())).await;
        assert_eq!(
            (status, err["scimType"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalidValue")),
            "{bad}"
        );
    }
    let (status, err) = app
        .scim_with(Method::POST, "/Users", None, &app.token, &[("content-type", SCIM)])
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidSyntax"))
    );
    let raw = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&app.token)
        .header("content-type", SCIM)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.json::<Value>().await.unwrap()["scimType"], "invalidSyntax");
    let huge = json!({"userName": "big", "title": "x".repeat(2 * 1024 * 1024)});
    let (status, err) = app.scim(Method::POST, "/Users", Some(huge)).await;
    assert_eq!(
        (status, err["status"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("413"))
    );
}

async fn filters_run_in_sql_with_every_operator(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .create_user("anna@corp.example", json!({"externalId": "ext-A", "title": "Engineer", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "boss"}}}))
        .await;
    app.create_user(
        "bob@corp.example",
        json!({"externalId": "ext-B", "displayName": "Bob B", "active": false}),
    )
    .await;
    app.create_user("carol@other.example", json!({"title": "Manager"}))
        .await;

    // Entra's test connection: a random userName gives an empty ListResponse.
    let empty = app
        .scim_list("filter=userName%20eq%20%22c0ffee00-0000-4000-8000-000000000000%22")
        .await;
    assert_eq!(
        (empty["totalResults"].as_i64(), empty["Resources"].clone()),
        (Some(0), json!([]))
    );
    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "ANNA@corp.example""#, &["anna@corp.example"]),
        (
            r#"userName ne "anna@corp.example""#,
            &["bob@corp.example", "carol@other.example"],
        ),
        (r#"userName co "CORP""#, &["anna@corp.example", "bob@corp.example"]),
        (r#"userName sw "b""#, &["bob@corp.example"]),
        (
            r#"userName ew ".example""#,
            &["anna@corp.example", "bob@corp.example", "carol@other.example"],
        ),
        (r#"userName gt "b""#, &["bob@corp.example", "carol@other.example"]),
        (
            r#"userName le "bob@corp.example""#,
            &["anna@corp.example", "bob@corp.example"],
        ),
        (r#"externalId eq "ext-B""#, &["bob@corp.example"]),
        (r#"externalId eq "EXT-B""#, &[]),
        (
            r#"emails[type eq "work"].value eq "carol@other.example""#,
            &["carol@other.example"],
        ),
        (r#"emails.value co "other""#, &["carol@other.example"]),
        (r#"displayName pr"#, &["bob@corp.example"]),
        (r#"title eq "engineer""#, &["anna@corp.example"]),
        (r#"title pr and not (title eq "Manager")"#, &["anna@corp.example"]),
        (r#"active eq false"#, &["bob@corp.example"]),
        (r#"active eq "True""#, &["anna@corp.example", "carol@other.example"]),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#,
            &["anna@corp.example"],
        ),
        (r#"manager eq "boss""#, &["anna@corp.example"]),
        // An IdP's own extension, which this server does not serve: no one has a value for it.
        (
            r#"urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge eq "7""#,
            &[],
        ),
        (
            r#"userName sw "a" or urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge pr"#,
            &["anna@corp.example"],
        ),
        (
            r#"userName co "corp" and urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge ne "7""#,
            &["anna@corp.example", "bob@corp.example"],
        ),
        (
            r#"meta.created gt "2000-01-01T00:00:00Z" and userName sw "a""#,
            &["anna@corp.example"],
        ),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, &[]),
        (
            r#"name.familyName eq "bob" or userName eq "carol@other.example""#,
            &["bob@corp.example", "carol@other.example"],
        ),
        (r#"not(userName co "corp")"#, &["carol@other.example"]),
        (r#"userName sw a"#, &["anna@corp.example"]),
        (r#"userName co "%""#, &[]),
        (
            r#"meta.resourceType eq "User" and userName eq "bob@corp.example""#,
            &["bob@corp.example"],
        ),
        (
            &format!(r#"id eq "{}""#, a["id"].as_str().unwrap()),
            &["anna@corp.example"],
        ),
    ];
    for (filter, expected) in cases {
        let query = format!("filter={}", urlencode(filter));
        let list = app.scim_list(&query).await;
        assert_eq!(user_names(&list), *expected, "{filter}");
        assert_eq!(list["totalResults"].as_i64(), Some(expected.len() as i64), "{filter}");
    }
    // `+` for spaces (Entra's query strings).
    assert_eq!(
        user_names(&app.scim_list("filter=userName+eq+%22bob@corp.example%22").await),
        ["bob@corp.example"]
    );
    for bad in [
        r#"nope eq "x""#,
        r#"userName eq"#,
        r#"addresses.locality eq "x""#,
        r#"active gt true"#,
    ] {
        let (status, err) = app
            .scim(Method::GET, &format!("/Users?filter={}", urlencode(bad)), None)
            .await;
        assert_eq!(
            (status, err["scimType"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalidFilter")),
            "{bad}"
        );
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn paging_sorting_and_cursors(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..7 {
        app.create_user(
            &format!("user{i}@x.example"),
            json!({"name": {"familyName": format!("F{}", 6 - i)}}),
        )
        .await;
    }
    let page = app.scim_list("startIndex=3&count=2").await;
    assert_eq!(
        (
            page["totalResults"].as_i64(),
            page["startIndex"].as_i64(),
            page["itemsPerPage"].as_i64()
        ),
        (Some(7), Some(3), Some(2))
    );
    let ids = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&page),
        ["user2@x.example", "user3@x.example"],
        "stable creation order"
    );
    assert_eq!(app.scim_list("startIndex=7&count=5").await["itemsPerPage"], 1);
    assert_eq!(app.scim_list("count=0").await["Resources"], json!([]));
    let sorted = app.scim_list("sortBy=name.familyName&count=3").await;
    assert_eq!(ids(&sorted), ["user6@x.example", "user5@x.example", "user4@x.example"]);
    let desc = app.scim_list("sortBy=userName&sortOrder=descending&count=1").await;
    assert_eq!(ids(&desc), ["user6@x.example"]);

    // RFC 9865 cursors: forward through everything, then back.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = Vec::new();
    loop {
        let page = app.scim_list(&format!("count=3&cursor={cursor}")).await;
        seen.extend(ids(&page));
        pages.push(page.clone());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("user{i}@x.example")).collect::<Vec<_>>());
    assert!(pages[0].get("previousCursor").is_none());
    let back = pages[2]["previousCursor"].as_str().unwrap();
    assert_eq!(
        ids(&app.scim_list(&format!("count=3&cursor={back}")).await),
        ["user3@x.example", "user4@x.example", "user5@x.example"]
    );
    let (status, err) = app.scim(Method::GET, "/Users?cursor=bogus", None).await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidCursor"))
    );
    // The same through POST /.search.
    let (status, found) = app
        .scim(Method::POST, "/Users/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"user1\"", "attributes": ["userName"], "startIndex": 1, "count": 10})))
        .await;
    assert_eq!((status, found["totalResults"].as_i64()), (StatusCode::OK, Some(1)));
    assert!(found["Resources"][0].get("name").is_none() && found["Resources"][0]["id"].is_string());
}

async fn okta_lifecycle_put_and_path_less_replace(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("okta.user@x.example", json!({})).await;
    let id = user["id"].as_str().unwrap().to_owned();
    // Okta's profile update: PUT with the whole resource, id, meta and groups included.
    let mut put = user.clone();
    put["name"]["givenName"] = json!("Renamed");
    put["title"] = json!("Director");
    put["someUnknownAttribute"] = json!("ignored");
    let (status, updated) = app.scim(Method::PUT, &format!("/Users/{id}"), Some(put)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["name"]["givenName"].as_str(), updated["title"].as_str()),
        (Some("Renamed"), Some("Director"))
    );
    assert!(updated.get("someUnknownAttribute").is_none());
    assert_eq!(updated["meta"]["version"], "W/\"2\"");
    // Deactivate and reactivate with a path-less replace.
    let (status, off) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!((status, off["active"].as_bool()), (StatusCode::OK, Some(false)));
    let (_, on) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(on["active"], true);
    // Never registered, so reactivation is a new invitation.
    assert_eq!(
        on["urn:ietf:params:scim:schemas:extension:roster:2.0:User"]["status"],
        "PENDING"
    );
}

async fn entra_patch_dialect(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("entra@x.example", json!({})).await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let (status, patched) = app
        .patch(
            &path,
            json!([
                {"op": "Replace", "path": "displayName", "value": "Entra User"},
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 555 0100"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"},
                {"op": "Replace", "value": {"name.familyName": "Dialect", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"}},
                {"op": "Replace", "path": "active", "value": "False"}
            ]),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["displayName"], "Entra User");
    assert_eq!(
        patched["addresses"],
        json!([{"type": "work", "formatted": "1 Main St", "locality": "Springfield"}])
    );
    let ext = &patched["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        (
            ext["department"].as_str(),
            ext["manager"]["value"].as_str(),
            ext["employeeNumber"].as_str()
        ),
        (Some("Sales"), Some("mgr-1"), Some("42"))
    );
    assert_eq!(
        (patched["name"]["familyName"].as_str(), patched["active"].as_bool()),
        (Some("Dialect"), Some(false))
    );
    // The phone became the member's, in E.164.
    let member: Value = app
        .get(&format!("/api/v1/team/{}/", user["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(member["phone_number"], "+15555550100");
    // `emails.value` without a filter changes the address; emails stays an array.
    let (status, patched) = app
        .patch(
            &path,
            json!([{"op": "replace", "path": "emails.value", "value": "renamed@x.example"}]),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["emails"].as_array().map(Vec::len), Some(1), "{patched}");
    assert_eq!(patched["emails"][0]["value"], "renamed@x.example");
    let member: Value = app
        .get(&format!("/api/v1/team/{}/", user["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(member["email"], "renamed@x.example");
    // Accept: */* gets 204 (the Microsoft reference collection's expectation).
    let (status, _) = app
        .scim_with(
            Method::PATCH,
            &path,
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "X"}]})),
            &app.token,
            &[("accept", "*/*")],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Errors leave the user untouched.
    let (status, err) = app
        .patch(
            &path,
            json!([{"op": "replace", "path": "title", "value": "Y"}, {"op": "replace", "path": "id", "value": "z"}]),
        )
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("mutability"))
    );
    assert_eq!(app.scim(Method::GET, &path, None).await.1["title"], "X");
    for (ops, scim_type) in [
        (json!([{"op": "remove"}]), "noTarget"),
        (json!([{"op": "replace", "path": "nope", "value": 1}]), "invalidPath"),
        (json!([{"op": "jump", "path": "title"}]), "invalidSyntax"),
    ] {
        let (status, err) = app.patch(&path, ops).await;
        assert_eq!(
            (status, err["scimType"].as_str()),
            (StatusCode::BAD_REQUEST, Some(scim_type))
        );
    }
}

async fn etags_and_preconditions(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("etag@x.example", json!({})).await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let (status, _) = app
        .scim_with(Method::GET, &path, None, &app.token, &[("if-none-match", "W/\"1\"")])
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "T"}]});
    let (status, err) = app
        .scim_with(
            Method::PATCH,
            &path,
            Some(body.clone()),
            &app.token,
            &[("if-match", "W/\"7\""), ("accept", SCIM)],
        )
        .await;
    assert_eq!(
        (status, err["status"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("412"))
    );
    let (status, ok) = app
        .scim_with(
            Method::PATCH,
            &path,
            Some(body),
            &app.token,
            &[("if-match", "W/\"1\""), ("accept", SCIM)],
        )
        .await;
    assert_eq!(
        (status, ok["meta"]["version"].as_str()),
        (StatusCode::OK, Some("W/\"2\""))
    );
    assert_eq!(
        app.scim_with(Method::DELETE, &path, None, &app.token, &[("if-match", "W/\"1\"")])
            .await
            .0,
        412
    );
    assert_eq!(
        app.scim_with(Method::GET, &path, None, &app.token, &[("if-none-match", "W/\"1\"")])
            .await
            .0,
        200
    );
}

async fn delete_then_404_and_rehire(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("leaver@x.example", json!({})).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let (status, _) = app.scim(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.scim(Method::GET, &format!("/Users/{id}"), None).await.0, 404);
    assert_eq!(app.scim(Method::DELETE, &format!("/Users/{id}"), None).await.0, 404);
    assert_eq!(
        app.scim_list("filter=userName%20eq%20%22leaver@x.example%22").await["totalResults"],
        0
    );
    // The native history stays (audit), and a re-hire links to it.
    let logs = app
        .get(&format!("/api/v1/team/members/{id}/audit-logs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(logs.status(), 200);
    let again = app.create_user("leaver@x.example", json!({})).await;
    assert_eq!(again["id"], id.as_str(), "the same member comes back");
}

async fn groups_with_okta_and_entra_membership_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            app.create_user(&format!("g{i}@x.example"), json!({})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Okta's group push: empty members, then renames and membership in one PATCH.
    let (status, group) = app.scim(Method::POST, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": []}))).await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");
    let (status, g) = app
        .patch(
            &path,
            json!([
                {"op": "replace", "value": {"id": gid, "displayName": "Eng"}},
                {"op": "add", "path": "members", "value": [{"value": ids[0], "display": "g0"}, {"value": ids[1]}, {"value": ids[2]}]}
            ]),
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(
        (g["displayName"].as_str(), g["members"].as_array().unwrap().len()),
        (Some("Eng"), 3)
    );
    let (_, g) = app
        .patch(&path, json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}, {"op": "add", "path": "members", "value": [{"value": ids[3]}]}]))
        .await;
    let members: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), 3);
    assert!(!members.contains(&ids[0].as_str()) && members.contains(&ids[3].as_str()));
    // Entra: remove with a value list removes those members only.
    let (_, g) = app
        .patch(
            &path,
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": ids[1]}]}]),
        )
        .await;
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    // The user shows its groups.
    let (_, u) = app.scim(Method::GET, &format!("/Users/{}", ids[3]), None).await;
    assert_eq!(u["groups"][0]["value"], gid.as_str());
    // Reads without members, filters by name and by member.
    let (_, lean) = app
        .scim(Method::GET, &format!("{path}?excludedAttributes=members"), None)
        .await;
    assert!(lean.get("members").is_none() && lean["displayName"] == "Eng");
    let (_, by_name) = app
        .scim(
            Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22eng%22",
            None,
        )
        .await;
    assert_eq!(by_name["totalResults"], 1);
    assert!(by_name["Resources"][0].get("members").is_none());
    let (_, by_member) = app
        .scim(
            Method::GET,
            &format!(
                "/Groups?filter={}",
                urlencode(&format!("members[value eq \"{}\"]", ids[3]))
            ),
            None,
        )
        .await;
    assert_eq!(by_member["totalResults"], 1);
    let (_, by_gone) = app
        .scim(
            Method::GET,
            &format!(
                "/Groups?filter={}",
                urlencode(&format!("members[value eq \"{}\"]", ids[0]))
            ),
            None,
        )
        .await;
    assert_eq!(by_gone["totalResults"], 0);
    // Replace with [] empties; PUT sets; DELETE removes.
    let (_, g) = app
        .patch(&path, json!([{"op": "replace", "path": "members", "value": []}]))
        .await;
    assert!(g.get("members").is_none_or(|m| m.as_array().unwrap().is_empty()));
    let (status, g) = app
        .scim(
            Method::PUT,
            &path,
            Some(json!({"displayName": "Eng", "members": [{"value": ids[2]}, "not-a-member-id"]})),
        )
        .await;
    assert_eq!((status, g["members"].as_array().unwrap().len()), (StatusCode::OK, 1));
    assert_eq!(app.scim(Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.scim(Method::GET, &path, None).await.0, 404);
    // Root search sees both types.
    app.scim(Method::POST, "/Groups", Some(json!({"displayName": "Other"})))
        .await;
    let (status, all) = app
        .scim(Method::POST, "/.search", Some(json!({"startIndex": 1, "count": 100})))
        .await;
    assert_eq!((status, all["totalResults"].as_i64()), (StatusCode::OK, Some(5)));
}

async fn organizations_never_see_each_other(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("mine@x.example", json!({})).await;
    let (_, group) = app
        .scim(Method::POST, "/Groups", Some(json!({"displayName": "Mine"})))
        .await;
    let other = create_org(&app.db, "Other");
    let theirs = create_token(&app.db, &app.signer, other, &[Scope::Scim]);
    let accept = [("accept", SCIM)];
    let (_, list) = app.scim_with(Method::GET, "/Users", None, &theirs, &accept).await;
    assert_eq!(list["totalResults"], 0);
    let (_, groups) = app.scim_with(Method::GET, "/Groups", None, &theirs, &accept).await;
    assert_eq!(groups["totalResults"], 0);
    for path in [
        format!("/Users/{}", user["id"].as_str().unwrap()),
        format!("/Groups/{}", group["id"].as_str().unwrap()),
    ] {
        for method in [Method::GET, Method::DELETE] {
            assert_eq!(
                app.scim_with(method.clone(), &path, None, &theirs, &accept).await.0,
                404,
                "{method} {path}"
            );
        }
        let patch =
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]});
        assert_eq!(
            app.scim_with(Method::PATCH, &path, Some(patch), &theirs, &accept)
                .await
                .0,
            404
        );
    }
    // The same userName is free in the other organization.
    let (status, _) = app
        .scim_with(
            Method::POST,
            "/Users",
            Some(json!({"userName": "mine@x.example"})),
            &theirs,
            &accept,
        )
        .await;
    assert_eq!(status, 201);
    // And the other organization cannot add our user to its group.
    let (_, their_group) = app
        .scim_with(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "G", "members": [{"value": user["id"]}]})),
            &theirs,
            &accept,
        )
        .await;
    assert!(
        their_group
            .get("members")
            .is_none_or(|m| m.as_array().unwrap().is_empty()),
        "{their_group}"
    );
}

async fn bulk_with_references_and_failures(backend: Backend) {
    let app = spawn_app(backend).await;
    let bulk = |ops: Value, fail_on_errors: Option<u64>| {
        let mut body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        if let Some(n) = fail_on_errors {
            body["failOnErrors"] = json!(n);
        }
        body
    };
    // The group references a user created later in the same request.
    let (status, response) = app
        .scim(
            Method::POST,
            "/Bulk",
            Some(bulk(
                json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "Bulk group", "members": [{"value": "bulkId:u1"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk1@x.example"}},
                    {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "bulk1@X.example"}},
                    {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Bulked"}]}},
                    {"method": "POST", "path": "/Groups", "data": {"displayName": "Dangling", "members": [{"value": "bulkId:nope"}]}}
                ]),
                None,
            )),
        )
        .await;
    assert_eq!(status, 200, "{response}");
    let ops = response["Operations"].as_array().unwrap();
    let status_of = |bulk_id: &str| {
        ops.iter()
            .find(|o| o["bulkId"] == bulk_id)
            .map(|o| o["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status_of("u1").as_deref(), Some("201"));
    assert_eq!(status_of("g1").as_deref(), Some("201"));
    let dup = ops.iter().find(|o| o["bulkId"] == "u2").unwrap();
    assert_eq!(
        (dup["status"].as_str(), dup["response"]["scimType"].as_str()),
        (Some("409"), Some("uniqueness"))
    );
    assert_eq!(
        ops.iter().filter(|o| o["status"] == "409").count(),
        2,
        "the duplicate and the dangling reference"
    );
    let group_location = ops.iter().find(|o| o["bulkId"] == "g1").unwrap()["location"]
        .as_str()
        .unwrap();
    let group_id = group_location.rsplit('/').next().unwrap();
    let (_, group) = app.scim(Method::GET, &format!("/Groups/{group_id}"), None).await;
    assert_eq!(group["members"][0]["display"], "bulk1@x.example");
    let (_, users) = app
        .scim(Method::GET, "/Users?filter=title%20eq%20%22Bulked%22", None)
        .await;
    assert_eq!(users["totalResults"], 1, "{response}");

    // failOnErrors stops after that many errors.
    let (_, stopped) = app
        .scim(
            Method::POST,
            "/Bulk",
            Some(bulk(
                json!([
                    {"method": "DELETE", "path": "/Users/00000000-0000-0000-0000-000000000000"},
                    {"method": "POST", "path": "/Users", "data": {"userName": "never@x.example"}}
                ]),
                Some(1),
            )),
        )
        .await;
    assert_eq!(stopped["Operations"].as_array().unwrap().len(), 1);
    assert_eq!(stopped["Operations"][0]["status"], "404");
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "POST", "path": "/Users", "data": {"userName": format!("u{i}")}}))
        .collect();
    let (status, err) = app
        .scim(Method::POST, "/Bulk", Some(bulk(Value::Array(too_many), None)))
        .await;
    assert_eq!(
        (status, err["status"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("413"))
    );
}

both_backends!(
    bulk_with_references_and_failures,
    discovery_describes_what_is_supported,
    users_are_created_read_and_unique_ignoring_case,
    filters_run_in_sql_with_every_operator,
    paging_sorting_and_cursors,
    okta_lifecycle_put_and_path_less_replace,
    entra_patch_dialect,
    etags_and_preconditions,
    delete_then_404_and_rehire,
    groups_with_okta_and_entra_membership_changes,
    organizations_never_see_each_other,
);
