//! The admin console and the operations endpoints: sessions and their ends, CSRF and origin checks,
//! the provisioning activity log, `/metrics`, and the whole console driven in headless Chromium.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, create_org, create_token, next_mail, spawn_app, spawn_app_with};
use roster::domain::Scope;

both_backends!(
    sessions_start_end_and_refuse_forged_forms,
    sign_in_links_work_once_for_active_administrators,
    scim_requests_show_in_the_activity_log,
    metrics_are_scraped_and_move,
    the_console_in_a_real_browser,
);

/// The value of cookie `name` in a response's Set-Cookie headers, with the header itself.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap_or_default().to_owned();
            (value, v.to_owned())
        })
}

impl TestApp {
    /// Signs in to the console with `token`: the session cookie.
    async fn console_session(&self, token: &str) -> String {
        let response = self
            .client
            .post(self.url("/console/sign-in/token"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/console/");
        set_cookie(&response, "roster_console").expect("a session cookie").0
    }

    async fn console_get(&self, session: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", format!("roster_console={session}"))
            .send()
            .await
            .unwrap()
    }

    async fn console_post(&self, session: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("cookie", format!("roster_console={session}"))
            .header("origin", &self.address)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of the session, read from a page's sign-out form.
    async fn csrf(&self, session: &str) -> String {
        let page = self.console_get(session, "/console/people").await.text().await.unwrap();
        let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        page[at..].split('"').next().unwrap().to_owned()
    }

    /// A registered, ACTIVE member of `self.org` with `role`, invited and accepted through the API.
    async fn registered_member(&self, email: &str, role: &str, seen: &mut Vec<PathBuf>) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/team/invite/"))
            .bearer_auth(&self.token)
            .json(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": email, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let member: Value = response.json().await.unwrap();
        let message = next_mail(self, seen).await;
        let token = crate::smtp::token_in(&message);
        let accepted = self
            .client
            .post(self.url(&format!("/api/v1/invitations/{token}/accept")))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::OK);
        member["member_id"].as_str().unwrap().to_owned()
    }
}

/// The console sign-in link in an e-mail (quoted-printable undone).
fn sign_in_link(message: &str) -> String {
    let decoded = message.replace("=\r\n", "").replace("=3D", "=");
    let start = decoded.find("http://").expect("a link");
    let link: String = decoded[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(*c))
        .collect();
    assert!(link.contains("/console/link/"), "{link}");
    link
}

async fn sessions_start_end_and_refuse_forged_forms(backend: Backend) {
    let app = spawn_app(backend).await;
    // Not signed in: every page sends the browser to the sign-in page.
    for path in ["/console/", "/console/people", "/console/activity", "/console/connect"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], "/console/sign-in");
    }
    let page = app.client.get(app.url("/console/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );

    // A token without org:admin, and a made-up one, are refused with the reason.
    let reader = create_token(&app.db, &app.signer, app.org, &[Scope::TeamRead]);
    for token in [reader.as_str(), "not-a-token"] {
        let response = app
            .client
            .post(app.url("/console/sign-in/token"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["location"], "/console/sign-in");
        assert!(set_cookie(&response, "roster_console").is_none());
        let (flash, _) = set_cookie(&response, "roster_flash").expect("a reason");
        assert!(flash.starts_with("error:"), "{flash}");
    }

    // A good one: the cookie is HttpOnly, SameSite=Lax and scoped to the console.
    let admin_token = create_token(&app.db, &app.signer, app.org, &Scope::ALL);
    let response = app
        .client
        .post(app.url("/console/sign-in/token"))
        .form(&[("token", admin_token.as_str())])
        .send()
        .await
        .unwrap();
    let (session, header) = set_cookie(&response, "roster_console").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age="] {
        assert!(header.contains(flag), "{flag} missing from {header}");
    }
    assert!(!header.contains("Secure"), "http public_url: no Secure flag");
    let overview = app.console_get(&session, "/console/").await;
    assert_eq!(overview.status(), StatusCode::OK);
    assert!(overview.text().await.unwrap().contains("Test organization"));

    // Forms need this session's CSRF token and this origin.
    let csrf = app.csrf(&session).await;
    let form = [
        ("csrf", "forged"),
        ("first_name", "Eve"),
        ("last_name", "X"),
        ("email", "eve@example.com"),
        ("role", "VIEWER"),
    ];
    let forged = app.console_post(&session, "/console/people/invite", &form).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let form = [
        ("csrf", csrf.as_str()),
        ("first_name", "Eve"),
        ("last_name", "X"),
        ("email", "eve@example.com"),
        ("role", "VIEWER"),
    ];
    let cross_site = app
        .client
        .post(app.url("/console/people/invite"))
        .header("cookie", format!("roster_console={session}"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let people: Value = app.get("/api/v1/team/").send().await.unwrap().json().await.unwrap();
    assert_eq!(people.as_array().unwrap().len(), 0, "no refused form changed anything");
    let invited = app.console_post(&session, "/console/people/invite", &form).await;
    assert_eq!(invited.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&invited, "roster_flash").unwrap().0.starts_with("ok:"));
    let people: Value = app.get("/api/v1/team/").send().await.unwrap().json().await.unwrap();
    assert_eq!(people[0]["email"], "eve@example.com");

    // A rule of the domain is shown in plain words, and nothing changes.
    let eve = people[0]["member_id"].as_str().unwrap().to_owned();
    let refused = app
        .console_post(
            &session,
            &format!("/console/people/{eve}/suspend"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(refused.headers()["location"], format!("/console/people/{eve}").as_str());
    let (flash, _) = set_cookie(&refused, "roster_flash").unwrap();
    assert!(flash.starts_with("error:"), "{flash}");

    // Another organization's member is not found through this session.
    let other = create_org(&app.db, "Other tenant");
    let other_token = create_token(&app.db, &app.signer, other, &Scope::ALL);
    let other_session = app.console_session(&other_token).await;
    let hidden = app.console_get(&other_session, &format!("/console/people/{eve}")).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    // Revoking the token ends its session at once.
    let token_id = roster::service::tokens::list_tokens(&app.db, other)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .id;
    roster::service::tokens::revoke_token(&app.db, other, token_id, &roster::domain::audit::AuditContext::cli())
        .unwrap();
    let ended = app.console_get(&other_session, "/console/").await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(ended.headers()["location"], "/console/sign-in");

    // Signing out ends the session.
    let out = app
        .console_post(&session, "/console/sign-out", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = app.console_get(&session, "/console/").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

async fn sign_in_links_work_once_for_active_administrators(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut seen = Vec::new();
    let ada = app
        .registered_member("ada@example.com", "ADMINISTRATOR", &mut seen)
        .await;
    app.registered_member("viewer@example.com", "VIEWER", &mut seen).await;

    // Asking for a link answers the same for anyone; only the administrator gets an e-mail.
    for email in ["viewer@example.com", "nobody@example.com", "ada@example.com"] {
        let response = app
            .client
            .post(app.url("/console/sign-in/email"))
            .form(&[("email", email)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(set_cookie(&response, "roster_flash").unwrap().0.starts_with("ok:"));
    }
    let message = next_mail(&app, &mut seen).await;
    assert!(message.contains("To: ada@example.com"), "{message}");
    let link = sign_in_link(&message);
    // Only the secret's hash is stored.
    let secret = link.rsplit('.').next().unwrap();
    let stored: Vec<Option<String>> = {
        use diesel::prelude::*;
        use roster::storage::schema::console_sign_in_links::dsl::*;
        console_sign_in_links
            .select(token_hash)
            .load(&mut *app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(stored, vec![Some(roster::auth::hash_token(secret))]);

    // Opening the link shows a button (a mail scanner's GET uses nothing); the POST signs in.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let used = app
        .client
        .post(&link)
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(used.headers()["location"], "/console/");
    let (session, _) = set_cookie(&used, "roster_console").unwrap();
    let overview = app.console_get(&session, "/console/").await.text().await.unwrap();
    assert!(overview.contains("Ada Lovelace"), "the page names who is signed in");
    // Twice is once too many.
    let again = app
        .client
        .post(&link)
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["location"], "/console/sign-in");
    assert!(set_cookie(&again, "roster_console").is_none());

    // Suspending the administrator ends the session (through the API: one domain), and bringing
    // them back does not revive it. Another administrator first: the last one cannot be suspended.
    app.registered_member("bob@example.com", "ADMINISTRATOR", &mut seen)
        .await;
    let other_admin = create_token(&app.db, &app.signer, app.org, &Scope::ALL);
    let suspended = app
        .client
        .post(app.url(&format!("/api/v1/team/{ada}/suspend/")))
        .bearer_auth(&other_admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), StatusCode::OK);
    // Brought back before the session was used again: the suspension ended it for good.
    let activated = app
        .client
        .post(app.url(&format!("/api/v1/team/{ada}/activate/")))
        .bearer_auth(&other_admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), StatusCode::OK);
    let ended = app.console_get(&session, "/console/").await;
    assert_eq!(ended.headers()["location"], "/console/sign-in");
    let audit: Value = app
        .get(&format!("/api/v1/team/members/{ada}/audit-logs/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_name"].as_str())
        .collect();
    assert!(
        names.contains(&"console.sign_in_link") && names.contains(&"console.sign_in"),
        "{names:?}"
    );
}

/// Polls `f` until it returns something, for at most 10 seconds (the activity writer is batched).
async fn within_seconds<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scim_requests_show_in_the_activity_log(backend: Backend) {
    let app = spawn_app(backend).await;
    // A row from a month ago, written before today's.
    let old_row = roster::storage::NewActivityRow {
        organization_id: app.org.to_string(),
        at: roster::domain::now() - chrono::Duration::days(30),
        client: "Okta".into(),
        method: "GET".into(),
        path: "/scim/v2/Users".into(),
        operation: "list".into(),
        resource_type: Some("User".into()),
        resource_id: None,
        status: 200,
        succeeded: true,
        scim_type: None,
        detail: None,
        duration_ms: 1,
    };
    assert_eq!(
        roster::storage::insert_activity(&mut app.db.get().unwrap(), &[old_row]).unwrap(),
        1
    );
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@example.com",
        "name": {"givenName": "Grace", "familyName": "Hopper"}, "emails": [{"value": "grace@example.com", "primary": true}]});
    for expected in [StatusCode::CREATED, StatusCode::CONFLICT] {
        let response = app
            .client
            .post(app.url("/scim/v2/Users"))
            .bearer_auth(&app.token)
            .header("user-agent", "Okta SCIM Client 1.0.0")
            .header("content-type", "application/scim+json")
            .json(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    // Another organization's requests stay in its own log.
    let other = create_org(&app.db, "Other tenant");
    let other_token = create_token(&app.db, &app.signer, other, &Scope::ALL);
    let missing = app
        .client
        .get(app.url("/scim/v2/Users/2819c223-7f76-453a-919d-413861904646"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let session = app.console_session(&app.token).await;
    let failures = within_seconds("the failed request in the log", async || {
        let page = app
            .console_get(&session, "/console/activity?outcome=failure")
            .await
            .text()
            .await
            .unwrap();
        page.contains("uniqueness").then_some(page)
    })
    .await;
    assert!(failures.contains("Okta") && failures.contains("create User") && failures.contains("409 failed"));
    assert!(
        !failures.contains("201 succeeded"),
        "the failure filter shows failures only"
    );
    assert!(!failures.contains("2819c223"), "no other organization's request");
    let all = app
        .console_get(&session, "/console/activity")
        .await
        .text()
        .await
        .unwrap();
    assert!(all.contains("201 succeeded") && all.contains("409 failed"));
    // The chart's numbers are on the page as text too: this hour, one success and one failure.
    assert!(all.contains("<td>1</td><td>1</td>"), "the hourly table");
    let rows = roster::service::console::list_activity(&app.db, app.org, None, None, 10)
        .unwrap()
        .0;
    assert_eq!(rows.len(), 3, "today's two and last month's");
    let created = rows.iter().find(|r| r.status == 201).unwrap();
    assert!(
        created.resource_id.as_deref().is_some_and(|id| id.len() == 36),
        "the new User's id: {created:?}"
    );
    // The row older than the retention goes; the new ones stay.
    let cutoff = roster::domain::now() - chrono::Duration::days(14);
    assert_eq!(
        roster::storage::prune_activity(&mut app.db.get().unwrap(), cutoff, 5000).unwrap(),
        1
    );
    assert_eq!(
        roster::service::console::list_activity(&app.db, app.org, None, None, 10)
            .unwrap()
            .0
            .len(),
        2
    );
    let per_hour = roster::service::console::activity_per_hour(&app.db, app.org, 72).unwrap();
    assert_eq!(per_hour.len(), 72);
    assert_eq!(
        per_hour.last().map(|h| (h.1, h.2)),
        Some((1, 1)),
        "this hour: one success, one failure"
    );
}

/// The value of one sample line of a Prometheus text page, 0 when absent.
fn sample(page: &str, line_start: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_are_scraped_and_move(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend), |s| {
        s.metrics_token = Some("a-metrics-token-for-tests".into());
    })
    .await;
    let scrape = async || {
        app.client
            .get(app.url("/metrics"))
            .bearer_auth("a-metrics-token-for-tests")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(
        app.client.get(app.url("/metrics")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let before = scrape().await;
    for family in [
        "roster_build_info{version=",
        "roster_db_pool_connections{state=\"idle\"}",
        "roster_outbox_depth ",
        "roster_outbox_oldest_due_age_seconds ",
        "roster_db_pool_wait_timeouts_total ",
    ] {
        assert!(before.contains(family), "{family} missing:\n{before}");
    }
    let scim_ok = "roster_scim_operations_total{client=\"Entra ID\",operation=\"list\",outcome=\"success\"}";
    let native = "roster_http_requests_total{door=\"native\",method=\"GET\",route=\"/api/v1/team/\",status=\"200\"}";
    for _ in 0..3 {
        let list = app
            .client
            .get(app.url("/scim/v2/Users?filter=userName%20eq%20%22x%22"))
            .bearer_auth(&app.token)
            .header("user-agent", "Azure Active Directory SCIM Client")
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), StatusCode::OK);
    }
    assert_eq!(app.get("/api/v1/team/").send().await.unwrap().status(), StatusCode::OK);
    let after = scrape().await;
    assert_eq!(sample(&after, scim_ok) - sample(&before, scim_ok), 3.0, "{after}");
    assert_eq!(sample(&after, native) - sample(&before, native), 1.0);
    let histogram = "roster_http_request_duration_seconds_count{door=\"scim\",route=\"/scim/v2/Users\"}";
    assert!(sample(&after, histogram) >= 3.0, "{after}");
    // Routes are patterns, never raw ids.
    assert!(!after.contains("2819c223"));
}

// ---- the browser ----

/// Set (by CI, which installs them) to make missing Chromium or ChromeDriver a failure, not a skip.
const REQUIRE_BROWSER_VAR: &str = "ROSTER_TEST_REQUIRE_BROWSER";

fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|dir| dir.join(n))
                .find(|p| p.is_file())
        })
    };
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"])?;
    let driver = find(&["chromedriver"])?;
    Some((chromium, driver))
}

/// A ChromeDriver process on a free port, killed on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    /// Chromium outlives a killed ChromeDriver unless its whole process group goes (a failed test
    /// never reaches the session's DELETE). The signal goes through the system call, never the
    /// `kill` program: procps-ng 4.0.2 reads `kill -KILL -1234` as a signal to pid -1, which is
    /// every process the user may signal.
    fn drop(&mut self) {
        let group = libc::pid_t::try_from(self.child.id()).unwrap_or(0);
        if group > 1 {
            // SAFETY: kill(2) takes plain integers; a negative pid names exactly the process group
            // this driver was started in (`process_group(0)` made its pid the group id).
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A W3C WebDriver session over plain HTTP: the few commands these tests need.
struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: Driver,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start(chromium: &std::path::Path, driver: &std::path::Path, shots: PathBuf) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            // Its own process group, with the browsers it starts, so that all of them can be ended.
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{}/status", driver.url)).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let created: Value = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            http,
            session,
            _driver: driver,
            _profile: profile,
            shots,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self._driver.url, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = response["value"].get("error") {
            panic!("WebDriver {path}: {error} {}", response["value"]["message"]);
        }
        response["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn current_url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// One look for `css` on the current page, without waiting.
    async fn try_find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self._driver.url, self.session);
        let response: Value = self
            .http
            .post(url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// One look at the text of `css`, without waiting (None while the element is not there).
    async fn try_text(&self, css: &str) -> Option<String> {
        let id = self.try_find(css).await?;
        let url = format!("{}/session/{}/element/{id}/text", self._driver.url, self.session);
        let response: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        response["value"].as_str().map(str::to_owned)
    }

    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(id) = self.try_find(css).await {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({})))
            .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (navigation after a click can lag behind it) until the element's text contains `needle`.
    async fn expect_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.try_text(css).await.is_some_and(|t| t.contains(needle)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never said {needle:?} on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn value(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{id}/property/value"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn page_text(&self) -> String {
        self.text("body").await
    }

    async fn resize(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Saves a PNG of the viewport (outside the repository) for a person to look at.
    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let data = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
}

async fn the_console_in_a_real_browser(backend: Backend) {
    let Some((chromium, driver)) = browser_binaries() else {
        if std::env::var(REQUIRE_BROWSER_VAR).is_ok_and(|v| v == "1") {
            panic!(
                "{REQUIRE_BROWSER_VAR}=1 but chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    let app = spawn_app(backend).await;
    let shots = std::env::var_os("ROSTER_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("roster-screenshots"))
        .join(format!("{backend:?}").to_lowercase());
    let browser = Browser::start(&chromium, &driver, shots.clone()).await;
    eprintln!("screenshots in {}", shots.display());

    // Sign in with the organization's admin token.
    browser.go(&app.url("/console/")).await;
    assert!(browser.current_url().await.ends_with("/console/sign-in"));
    browser.screenshot("01-sign-in").await;
    browser.type_into("#token", &app.token).await;
    browser.click("form[action='/console/sign-in/token'] button").await;
    browser.expect_text("h1", "Test organization").await;
    browser.screenshot("02-overview").await;

    // Invite a person, then make them an ADMINISTRATOR.
    browser.go(&app.url("/console/people")).await;
    browser.type_into("#first_name", "Grace").await;
    browser.type_into("#last_name", "Hopper").await;
    browser.type_into("#invite_email", "grace@example.com").await;
    browser.click("#invite_role option[value='CHECKER']").await;
    browser.click("#send_invitation").await;
    browser.expect_text(".flash.ok", "Invited grace@example.com").await;
    assert_eq!(browser.text("#member_role").await, "CHECKER");
    browser.click("#new_role option[value='ADMINISTRATOR']").await;
    browser.click("#change_role").await;
    browser.expect_text(".flash.ok", "Role changed to ADMINISTRATOR").await;
    assert_eq!(browser.text("#member_role").await, "ADMINISTRATOR");
    assert!(
        browser.page_text().await.contains("team_member.modify"),
        "the change is in the member's audit log"
    );
    browser.screenshot("03-member").await;
    let people: Value = app.get("/api/v1/team/").send().await.unwrap().json().await.unwrap();
    assert_eq!(people[0]["role"], "ADMINISTRATOR", "the API sees what the console did");

    // Create a SCIM token, shown once; an identity provider uses it.
    browser.go(&app.url("/console/connect")).await;
    assert!(browser.value("#scim_url").await.ends_with("/scim/v2"));
    browser.type_into("#token_name", "Okta production").await;
    browser.click("#create_token").await;
    browser.expect_text("#tokens", "Your new SCIM token").await;
    let scim_token = browser.value("#new_token").await;
    assert!(scim_token.len() > 40, "a token: {scim_token}");
    browser.screenshot("04-connect").await;
    browser.go(&app.url("/console/connect")).await;
    assert!(!browser.page_text().await.contains(&scim_token), "shown only once");
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@example.com",
        "name": {"givenName": "Grace", "familyName": "Hopper"}, "emails": [{"value": "grace@example.com", "primary": true}]});
    let conflict = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&scim_token)
        .header("user-agent", "Okta SCIM Client 1.0.0")
        .header("content-type", "application/scim+json")
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT, "grace was invited already");

    // Read what the identity provider just did.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        browser.go(&app.url("/console/activity?outcome=failure")).await;
        if browser.page_text().await.contains("uniqueness") {
            break;
        }
        assert!(Instant::now() < deadline, "the SCIM request never showed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = browser.text("table.activity tbody tr").await;
    assert!(
        row.contains("Okta") && row.contains("create User") && row.contains("409"),
        "{row}"
    );
    browser.screenshot("05-activity").await;

    browser.go(&app.url("/console/people")).await;
    browser.screenshot("06-people").await;
    browser.resize(390, 844).await;
    browser.screenshot("07-people-phone").await;
    browser.resize(1280, 1000).await;

    // Sign out; sign in again by e-mail as a registered administrator.
    browser.click(".signout button").await;
    browser.expect_text(".flash.ok", "signed out").await;
    let mut seen: Vec<PathBuf> = std::fs::read_dir(app.test_db.dir.path().join("outbox"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    app.registered_member("ada@example.com", "ADMINISTRATOR", &mut seen)
        .await;
    browser.type_into("#email", "ada@example.com").await;
    browser.click("form[action='/console/sign-in/email'] button").await;
    browser.expect_text(".flash.ok", "sign-in link is on its way").await;
    let link = sign_in_link(&next_mail(&app, &mut seen).await);
    browser.go(&link).await;
    browser.screenshot("08-sign-in-link").await;
    browser.click("#continue").await;
    browser.expect_text(".who", "Ada Lovelace").await;
    browser.screenshot("09-signed-in-by-link").await;
    // The link is spent.
    browser.go(&link).await;
    browser.click("#continue").await;
    browser.expect_text(".flash.error", "has been used").await;
    browser.command(reqwest::Method::DELETE, "", None).await;
}
