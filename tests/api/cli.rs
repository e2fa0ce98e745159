//! The `roster` binary as scripts use it.

use std::process::Command;

use crate::helpers::{Backend, TestDb, spawn_app_with};

fn roster(test_db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .env("ROSTER_DATABASE_URL", test_db.url_string())
        .env("ROSTER_DATA_DIR", test_db.dir.path())
        .env_remove("ROSTER_CONFIG")
        .output()
        .expect("run roster");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

async fn org_and_token_commands_print_only_their_answer(backend: Backend) {
    let test_db = TestDb::create(backend);
    let (ok, out, err) = roster(&test_db, &["migrate"]);
    assert!(ok, "{err}");
    assert!(out.is_empty(), "migrate prints nothing on stdout: {out:?}");

    let (ok, org, err) = roster(&test_db, &["org", "create", "Acme Corp"]);
    assert!(ok, "{err}");
    let org = org.trim().to_owned();
    assert!(org.parse::<uuid::Uuid>().is_ok(), "only the id: {org:?}");

    let (ok, token, err) = roster(
        &test_db,
        &[
            "token",
            "create",
            "--org",
            &org,
            "--scope",
            "scim",
            "--scope",
            "team:read",
        ],
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert!(
        token.starts_with("roster_") && !token.contains(char::is_whitespace),
        "only the token: {token:?}"
    );

    let (ok, list, _) = roster(&test_db, &["org", "list"]);
    assert!(ok && list.contains(&org) && list.contains("Acme Corp"));

    // The token works against a server on the same database (and key file).
    let app = spawn_app_with(test_db, |_| {}).await;
    let body: serde_json::Value = app
        .client
        .get(app.url("/api/v1/token/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["team_id"], org);
    assert_eq!(body["scopes"], serde_json::json!(["scim", "team:read"]));

    // Listed without its secret, then revoked.
    let (ok, listing, _) = roster(&app.test_db, &["token", "list", "--org", &org]);
    assert!(ok && listing.contains("scim team:read") && !listing.contains(&token));
    let token_id = listing.split('\t').next().unwrap().to_owned();
    let (ok, _, err) = roster(&app.test_db, &["token", "revoke", "--org", &org, &token_id]);
    assert!(ok, "{err}");
    let status = app
        .client
        .get(app.url("/api/v1/token/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

async fn bad_input_is_one_clear_line(backend: Backend) {
    let test_db = TestDb::create(backend);
    let (ok, out, err) = roster(&test_db, &["token", "create", "--org", "not-an-id", "--scope", "scim"]);
    assert!(!ok && out.is_empty());
    assert!(err.contains("--org \"not-an-id\" is not an organization id"), "{err}");
    let (ok, _, err) = roster(
        &test_db,
        &[
            "token",
            "create",
            "--org",
            &uuid::Uuid::new_v4().to_string(),
            "--scope",
            "root",
        ],
    );
    assert!(!ok && err.contains("unknown scope \"root\""), "{err}");
    let (ok, _, err) = roster(
        &test_db,
        &[
            "token",
            "create",
            "--org",
            &uuid::Uuid::new_v4().to_string(),
            "--scope",
            "scim",
        ],
    );
    assert!(!ok && err.contains("organization not found"), "{err}");
    let (ok, _, err) = roster(&test_db, &["--database-url", "mysql://root@localhost/x", "migrate"]);
    assert!(
        !ok && err.starts_with("roster: invalid setting `database_url` (from --database-url)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

async fn first_start_bootstraps_once(backend: Backend) {
    let test_db = TestDb::create(backend);
    let url = test_db.url.clone();
    let app = spawn_app_with(test_db, |s| s.bootstrap = true).await;
    // spawn_app_with adds its own organization after start; the bootstrap made "Default" first.
    let orgs = roster::service::organizations::list_organizations(&app.db).unwrap();
    assert_eq!(orgs[0].name, "Default");
    let dir = app.test_db.dir.path().to_owned();
    // A second start on the same database creates nothing.
    let mut settings = crate::helpers::test_settings(&app.test_db);
    settings.bootstrap = true;
    settings.database_url = url;
    settings.data_dir = dir;
    let second = roster::startup::Application::build(settings).await.unwrap();
    assert!(second.bootstrap().is_none());
    assert_eq!(
        roster::service::organizations::list_organizations(&app.db)
            .unwrap()
            .len(),
        2
    );
}

both_backends!(
    org_and_token_commands_print_only_their_answer,
    bad_input_is_one_clear_line,
    first_start_bootstraps_once
);
