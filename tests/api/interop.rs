//! Requests as real clients send them, byte for byte over TCP (a client library would encode them
//! first and hide the problem): raw characters in the request target, and unreadable requests
//! answered in the door's format.

use std::time::Duration;

use serde_json::Value;
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

both_backends!(
    raw_request_targets_are_served,
    unreadable_requests_get_an_error_in_the_door_format
);
