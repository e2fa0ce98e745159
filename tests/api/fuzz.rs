//! Fuzzing, bounded so that it runs in CI: random and near-valid filters, PATCH requests, User and
//! Group bodies and query parameters, with multi-byte and control characters.
//!
//! - Pure: the filter parser, its translation to domain conditions, the PATCH engine, projection,
//!   list parameters and User/Group mapping must never panic, and refuse with a 4xx.
//! - End to end, on both backends: the same inputs sent to a real server never get a 5xx (nor a
//!   dropped connection), and the server keeps serving.
//!
//! `ROSTER_FUZZ_CASES` sets the volume (pure cases per property; a tenth of it per request kind end
//! to end), `ROSTER_FUZZ_SEED` replays one end-to-end run (its seed is printed).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use roster::mapping::filter::{group_condition, member_condition, member_sort_field};
use roster::scim::schema::{GROUP, USER};
use roster::scim::{filter, list, patch, projection, resource};
use serde_json::{Map, Value, json};

use crate::helpers::{Backend, spawn_app};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn cases() -> u32 {
    std::env::var("ROSTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Attribute paths: real ones, URN-qualified ones, value paths, and ones cut inside a URN or a
/// multi-byte character.
fn attribute() -> impl Strategy<Value = String> {
    let known: Vec<String> = [
        "userName",
        "name.givenName",
        "name.familyName",
        "name",
        "emails",
        "emails.value",
        "emails[type eq \"work\"].value",
        "emails[type eq \"work\"]",
        "phoneNumbers",
        "phoneNumbers[type eq \"mobile\"].value",
        "addresses[type eq \"work\"].formatted",
        "meta.created",
        "meta.lastModified",
        "meta.resourceType",
        "id",
        "externalId",
        "displayName",
        "active",
        "title",
        "roles",
        "members",
        "members.value",
        "members[value eq \"x\"]",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:roster:2.0:User:role",
        "urn:ietf:params:scim:schemas:extension:roster:2.0:Group:role",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Useré",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0é:x",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaéxx",
        "ééééééééééééééééééééééééééééééééééééééééééé",
        "x",
        "",
        ".",
        "a..b",
        "[",
        "emails[",
        "emails[type eq",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    prop_oneof![
        8 => proptest::sample::select(known),
        1 => "[a-zA-Z:.\\[\\]\" é€𝄞\\x00-\\x1f]{0,60}",
        1 => any::<String>(),
    ]
}

/// Filter tokens: attributes, operators, values, punctuation, odd characters.
fn filter_text() -> impl Strategy<Value = String> {
    let words: Vec<&'static str> = vec![
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "pr",
        "and",
        "or",
        "not",
        "not(",
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\"a\"",
        "\"é\"",
        "\"𝄞\"",
        "true",
        "True",
        "false",
        "null",
        "1",
        "-1.5e10",
        "1e999",
        "O",
        "2015-10-10T14:38:21Z",
        "\"2015-10-10T14:38:21Z\"",
        "\"\\\"\"",
        "\"%\"",
        "\"_\"",
        "\\",
        "\t",
        "\u{7f}",
        "\u{0}",
        "+",
        ".",
        ":",
    ];
    let token = prop_oneof![
        3 => attribute(),
        4 => proptest::sample::select(words).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop_oneof![
        6 => proptest::collection::vec((token, proptest::bool::weighted(0.8)), 0..14).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(t, space)| if space { format!("{t} ") } else { t })
                .collect::<String>()
        }),
        1 => any::<String>(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("True".to_owned()),
            Just("+15551234567".to_owned()),
            Just("a@example.com".to_owned()),
            Just("ADMINISTRATOR".to_owned()),
            Just("2015-10-10T14:38:21Z".to_owned()),
            any::<String>(),
        ]
        .prop_map(Value::String),
    ]
}

/// JSON values shaped like SCIM attribute values, keyed by attribute names.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((attribute(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn patch_request() -> impl Strategy<Value = Value> {
    let op = proptest::sample::select(vec![
        "add", "replace", "remove", "Add", "REPLACE", "Remove", "bogus", "",
    ]);
    let operation = (
        op,
        proptest::option::of(attribute()),
        proptest::option::of(json_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = json!({"op": op});
            if let Some(p) = path {
                o["path"] = json!(p);
            }
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        });
    proptest::collection::vec(operation, 0..5)
        .prop_map(|ops| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
}

/// A User (or Group) body: a valid one with random attributes added or replaced.
fn resource_body(base: Value) -> impl Strategy<Value = Value> {
    proptest::collection::vec((attribute(), json_value()), 0..6).prop_map(move |extra| {
        let mut body = base.clone();
        for (k, v) in extra {
            body[k] = v;
        }
        body
    })
}

fn user_base() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "fuzz@example.com",
        "name": {"givenName": "Fuzz", "familyName": "Er"},
        "emails": [{"value": "fuzz@example.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+15551234567", "type": "mobile"}],
        "active": true,
        ENTERPRISE: {"department": "R&D", "manager": {"value": "m-1"}}
    })
}

fn group_base() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Fuzzers", "members": []})
}

fn assert_refusal(e: &roster::scim::ScimError, what: &str) {
    assert!((400..500).contains(&e.status), "{what}: {} {}", e.status, e.detail);
}

