use crate::helpers::{Backend, spawn_app};

async fn probes_answer_without_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["status"] == "ok" || body["status"] == "ready", "{path}: {body}");
    }
}

async fn unknown_native_route_is_a_json_404_once_authenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/nothing-here/").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    // Without a token, the door does not even say whether the route exists.
    let response = app.client.get(app.url("/api/v1/nothing-here/")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

both_backends!(
    probes_answer_without_a_token,
    unknown_native_route_is_a_json_404_once_authenticated
);
