//! Change events out (the feed and signed webhooks) and events in (the product's audit events,
//! logins, the export), on both backends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp, TestDb, spawn_app, spawn_app_with};

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A webhook receiver written for the test: answers 200 to every POST and keeps what it got.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Received>>> = Default::default();
        let store = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else { return };
                        if n == 0 {
                            return;
                        }
                        raw.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&raw).into_owned();
                        let Some((head, body)) = text.split_once("\r\n\r\n") else {
                            continue;
                        };
                        let header = |name: &str| {
                            head.lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                                })
                                .unwrap_or_default()
                        };
                        let length: usize = header("content-length").parse().unwrap_or(0);
                        if body.len() < length {
                            continue;
                        }
                        store.lock().unwrap().push(Received {
                            id: header("webhook-id"),
                            timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"),
                            body: body[..length].to_owned(),
                        });
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                });
            }
        });
        Receiver { port, got, task }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn events_app(backend: Backend) -> TestApp {
    spawn_app_with(TestDb::create(backend), |s| {
        s.webhooks.allow_private_networks = true;
        s.webhooks.poll = Duration::from_millis(50);
        s.webhooks.retry_base = Duration::from_millis(100);
    })
    .await
}

impl TestApp {
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Every event of the feed from the start (or from `after`), following its cursors.
    async fn whole_feed(&self, after: Option<String>) -> (Vec<Value>, String) {
        let mut cursor = after.unwrap_or_default();
        let mut all = Vec::new();
        loop {
            let (status, page) = self
                .api(Method::GET, &format!("/api/v1/events/?limit=7&after={cursor}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let events = page["events"].as_array().unwrap().clone();
            cursor = page["next_cursor"].as_str().unwrap().to_owned();
            if events.is_empty() {
                return (all, cursor);
            }
            all.extend(events);
        }
    }

    async fn scim_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }
}

fn verify(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    r.signature.split(' ').any(|s| s == format!("v1,{expected}"))
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A provisioning run through both doors: every event reaches a real receiver once, in the feed's
/// order, with a signature the Standard Webhooks scheme verifies.
async fn webhooks_deliver_every_event_once_in_order(backend: Backend) {
    let app = events_app(backend).await;
    let receiver = Receiver::start(0).await;
    // The endpoint receives what happens after it was created.
    let (_, start) = app.whole_feed(None).await;
    let (status, hook) = app
        .api(
            Method::POST,
            "/api/v1/webhooks/",
            Some(json!({"url": format!("http://127.0.0.1:{}/hook", receiver.port)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, listed) = app.api(Method::GET, "/api/v1/webhooks/", None).await;
    assert!(listed[0].get("secret").is_none(), "the secret is shown once: {listed}");

    // SCIM: create, group push, deactivate. Native: invite, role change.
    let user = app
        .scim_post(
            "/Users",
            json!({"userName": "ada@x.example", "emails": [{"value": "ada@x.example", "primary": true}]}),
        )
        .await;
    let id = user["id"].as_str().unwrap().to_owned();
    app.scim_post(
        "/Groups",
        json!({"displayName": "Engineers", "members": [{"value": id}]}),
    )
    .await;
    let response = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]}).to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (status, invited) = app
        .api(
            Method::POST,
            "/api/v1/team/invite/",
            Some(json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@x.example", "role": "VIEWER"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let grace = invited["member_id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(
            Method::PUT,
            &format!("/api/v1/team/{grace}/"),
            Some(json!({"role": "CHECKER"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Invitation e-mails leave a moment later (`invitation.sent`).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (feed, _) = app.whole_feed(Some(start.clone())).await;
    let types: Vec<&str> = feed.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // The SCIM user never accepted: `active: false` revokes its invitation (the rule table).
    for expected in [
        "member.invited",
        "group.created",
        "invitation.cancelled",
        "member.role_changed",
    ] {
        assert!(types.contains(&expected), "{expected} missing from {types:?}");
    }
    let pushed = feed.iter().find(|e| e["type"] == "group.created").unwrap();
    assert_eq!(
        pushed["data"]["changes"]["member_ids_added"],
        json!([id]),
        "one event per batch, listing the members"
    );
    let changed = feed.iter().find(|e| e["type"] == "member.role_changed").unwrap();
    assert_eq!(
        changed["data"]["member"]["role"], "CHECKER",
        "the resource after the change: {changed}"
    );
    assert_eq!(changed["data"]["changes"]["old_role"], "VIEWER");
    assert_eq!(changed["data"]["version"], 1);

    wait_for("every event delivered", || receiver.received().len() >= feed.len()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (feed, _) = app.whole_feed(Some(start)).await;
    let received = receiver.received();
    let delivered: Vec<String> = received.iter().map(|r| r.id.clone()).collect();
    let expected: Vec<String> = feed.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(delivered, expected, "each once, in the feed's order");
    for r in &received {
        assert!(verify(&secret, r), "signature of {}", r.id);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["id"], r.id.as_str());
    }
    let (_, deliveries) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{}/deliveries/", hook["id"].as_str().unwrap()),
            None,
        )
        .await;
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), feed.len());
    assert!(
        deliveries
            .iter()
            .all(|d| d["succeeded"] == true && d["status_code"] == 200)
    );
    // A delivery sent again on request.
    let (status, again) = app
        .api(
            Method::POST,
            &format!(
                "/api/v1/webhooks/{}/deliveries/{}/redeliver/",
                hook["id"].as_str().unwrap(),
                deliveries[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, again["succeeded"].clone()),
        (StatusCode::OK, json!(true)),
        "{again}"
    );
    wait_for("the redelivery", || receiver.received().len() == feed.len() + 1).await;
}

/// A receiver that is down for a while gets everything once it is back; the attempts in between
/// are listed as failures.
async fn a_receiver_back_from_an_outage_gets_everything(backend: Backend) {
    let app = events_app(backend).await;
    let port = free_port();
    let (status, hook) = app
        .api(
            Method::POST,
            "/api/v1/webhooks/",
            Some(json!({"url": format!("http://127.0.0.1:{port}/"), "event_types": ["member.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    for i in 0..3 {
        app.scim_post("/Users", json!({"userName": format!("down{i}@x.example")}))
            .await;
    }
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, deliveries) = app
            .api(Method::GET, &format!("/api/v1/webhooks/{hook_id}/deliveries/"), None)
            .await;
        if deliveries
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["succeeded"] == false)
            .count()
            >= 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempts recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receiver = Receiver::start(port).await;
    wait_for("the backlog", || receiver.received().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: Vec<String> = receiver.received().iter().map(|r| r.id.clone()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), 3, "each event once: {ids:?}");
    assert_eq!(unique, ids);
    let (_, webhook) = app
        .api(Method::GET, &format!("/api/v1/webhooks/{hook_id}/"), None)
        .await;
    assert_eq!(webhook["failing_since"], Value::Null, "{webhook}");
}

/// Many writers commit at once while a reader follows the feed: the reader ends with every event,
/// once each, in order (on PostgreSQL commits land out of id order).
async fn the_feed_skips_nothing_under_concurrent_commits(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..12 {
                    let response = app
                        .client
                        .post(app.url("/scim/v2/Users"))
                        .bearer_auth(&app.token)
                        .header("content-type", "application/scim+json")
                        .body(json!({"userName": format!("w{w}-{i}@x.example")}).to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    let mut idle_after_writers = 0;
    loop {
        let (status, page) = app
            .api(
                Method::GET,
                &format!("/api/v1/events/?limit=5&types=member.*&after={cursor}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let events = page["events"].as_array().unwrap();
        seen.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if writers.iter().all(|w| w.is_finished()) && events.is_empty() {
            idle_after_writers += 1;
            if idle_after_writers > 3 {
                break;
            }
        }
    }
    let (all, _) = app.whole_feed(None).await;
    let all: Vec<String> = all
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("member."))
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 8 * 12, "one event per creation");
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(sorted_seen.len(), seen.len(), "nothing read twice");
    let mut sorted_all = all.clone();
    sorted_all.sort();
    assert_eq!(sorted_seen, sorted_all, "the reader following the feed saw every event");
    assert_eq!(seen, all, "and in the feed's order");
}

/// Webhook URLs on loopback, private or link-local addresses (or not http) are refused unless
/// a setting allows them.
async fn webhook_urls_cannot_reach_inside(backend: Backend) {
    let app = spawn_app(backend).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "ftp://example.com/",
        "http://user:secret@example.com/",
        "not a url",
    ] {
        let (status, body) = app
            .api(Method::POST, "/api/v1/webhooks/", Some(json!({"url": url})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["details"][0]["field"], "url", "{body}");
    }
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/webhooks/",
            Some(json!({"url": "http://127.0.0.1/", "event_types": ["member.exploded"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Without org:admin, no webhooks at all.
    let reader = crate::helpers::create_token(&app.db, &app.signer, app.org, &[roster::domain::Scope::TeamRead]);
    let response = app
        .client
        .get(app.url("/api/v1/webhooks/"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// The product records its events: all or nothing, once per event id, beside roster's own in the
/// member's audit log; a login sets `last_login`; the export streams it all as NDJSON.
async fn the_product_records_its_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, m) = app
        .api(
            Method::POST,
            "/api/v1/team/invite/",
            Some(json!({"first_name": "Lin", "last_name": "Ko", "email": "lin@x.example", "role": "VIEWER"})),
        )
        .await;
    let member = m["member_id"].as_str().unwrap().to_owned();
    let other_org = crate::helpers::create_org(&app.db, "Elsewhere");
    let other_token = crate::helpers::create_token(&app.db, &app.signer, other_org, &roster::domain::Scope::ALL);
    let event = |id: &str, name: &str| json!({"event_id": id, "event_name": name, "member_id": member, "entry_metadata": {"ip_address": "203.0.113.9", "pocket_id": "p-1"}});
    // One bad item: named, nothing written.
    let (status, err) = app
        .api(
            Method::POST,
            "/api/v1/audit-logs/",
            Some(json!({"events": [event("e1", "pocket.modify"), event("e2", "Team.Delete")]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"][0]["field"], "events[1]", "{err}");
    let mut unknown = event("e3", "pocket.list");
    unknown["member_id"] = json!(uuid::Uuid::now_v7().to_string());
    let (status, err) = app
        .api(
            Method::POST,
            "/api/v1/audit-logs/",
            Some(json!({"events": [event("e1", "pocket.modify"), unknown]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (_, log) = app
        .api(Method::GET, &format!("/api/v1/team/members/{member}/audit-logs/"), None)
        .await;
    assert!(
        !log.to_string().contains("pocket."),
        "nothing of a refused batch was written: {log}"
    );
    // Another organization's token cannot write about this member.
    let response = app
        .client
        .post(app.url("/api/v1/audit-logs/"))
        .bearer_auth(&other_token)
        .json(&event("x1", "pocket.modify"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let (status, ok) = app
        .api(
            Method::POST,
            "/api/v1/audit-logs/",
            Some(json!({"events": [event("e1", "pocket.modify"), event("login-1", "user.login")]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert_eq!(ok["results"][0]["status"], "created");
    let (_, again) = app
        .api(Method::POST, "/api/v1/audit-logs/", Some(event("e1", "pocket.modify")))
        .await;
    assert_eq!(again["results"][0]["status"], "duplicate", "{again}");
    let (_, log) = app
        .api(Method::GET, &format!("/api/v1/team/members/{member}/audit-logs/"), None)
        .await;
    let product: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "product")
        .collect();
    assert_eq!(product.len(), 2, "{log}");
    assert!(
        product
            .iter()
            .any(|e| e["event_name"] == "pocket.modify" && e["entry_metadata"]["ip_address"] == "203.0.113.9")
    );
    let (_, seen) = app.api(Method::GET, &format!("/api/v1/team/{member}/"), None).await;
    assert!(seen["last_login"].is_string(), "a login event sets last_login: {seen}");

    let response = app.get("/api/v1/audit-logs/export/").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 4, "{text}");
    assert!(lines.iter().any(|l| l["source"] == "product"));
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["timestamp"].as_str() <= w[1]["timestamp"].as_str())
    );
}

both_backends!(
    webhooks_deliver_every_event_once_in_order,
    a_receiver_back_from_an_outage_gets_everything,
    the_feed_skips_nothing_under_concurrent_commits,
    webhook_urls_cannot_reach_inside,
    the_product_records_its_events,
);
