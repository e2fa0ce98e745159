//! Test harness: a fresh database per test and the real server on port 0.

use std::sync::OnceLock;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use roster::auth::TokenSigner;
use roster::config::Settings;
use roster::domain::audit::AuditContext;
use roster::domain::{OrganizationId, Role, Scope};
use roster::service::{organizations, tokens};
use roster::startup::Application;
use roster::storage::{Database, DatabaseUrl, PoolSettings};

/// Generates `mod NAME { sqlite, postgres }` tests calling `async fn NAME(backend: Backend)`.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::helpers::skip_postgres() {
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PG_URL_VAR: &str = "ROSTER_TEST_DATABASE_URL";
/// Set (by CI) to make a missing PostgreSQL a failure instead of a skip.
pub const REQUIRE_PG_VAR: &str = "ROSTER_TEST_REQUIRE_POSTGRES";

pub fn postgres_base_url() -> Option<String> {
    std::env::var(PG_URL_VAR).ok().filter(|v| !v.trim().is_empty())
}

/// True when PostgreSQL tests must be skipped; panics instead when they are required.
pub fn skip_postgres() -> bool {
    if postgres_base_url().is_some() {
        return false;
    }
    if std::env::var(REQUIRE_PG_VAR).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_PG_VAR}=1 but {PG_URL_VAR} is not set: the PostgreSQL tests cannot run");
    }
    eprintln!("skipped: {PG_URL_VAR} is not set");
    true
}

/// A database of its own for one test: a temp SQLite file, or a fresh PostgreSQL schema (dropped at
/// the end) reached through `search_path`.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub dir: tempfile::TempDir,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    pub fn create(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDb {
                url: DatabaseUrl::sqlite_file(dir.path().join("roster.db")),
                dir,
                pg_schema: None,
            },
            Backend::Postgres => {
                let base = postgres_base_url().expect("PostgreSQL URL");
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = diesel::PgConnection::establish(&base).expect("connect to the test PostgreSQL");
                conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
                TestDb {
                    url: DatabaseUrl::parse(&url).expect("valid URL"),
                    dir,
                    pg_schema: Some((base, schema)),
                }
            }
        }
    }

    /// A fresh PostgreSQL schema reached through `proxy` (the schema itself is made and dropped
    /// directly), so that a test can cut the database away from the server.
    pub fn create_through(backend: Backend, proxy: &PgProxy) -> TestDb {
        assert_eq!(backend, Backend::Postgres, "only PostgreSQL goes through a proxy");
        let mut db = TestDb::create(backend);
        let direct = db.url.to_string_unredacted();
        db.url = DatabaseUrl::parse(&with_host(&direct, &proxy.address.to_string())).expect("valid URL");
        db
    }

    pub fn open(&self) -> Database {
        Database::open(&self.url, &PoolSettings::default()).expect("open the test database")
    }

    /// Opens and migrates.
    pub fn migrated(&self) -> Database {
        let db = self.open();
        roster::storage::run_migrations(&mut db.get().unwrap()).expect("migrations apply");
        db
    }

    /// The URL as `roster --database-url` takes it.
    pub fn url_string(&self) -> String {
        self.url.to_string_unredacted()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg_schema
            && let Ok(mut conn) = diesel::PgConnection::establish(base)
        {
            let _ = conn.batch_execute(&format!(
                "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
            ));
        }
    }
}

pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings::defaults();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = db.dir.path().to_owned();
    settings.database_url = db.url.clone();
    settings.workers = 2;
    settings.bootstrap = false;
    settings.mail.poll = std::time::Duration::from_millis(50);
    settings
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            roster::telemetry::init(roster::config::LogFormat::Text, &level);
        }
    });
}

/// The running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub db: Database,
    pub signer: TokenSigner,
    pub org: OrganizationId,
    /// An integration token of `org` with every scope.
    pub token: String,
    pub client: reqwest::Client,
    pub test_db: TestDb,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(TestDb::create(backend), |_| {}).await
}

pub async fn spawn_app_with(test_db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let mut settings = test_settings(&test_db);
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let (db, signer) = (state.db.clone(), state.signer.clone());
    let org = create_org(&db, "Test organization");
    let token = create_token(&db, &signer, org, &Scope::ALL);
    TestApp {
        address,
        db,
        signer,
        org,
        token,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        test_db,
    }
}

pub fn create_org(db: &Database, name: &str) -> OrganizationId {
    organizations::create_organization(db, name, Role::Viewer, &AuditContext::cli())
        .expect("organization created")
        .id
}

pub fn create_token(db: &Database, signer: &TokenSigner, org: OrganizationId, scopes: &[Scope]) -> String {
    tokens::create_token(
        db,
        signer,
        tokens::CreateToken {
            organization_id: org,
            name: "test",
            scopes,
            member_id: None,
            ttl: chrono::Duration::days(1),
        },
        &AuditContext::cli(),
    )
    .expect("token created")
    .token
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.token)
    }
}

/// `url` with its `host:port` replaced.
fn with_host(url: &str, host: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (userinfo, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let tail = rest.find(['/', '?']).map(|i| &rest[i..]).unwrap_or("");
    format!("{scheme}://{userinfo}{host}{tail}")
}

/// The upstream PostgreSQL's `host:port`, from the test URL.
fn postgres_upstream() -> String {
    let base = postgres_base_url().expect("PostgreSQL URL");
    let rest = base.split_once("://").map(|(_, r)| r).unwrap_or(&base);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let host = rest.split(['/', '?']).next().unwrap_or("127.0.0.1:5432");
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection closed, new ones
/// refused, as when the server is stopped) and restore on the same port.
pub struct PgProxy {
    pub address: std::net::SocketAddr,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl PgProxy {
    pub async fn start() -> PgProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let proxy = PgProxy {
            address: listener.local_addr().unwrap(),
            upstream: postgres_upstream(),
            tasks: Default::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes every connection and stops accepting.
    pub async fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    /// Accepts connections again on the same address.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .expect("rebind the proxy");
        self.serve(listener);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// The next `.eml` the file mailer writes beyond `seen`, with line ends as SMTP has them.
pub async fn next_mail(app: &TestApp, seen: &mut Vec<std::path::PathBuf>) -> String {
    let outbox = app.test_db.dir.path().join("outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let fresh = std::fs::read_dir(&outbox)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "eml") && !seen.contains(p));
        if let Some(path) = fresh {
            let message = std::fs::read_to_string(&path).unwrap();
            seen.push(path);
            return message.replace('\n', "\r\n").replace("\r\r\n", "\r\n");
        }
        assert!(std::time::Instant::now() < deadline, "no e-mail arrived");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