proptest! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, ..Config::default() })]

    #[test]
    fn filters_parse_or_refuse(raw in filter_text()) {
        for schema in [&USER, &GROUP] {
            match filter::parse(&raw, schema) {
                Ok(parsed) => {
                    if let Err(e) = member_condition(&parsed) { assert_refusal(&e, &raw) }
                    if let Err(e) = group_condition(&parsed) { assert_refusal(&e, &raw) }
                }
                Err(e) => assert_refusal(&e, &raw),
            }
        }
    }

    #[test]
    fn patches_apply_or_refuse(body in patch_request()) {
        let user = resource::canonicalise(user_base().as_object().unwrap(), &USER, true);
        let group = resource::canonicalise(group_base().as_object().unwrap(), &GROUP, true);
        match patch::parse_request(&body) {
            Ok(operations) => {
                match patch::apply(&user, &operations, &USER) {
                    Ok(patched) => {
                        if let Err(e) = roster::mapping::user::user_input(&patched) { assert_refusal(&e, &body.to_string()) }
                    }
                    Err(e) => assert_refusal(&e, &body.to_string()),
                }
                if let Err(e) = patch::apply(&group, &operations, &GROUP) { assert_refusal(&e, &body.to_string()) }
            }
            Err(e) => assert_refusal(&e, &body.to_string()),
        }
    }

    #[test]
    fn bodies_map_or_refuse(user in resource_body(user_base()), group in resource_body(group_base())) {
        if let Some(object) = user.as_object() {
            let canonical = resource::canonicalise(object, &USER, true);
            if let Err(e) = roster::mapping::user::user_input(&canonical) { assert_refusal(&e, &user.to_string()) }
        }
        if let Some(object) = group.as_object() {
            let canonical = resource::canonicalise(object, &GROUP, true);
            if let Err(e) = roster::mapping::group::group_input(&canonical, object.get("members")) {
                assert_refusal(&e, &group.to_string())
            }
        }
    }

    #[test]
    fn parameters_parse_or_refuse(a in attribute(), b in attribute(), text in any::<String>()) {
        let _ = projection::parse(Some(&format!("{a},{b}")), None, &USER);
        let _ = projection::parse(None, Some(&format!("{a},{b}")), &GROUP);
        if let Err(e) = member_sort_field(&a, &USER) { assert_refusal(&e, &a) }
        if let Err(e) = list::decode_cursor(&text) { assert_refusal(&e, &text) }
        let params = [("filter", a.clone()), ("sortBy", b.clone()), ("startIndex", text.clone()), ("count", text.clone()), ("cursor", text.clone())];
        let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| Value::String(v.clone()));
        if let Err(e) = list::parse_params(get, list::PageLimits { default: 100, max: 1000 }) { assert_refusal(&e, &text) }
    }
}

fn sample<S: Strategy>(strategy: &S, runner: &mut TestRunner) -> S::Value {
    strategy.new_tree(runner).expect("a value").current()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The same generators against the real server: no 5xx, no dropped connection, still serving.
async fn the_server_never_fails_on_fuzzed_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let seed: u64 = std::env::var("ROSTER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("fuzz seed {seed} (ROSTER_FUZZ_SEED={seed} replays this run)");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let per_kind = (cases() / 10).max(20);

    let send = |method: Method, path: String, body: Option<Value>| {
        let mut request = app
            .client
            .request(method.clone(), app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&app.token)
            .header("accept", "application/scim+json")
            .timeout(std::time::Duration::from_secs(20));
        if let Some(body) = &body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        async move {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path} {body:?}: no answer ({e}); seed {seed}"));
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{method} {path} {body:?}: {status} {text}; seed {seed}"
            );
            (status, text)
        }
    };

    let (status, user) = send(Method::POST, "/Users".into(), Some(user_base())).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user: Value = serde_json::from_str(&user).unwrap();
    let user_path = format!("/Users/{}", user["id"].as_str().unwrap());
    let (status, group) = send(Method::POST, "/Groups".into(), Some(group_base())).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group: Value = serde_json::from_str(&group).unwrap();
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());

    let mut sent = 0;
    for i in 0..per_kind {
        let raw = sample(&filter_text(), &mut runner);
        let resource = if i % 2 == 0 { "/Users" } else { "/Groups" };
        send(Method::GET, format!("{resource}?filter={}", encode(&raw)), None).await;
        let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": raw, "sortBy": sample(&attribute(), &mut runner)});
        send(Method::POST, format!("{resource}/.search"), Some(search)).await;

        let a = sample(&attribute(), &mut runner);
        let param = ["attributes", "excludedAttributes", "sortBy"][i as usize % 3];
        let target = [user_path.as_str(), "/Users", "/Groups", group_path.as_str()][i as usize % 4];
        send(Method::GET, format!("{target}?{param}={}", encode(&a)), None).await;

        let body = sample(&patch_request(), &mut runner);
        let target = if i % 2 == 0 { &user_path } else { &group_path };
        send(Method::PATCH, target.clone(), Some(body)).await;

        let mut body = sample(&resource_body(user_base()), &mut runner);
        body["userName"] = json!(format!("fuzz{i}@example.com"));
        if i % 3 == 0 {
            send(Method::PUT, user_path.clone(), Some(body)).await;
        } else {
            send(Method::POST, "/Users".into(), Some(body)).await;
        }
        let body = sample(&resource_body(group_base()), &mut runner);
        send(Method::POST, "/Groups".into(), Some(body)).await;
        sent += 7;
    }
    println!("sent {sent} fuzzed requests on {backend:?}");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, _) = send(Method::GET, "/Users?count=5".into(), None).await;
    assert_eq!(status, StatusCode::OK);
}

both_backends!(the_server_never_fails_on_fuzzed_requests);
