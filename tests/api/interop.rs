//! Requests as real clients send them, byte for byte over TCP (a client library would encode them
//! first and hide the problem): raw characters in the request target, and unreadable requests
//! answered in the door's format.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp, spawn_app};

/// One response read off the connection: status line and JSON body (by Content-Length).
async fn exchange(app: &TestApp, request: &[u8]) -> (String, Value) {
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                });
                if length.is_some_and(|n| body.len() >= n) {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer in time");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get(app: &TestApp, target: &str) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target.as_bytes());
    request.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {}\r\nAccept: application/scim+json\r\n\r\n",
            app.token
        )
        .as_bytes(),
    );
    request
}

async fn raw_request_targets_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, _) = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Test_User_ab12 cd","active":true}"#)
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, 201);

    // Microsoft's SCIM Validator: unencoded double quotes, `+` for spaces.
    let (status, body) = exchange(
        &app,
        &get(&app, r#"/scim/v2/Users?filter=userName+eq+"Test_User_ab12+cd""#),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert_eq!(body["totalResults"], 1, "{body}");
    // Raw spaces, and the characters clients leave unencoded in filters.
    let (status, body) = exchange(
        &app,
        &get(&app, r#"/scim/v2/Users?filter=userName eq "Test_User_ab12 cd""#),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert_eq!(body["totalResults"], 1, "{body}");
    for target in [
        r#"/scim/v2/Users?filter=emails[type eq "work"].value eq "nobody@x.com""#,
        r#"/scim/v2/Users?filter=userName eq "{a}|\\^`<b>""#,
        "/scim/v2/Users?filter=userName eq \"Jos\u{e9}\"",
        r#"/scim/v2/Groups?filter=displayName eq "A&B""#,
    ] {
        let (status, body) = exchange(&app, &get(&app, target)).await;
        assert_eq!(status, "HTTP/1.1 200 OK", "{target}: {body}");
        assert_eq!(body["totalResults"], 0, "{target}: {body}");
    }
    // A bad filter sent raw is a SCIM error, not an empty 400.
    let (status, body) = exchange(&app, &get(&app, r#"/scim/v2/Users?filter=userName eq "a" and"#)).await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert_eq!(body["scimType"], "invalidFilter", "{body}");

    // Several requests on one connection, a body between them: only request lines are rewritten.
    let search = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"Test_User_ab12 cd\""}"#;
    let mut pipelined = format!(
        "POST /scim/v2/Users/.search HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{search}",
        app.token,
        search.len()
    )
    .into_bytes();
    pipelined.extend_from_slice(&get(&app, r#"/scim/v2/Users?filter=userName+eq+"nobody""#));
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(&pipelined).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&raw).matches("HTTP/1.1 200 OK").count() == 2 && raw.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(
        text.contains(r#""totalResults":1"#) && text.contains(r#""totalResults":0"#),
        "{text}"
    );
}

async fn unreadable_requests_get_an_error_in_the_door_format(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = exchange(
        &app,
        b"GET /scim/v2/Users HTTP/1.1\r\nHost: roster\r\nBad Header Name: x\r\n\r\n",
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], "400");
    assert!(body["detail"].as_str().unwrap().contains("malformed"), "{body}");
    let (status, body) = exchange(&app, b"GET /api/v1/team/ HTTP/1.1\r\nContent-Length: many\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert_eq!(body["code"], "bad_request", "{body}");
    // The server goes on serving.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Well-formed requests from real IdPs that used to get a 4xx (each one a step toward Entra's
/// quarantine) are served.
async fn well_formed_idp_requests_are_served(backend: Backend) {
    use reqwest::Method;
    let app = spawn_app(backend).await;
    let leaver = app.create_user("leaver@x.example", json!({})).await;
    let newbie = app.create_user("newbie@x.example", json!({})).await;
    let newbie_path = format!("/Users/{}", newbie["id"].as_str().unwrap());
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});

    // An Entra custom extension attribute: dropped, like in a body, not a 400.
    let (status, body) = app
        .scim(
            Method::PATCH,
            &newbie_path,
            Some(patch(json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:contoso:2.0:User:costCode", "value": "42"}]))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Sorting by something that cannot be sorted, and the short sort orders.
    for query in [
        "sortBy=addresses&count=5",
        "sortBy=userName&sortOrder=desc",
        "sortBy=nope.nothing",
    ] {
        let (status, body) = app.scim(Method::GET, &format!("/Users?{query}"), None).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    // roster's extension role with a value that is no role: kept out of permissions, not refused.
    let (status, body) = app
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"userName": "ext.role@x.example", "urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"role": "Owner"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // A leaver's userName reused for someone else (the leaver deleted through SCIM).
    let (status, _) = app
        .scim(
            Method::DELETE,
            &format!("/Users/{}", leaver["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .scim(
            Method::PATCH,
            &newbie_path,
            Some(patch(
                json!([{"op": "replace", "path": "userName", "value": "Leaver@x.example"}]),
            )),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userName"], "Leaver@x.example");
    let (_, found) = app
        .scim(
            Method::GET,
            "/Users?filter=userName%20eq%20%22leaver@x.example%22",
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], newbie["id"]);
}

both_backends!(
    raw_request_targets_are_served,
    unreadable_requests_get_an_error_in_the_door_format,
    well_formed_idp_requests_are_served
);
