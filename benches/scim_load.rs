//! SCIM load benchmark: the release `roster` binary as a child process, and a load generator of
//! 16 concurrent clients over HTTP on 127.0.0.1, on SQLite and PostgreSQL.
//!
//!     cargo bench --bench scim_load                      # SQLite, and PostgreSQL if a URL is set
//!     ROSTER_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench scim_load
//!     ROSTER_BENCH_MILLION=1 …                           # also W2 at 1,000,000 users
//!     ROSTER_BENCH_WEBHOOK=1 …                           # with an active webhook subscription
//!     ROSTER_BENCH_PROFILE=/tmp/prof …                   # perf record on the server per workload
//!     ROSTER_BENCH_PROFILE_SYSTEM=1 …                    # … on the whole machine instead
//!     ROSTER_BENCH_PEERS=memory,sqlite …                 # also the scim-server crate, same run
//!     ROSTER_BENCH_SERVER_MALLOC_ARENA_MAX=4 …           # glibc's arena limit, for the server only
//!
//! Workloads: W1 create users by POST /Users; W6 GET /Users/{id}; W2 filter userName eq a random
//! existing user; W4 GET /Users?startIndex=random&count=100; N1 and N2 the native door's point read
//! and page of 100; W3 PATCH active false on each user; W5 one group filled by PATCHes of 100
//! members, then read back; W5b GET /Groups/{id} without members; the server's peak RSS; W2 again
//! at 1,000,000 users (seeded directly in SQL); W7 deleting the organization with everything in it.
//!
//! `ROSTER_BENCH_PEERS` also runs W1, W6, W2 and W3 against the `scim-server` crate (0.5.3) behind
//! actix-web (`tools/scim-server-peer`, built here), on its in-memory and SQLite storages, with the
//! same clients and the same users.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use rand::Rng;
use serde_json::{Value, json};

const CLIENTS: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Server {
    child: Child,
    base: String,
    token: String,
    org: String,
}

fn roster(args: &[&str], url: &str, dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .env("ROSTER_DATABASE_URL", url)
        .env("ROSTER_DATA_DIR", dir)
        .output()
        .expect("run roster");
    assert!(
        out.status.success(),
        "roster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn start(url: &str, dir: &std::path::Path, org: Option<(String, String)>) -> Server {
    let (org, token) = org.unwrap_or_else(|| {
        roster(&["migrate"], url, dir);
        let org = roster(&["org", "create", "Bench"], url, dir);
        let token = roster(&["token", "create", "--org", &org, "--scope", "scim"], url, dir);
        (org, token)
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_roster"));
    // ROSTER_BENCH_SERVER_MALLOC_ARENA_MAX: glibc's arena limit for the server only (the load
    // generator keeps its own), to measure what the allocator's arenas cost in memory and speed.
    if let Ok(arenas) = std::env::var("ROSTER_BENCH_SERVER_MALLOC_ARENA_MAX") {
        server.env("MALLOC_ARENA_MAX", arenas);
    }
    let child = server
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ROSTER_DATABASE_URL", url)
        .env("ROSTER_DATA_DIR", dir)
        .env("ROSTER_LOG_LEVEL", "warn")
        .env("ROSTER_BOOTSTRAP", "false")
        // Delivery is its own concern: the worker stays idle during the measurements.
        .env("ROSTER_MAIL_POLL_MS", "600000")
        // The webhook sink of ROSTER_BENCH_WEBHOOK=1 listens on 127.0.0.1.
        .env("ROSTER_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start roster");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "roster did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        base,
        token,
        org,
    }
}

impl Server {
    fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(&self.child)
    }

    fn stop(mut self) {
        terminate(&mut self.child);
    }
}

/// The child's peak resident set, from /proc.
fn peak_rss_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// SIGTERM through the system call, so the server shuts down as an operator's would.
fn terminate(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on the positive pid of our own child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let _ = child.wait();
}

#[derive(Default, Clone)]
struct Stats {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i] as f64 / 1000.0
    }
}

/// The server under load and its backend's name, for [`Profile`].
static SERVER: std::sync::Mutex<Option<(u32, String)>> = std::sync::Mutex::new(None);

/// `ROSTER_BENCH_PROFILE=DIR`: `perf record` on the server through one workload, into
/// `DIR/<backend>-<workload>.data` (read it with `perf report -i …`). Costs throughput: figures from
/// a profiled run are not figures.
struct Profile(Option<Child>);

impl Profile {
    fn start(label: &str) -> Profile {
        let Ok(dir) = std::env::var("ROSTER_BENCH_PROFILE") else {
            return Profile(None);
        };
        let Some((pid, backend)) = SERVER.lock().unwrap().clone() else {
            return Profile(None);
        };
        std::fs::create_dir_all(&dir).expect("create the profile directory");
        let out = format!("{dir}/{}-{label}.data", backend.to_lowercase());
        // ROSTER_BENCH_PROFILE_SYSTEM=1: the whole machine without call stacks, to see how the
        // cores are shared between roster, PostgreSQL's backends and the load generator.
        let system = std::env::var("ROSTER_BENCH_PROFILE_SYSTEM").is_ok_and(|v| v == "1");
        let target: Vec<String> = if system {
            vec!["-a".into()]
        } else {
            ["--call-graph", "dwarf,16384", "-p", &pid.to_string()]
                .map(String::from)
                .to_vec()
        };
        let child = Command::new("perf")
            .args(["record", "-q", "-F", "499", "-o", &out])
            .args(&target)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf is installed (ROSTER_BENCH_PROFILE is set)");
        // perf needs a moment to attach before the load starts.
        std::thread::sleep(Duration::from_millis(300));
        Profile(Some(child))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) on the positive pid of our own child; SIGINT makes perf write its file.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
            }
            let _ = child.wait();
        }
    }
}

/// Runs `make` requests from 16 clients, either `total` of them or for `duration`.
async fn load<F, Fut>(label: &str, total: Option<usize>, duration: Option<Duration>, make: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let _profile = Profile::start(label);
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if total.is_some_and(|t| i >= t) || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let t = Instant::now();
                let ok = make(i).await;
                stats.latencies_us.push(t.elapsed().as_micros() as u64);
                stats.requests += 1;
                if !ok {
                    stats.errors += 1;
                }
            }
            stats
        }));
    }
    let mut all = Stats::default();
    for t in tasks {
        let s = t.await.unwrap();
        all.requests += s.requests;
        all.errors += s.errors;
        all.latencies_us.extend(s.latencies_us);
    }
    all.seconds = started.elapsed().as_secs_f64();
    all
}

/// The body of W1's `POST /Users` for user `i` of run `run_id` (W2 looks its userName up).
fn user_body(i: usize, run_id: u32) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i}-{run_id}@bench.example"),
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "emails": [{"value": format!("user{i}-{run_id}@bench.example"), "type": "work", "primary": true}],
        "active": true
    })
}

/// A request with roster's bearer token, or without one (the peer has no authentication).
fn authorized(request: reqwest::RequestBuilder, auth: Option<&Arc<String>>) -> reqwest::RequestBuilder {
    match auth {
        Some(auth) => request.header("authorization", auth.as_str()),
        None => request,
    }
}

/// W6: `GET /Users/{id}` of users drawn at random from `ids`, for `window`.
async fn get_users_by_id(
    label: &str,
    client: &reqwest::Client,
    base: &Arc<String>,
    auth: Option<&Arc<String>>,
    ids: &Arc<Vec<String>>,
    window: Duration,
) -> Stats {
    let (client, base, auth, ids) = (client.clone(), base.clone(), auth.cloned(), ids.clone());
    load(label, None, Some(window), move |_| {
        let (client, base, auth, ids) = (client.clone(), base.clone(), auth.clone(), ids.clone());
        async move {
            let id = &ids[rand::rng().random_range(0..ids.len())];
            authorized(client.get(format!("{base}/Users/{id}")), auth.as_ref())
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await
}

/// W2: `filter=userName eq` for users drawn at random from `numbers` (their W1 numbers), for
/// `window`; a request counts only if it finds its one user.
async fn filter_by_user_name(
    label: &str,
    client: &reqwest::Client,
    base: &Arc<String>,
    auth: Option<&Arc<String>>,
    numbers: &Arc<Vec<usize>>,
    run_id: u32,
    window: Duration,
) -> Stats {
    let (client, base, auth, numbers) = (client.clone(), base.clone(), auth.cloned(), numbers.clone());
    load(label, None, Some(window), move |_| {
        let (client, base, auth, numbers) = (client.clone(), base.clone(), auth.clone(), numbers.clone());
        async move {
            let i = numbers[rand::rng().random_range(0..numbers.len())];
            let url = format!("{base}/Users?filter=userName%20eq%20%22user{i}-{run_id}%40bench.example%22");
            match authorized(client.get(url), auth.as_ref()).send().await {
                Ok(r) if r.status() == 200 => r.json::<Value>().await.is_ok_and(|v| v["totalResults"] == 1),
                _ => false,
            }
        }
    })
    .await
}

/// W3: one `PATCH` of each of `ids` with `operation` (setting active to false), stopping after `cap`
/// if one is given.
async fn deactivate_users(
    label: &str,
    client: &reqwest::Client,
    base: &Arc<String>,
    auth: Option<&Arc<String>>,
    ids: &Arc<Vec<String>>,
    operation: Value,
    cap: Option<Duration>,
) -> Stats {
    let body = Arc::new(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [operation]}).to_string(),
    );
    let (client, base, auth, ids) = (client.clone(), base.clone(), auth.cloned(), ids.clone());
    load(label, Some(ids.len()), cap, move |i| {
        let (client, base, auth, ids, body) = (client.clone(), base.clone(), auth.clone(), ids.clone(), body.clone());
        async move {
            authorized(client.patch(format!("{base}/Users/{}", ids[i])), auth.as_ref())
                .header("content-type", "application/scim+json")
                .header("accept", "application/scim+json")
                .body(body.as_str().to_owned())
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await
}

struct Row {
    name: String,
    stats: Stats,
    note: String,
}

fn print_table(backend: &str, rows: &[Row]) {
    println!("\n{backend}");
    println!("| workload | requests | errors | req/s | p50 ms | p99 ms | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            r.name,
            r.stats.requests,
            r.stats.errors,
            r.stats.rate(),
            r.stats.percentile_ms(0.5),
            r.stats.percentile_ms(0.99),
            r.note
        );
    }
}

async fn run_backend(backend: &str, url: &str, dir: &std::path::Path, users: usize, seconds: u64, million: bool) {
    let server = start(url, dir, None);
    *SERVER.lock().unwrap() = Some((server.child.id(), backend.to_owned()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let base = Arc::new(format!("{}/scim/v2", server.base));
    let auth = Arc::new(format!("Bearer {}", server.token));
    let run_id: u32 = rand::rng().random();
    let mut rows = Vec::new();
    let window = Duration::from_secs(seconds);

    // ROSTER_BENCH_WEBHOOK=1: an active webhook subscription to every event, delivered to a sink
    // in this process, during W1 and W3 (what a subscription costs provisioning).
    let webhook = std::env::var("ROSTER_BENCH_WEBHOOK").is_ok_and(|v| v == "1");
    let delivered = Arc::new(AtomicUsize::new(0));
    if webhook {
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = sink.local_addr().unwrap().port();
        let counter = delivered.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = sink.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let mut seen = 0;
                    // One request per connection: read until the body's length is in, then answer.
                    loop {
                        let Ok(n) = socket.read(&mut buf[seen..]).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen += n;
                        let text = String::from_utf8_lossy(&buf[..seen]);
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                counter.fetch_add(1, Ordering::Relaxed);
                                let _ = socket
                                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                                    .await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        let admin = roster(
            &["token", "create", "--org", &server.org, "--scope", "org:admin"],
            url,
            dir,
        );
        let response = client
            .post(format!("{}/api/v1/webhooks/", server.base))
            .header("authorization", format!("Bearer {admin}"))
            .json(&json!({"url": format!("http://127.0.0.1:{port}/hook")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        println!("\n{backend}: an active webhook subscription (every event) during the run");
    }

    // W1: create users.
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); users]));
    let stats = {
        let (client, base, auth, ids) = (client.clone(), base.clone(), auth.clone(), ids.clone());
        load("W1", Some(users), None, move |i| {
            let (client, base, auth, ids) = (client.clone(), base.clone(), auth.clone(), ids.clone());
            async move {
                let body = user_body(i, run_id);
                let Ok(r) = client
                    .post(format!("{base}/Users"))
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                else {
                    return false;
                };
                if r.status() != 201 {
                    return false;
                }
                let v: Value = r.json().await.unwrap_or_default();
                ids.lock().unwrap()[i] = v["id"].as_str().unwrap_or_default().to_owned();
                true
            }
        })
        .await
    };
    rows.push(Row {
        name: format!("W1 POST /Users ×{users}"),
        stats,
        note: if webhook {
            format!(
                "invitation, audit, outbox and event rows written; {} webhook deliveries during the run",
                delivered.load(Ordering::Relaxed)
            )
        } else {
            "invitation, audit, outbox and event rows written".into()
        },
    });
    // What provisioning stored, before the reads below add their own rows (audit, activity).
    let (bytes, largest) = disk_use(url);
    rows.push(Row {
        name: "disk per provisioned user, after W1".into(),
        stats: Stats {
            seconds: 1.0,
            ..Stats::default()
        },
        note: format!("{:.0} B; largest: {largest}", bytes as f64 / users as f64),
    });
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().unwrap().clone());

    // W6: GET by id.
    let stats = get_users_by_id("W6", &client, &base, Some(&auth), &ids, window).await;
    rows.push(Row {
        name: "W6 GET /Users/{id}".into(),
        stats,
        note: String::new(),
    });

    // W2: filter by userName.
    let numbers: Arc<Vec<usize>> = Arc::new((0..users).collect());
    let stats = filter_by_user_name("W2", &client, &base, Some(&auth), &numbers, run_id, window).await;
    rows.push(Row {
        name: format!("W2 filter userName eq (at {users})"),
        stats: stats.clone(),
        note: String::new(),
    });
    let w2_small = stats.rate();

    // W4: index paging.
    let stats = {
        let (client, base, auth) = (client.clone(), base.clone(), auth.clone());
        load("W4", None, Some(window), move |_| {
            let (client, base, auth) = (client.clone(), base.clone(), auth.clone());
            async move {
                let start = rand::rng().random_range(1..=users.saturating_sub(100).max(1));
                match client
                    .get(format!("{base}/Users?startIndex={start}&count=100"))
                    .header("authorization", auth.as_str())
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r.json::<Value>().await.is_ok_and(|v| v["itemsPerPage"] == 100),
                    _ => false,
                }
            }
        })
        .await
    };
    rows.push(Row {
        name: "W4 GET /Users?startIndex=random&count=100".into(),
        stats,
        note: String::new(),
    });

    // N1, N2: the native door's point read and page of 100 (each read writes its audit row).
    let native_auth = Arc::new(format!(
        "Bearer {}",
        roster(
            &["token", "create", "--org", &server.org, "--scope", "team:read"],
            url,
            dir
        )
    ));
    let root = Arc::new(server.base.clone());
    let stats = {
        let (client, root, auth, ids) = (client.clone(), root.clone(), native_auth.clone(), ids.clone());
        load("N1", None, Some(window), move |_| {
            let (client, root, auth, ids) = (client.clone(), root.clone(), auth.clone(), ids.clone());
            async move {
                let id = &ids[rand::rng().random_range(0..ids.len())];
                client
                    .get(format!("{root}/api/v1/team/{id}/"))
                    .header("authorization", auth.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await
    };
    rows.push(Row {
        name: "N1 GET /api/v1/team/{member_id}/".into(),
        stats,
        note: "with its team_member.get audit row".into(),
    });
    let stats = {
        let (client, root, auth) = (client.clone(), root.clone(), native_auth.clone());
        load("N2", None, Some(window), move |_| {
            let (client, root, auth) = (client.clone(), root.clone(), auth.clone());
            async move {
                let page = rand::rng().random_range(1..=(users / 100).max(1));
                match client
                    .get(format!("{root}/api/v1/team/?page={page}&page_size=100"))
                    .header("authorization", auth.as_str())
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => r
                        .json::<Value>()
                        .await
                        .is_ok_and(|v| v.as_array().is_some_and(|a| a.len() == 100)),
                    _ => false,
                }
            }
        })
        .await
    };
    rows.push(Row {
        name: "N2 GET /api/v1/team/?page=random&page_size=100".into(),
        stats,
        note: String::new(),
    });

    // W5: a group filled by 50 PATCHes of 100, then read back.
    let members = 5000.min(users);
    let group_id: String = {
        let r = client
            .post(format!("{base}/Groups"))
            .header("authorization", auth.as_str())
            .header("content-type", "application/scim+json")
            .body(json!({"displayName": format!("Bench {run_id}"), "members": []}).to_string())
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    };
    let started = Instant::now();
    let mut errors = 0;
    for chunk in ids[..members].chunks(100) {
        let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": value}]});
        let r = client
            .patch(format!("{base}/Groups/{group_id}?excludedAttributes=members"))
            .header("authorization", auth.as_str())
            .header("content-type", "application/scim+json")
            .header("accept", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            errors += 1;
        }
    }
    let back: Value = client
        .get(format!("{base}/Groups/{group_id}"))
        .header("authorization", auth.as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read_back = back["members"].as_array().map_or(0, Vec::len);
    let elapsed = started.elapsed();
    rows.push(Row {
        name: format!("W5 group filled by {} PATCHes of 100, read back", members / 100),
        stats: Stats {
            requests: members / 100 + 1,
            errors,
            seconds: elapsed.as_secs_f64(),
            latencies_us: vec![elapsed.as_micros() as u64],
        },
        note: format!("{:.3} s in all; {read_back} members read back", elapsed.as_secs_f64()),
    });

    // W5b: the group without members.
    let stats = {
        let (client, base, auth, group_id) = (client.clone(), base.clone(), auth.clone(), Arc::new(group_id.clone()));
        load("W5b", None, Some(window), move |_| {
            let (client, base, auth, group_id) = (client.clone(), base.clone(), auth.clone(), group_id.clone());
            async move {
                client
                    .get(format!("{base}/Groups/{group_id}?excludedAttributes=members"))
                    .header("authorization", auth.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await
    };
    rows.push(Row {
        name: "W5b GET /Groups/{id}?excludedAttributes=members".into(),
        stats,
        note: String::new(),
    });

    // W3: deactivate every user.
    let operation = json!({"op": "replace", "value": {"active": false}});
    let stats = deactivate_users("W3", &client, &base, Some(&auth), &ids, operation, None).await;
    rows.push(Row {
        name: format!("W3 PATCH active false ×{users}"),
        stats,
        note: if webhook {
            format!("{} webhook deliveries by now", delivered.load(Ordering::Relaxed))
        } else {
            String::new()
        },
    });
    let rss = server.peak_rss_mib();
    let org = server.org.clone();
    let token = server.token.clone();
    server.stop();
    rows.push(Row {
        name: "server peak RSS".into(),
        stats: Stats {
            seconds: 1.0,
            ..Stats::default()
        },
        note: format!("{rss:.1} MiB"),
    });

    if million {
        let seeded = seed(url, &org, 1_000_000 - users);
        let server = start(url, dir, Some((org.clone(), token)));
        let base = Arc::new(format!("{}/scim/v2", server.base));
        let stats = filter_by_user_name("W2", &client, &base, Some(&auth), &numbers, run_id, window).await;
        let ratio = w2_small / stats.rate();
        rows.push(Row {
            name: "W2 filter userName eq (at 1,000,000)".into(),
            stats,
            note: format!("{seeded} rows seeded; W2@small / W2@1M = {ratio:.2}"),
        });
        server.stop();
    }
    explain(url, &org);

    // W7: delete the whole organization (members, invitations, e-mails, the group, audit kept).
    let admin = roster(&["token", "create", "--org", &org, "--scope", "org:admin"], url, dir);
    let server = start(url, dir, Some((org.clone(), admin.clone())));
    let started = Instant::now();
    let response = client
        .delete(format!("{}/api/v1/organizations/{org}/?confirm=Bench", server.base))
        .header("authorization", format!("Bearer {admin}"))
        .send()
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    rows.push(Row {
        name: "W7 DELETE the organization (all its members)".into(),
        stats: Stats {
            requests: 1,
            errors: usize::from(response.status() != 204),
            seconds,
            latencies_us: vec![(seconds * 1e6) as u64],
        },
        note: format!("{:.2} s", seconds),
    });
    server.stop();
    print_table(backend, &rows);
}

/// Adds `n` members straight into the database (the 1,000,000-user case).
fn seed(url: &str, org: &str, n: usize) -> usize {
    let db = roster::storage::DatabaseUrl::parse(url).unwrap();
    let mut conn = db.connect().unwrap();
    let now = roster::domain::now();
    let batch = 5000;
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let rows: Vec<roster::storage::NewMember> = (done..(done + batch).min(n))
            .map(|i| {
                let name = format!("seed{i}@seed.example");
                roster::storage::NewMember {
                    id: uuid::Uuid::now_v7().to_string(),
                    organization_id: org.to_owned(),
                    user_id: None,
                    user_name: name.clone(),
                    user_name_ci: name.clone(),
                    external_id: None,
                    display_name: None,
                    first_name: Some("Seed".into()),
                    last_name: Some(format!("{i}")),
                    email: Some(name.clone()),
                    email_ci: Some(name),
                    phone_number: None,
                    role: "VIEWER".into(),
                    status: "ACTIVE".into(),
                    scim_attributes: "{}".into(),
                    added_date: now,
                    updated_at: now,
                    ignored_roles: None,
                    kind: "person".to_owned(),
                }
            })
            .collect();
        let organization: roster::domain::OrganizationId = org.parse().unwrap();
        roster::storage::write_transaction(&mut conn, |c| roster::storage::insert_members(c, organization, &rows))
            .unwrap();
        done += rows.len();
    }
    if let roster::storage::DbConnection::Postgres(_) = conn {
        conn.batch_execute("ANALYZE members").unwrap();
    } else {
        conn.batch_execute("ANALYZE").unwrap();
    }
    eprintln!("seeded {n} members in {:.1} s", started.elapsed().as_secs_f64());
    n
}

/// The bytes the database's tables and indexes take (SQLite: the pages of every b-tree, read
/// through the server's write-ahead log; PostgreSQL: tables, indexes and TOAST), and its five
/// largest tables and indexes. Read while the server runs.
fn disk_use(url: &str) -> (u64, String) {
    #[derive(diesel::QueryableByName)]
    struct Part {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    let db = roster::storage::DatabaseUrl::parse(url).unwrap();
    let parts: Vec<Part> = match db.connect().unwrap() {
        roster::storage::DbConnection::Sqlite(mut c) => {
            let q = "SELECT name, CAST(SUM(pgsize) AS BIGINT) AS bytes FROM dbstat GROUP BY name ORDER BY 2 DESC";
            diesel::RunQueryDsl::load(diesel::sql_query(q), &mut c).unwrap()
        }
        roster::storage::DbConnection::Postgres(mut c) => {
            let q = "SELECT c.relname::text AS name, pg_total_relation_size(c.oid)::bigint AS bytes FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC";
            diesel::RunQueryDsl::load(diesel::sql_query(q), &mut c).unwrap()
        }
    };
    let total = parts.iter().map(|p| p.bytes as u64).sum();
    // Every table and index, for the report's reader who wants to know where the bytes went.
    eprintln!("disk use by table and index:");
    for p in &parts {
        eprintln!("    {:<40} {:>12} B", p.name, p.bytes);
    }
    let largest = parts
        .iter()
        .take(5)
        .map(|p| format!("{} {:.1} MB", p.name, p.bytes as f64 / 1e6))
        .collect::<Vec<_>>()
        .join(", ");
    (total, largest)
}

/// The plan of the W2 lookup, as the server issues it (the key alone; visibility is read from the row).
fn explain(url: &str, org: &str) {
    let db = roster::storage::DatabaseUrl::parse(url).unwrap();
    let conn = db.connect().unwrap();
    let sql =
        |p1: &str, p2: &str| format!("SELECT * FROM members WHERE organization_id = {p1} AND user_name_ci = {p2}");
    let name = "user1@bench.example";
    match conn {
        roster::storage::DbConnection::Sqlite(mut c) => {
            #[derive(diesel::QueryableByName)]
            struct Plan {
                #[diesel(sql_type = diesel::sql_types::Text)]
                detail: String,
            }
            let q = format!("EXPLAIN QUERY PLAN {}", sql(&format!("'{org}'"), &format!("'{name}'")));
            let rows: Vec<Plan> = diesel::RunQueryDsl::load(diesel::sql_query(q), &mut c).unwrap();
            println!("\nW2 query plan (SQLite):");
            for r in rows {
                println!("    {}", r.detail);
            }
        }
        roster::storage::DbConnection::Postgres(mut c) => {
            #[derive(diesel::QueryableByName)]
            struct Plan {
                #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
                line: String,
            }
            let q = format!("EXPLAIN ANALYZE {}", sql(&format!("'{org}'"), &format!("'{name}'")));
            let rows: Vec<Plan> = diesel::RunQueryDsl::load(diesel::sql_query(q), &mut c).unwrap();
            println!("\nW2 query plan (PostgreSQL):");
            for r in rows {
                println!("    {}", r.line);
            }
        }
    }
}

/// Builds `tools/scim-server-peer` (the `scim-server` crate behind actix-web) in release mode, in
/// a target directory of its own, and returns its binary.
fn build_peer() -> std::path::PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/scim-server-peer/Cargo.toml");
    let target = std::env::var("ROSTER_BENCH_PEER_TARGET").unwrap_or_else(|_| {
        format!(
            "{}/.cache/peer-target",
            std::env::var("HOME").unwrap_or_else(|_| "/tmp".into())
        )
    });
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path", manifest])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo to build the scim-server peer");
    assert!(status.success(), "building tools/scim-server-peer failed");
    std::path::Path::new(&target).join("release/scim-server-peer")
}

/// W1, W6, W2 and W3 against the peer on `storage` ("memory" or "sqlite"). Its creates and filters
/// scan every stored user, so W1 stops at `users` or after `cap`, whichever comes first, and the
/// reads run over the users it created.
async fn run_peer(binary: &std::path::Path, storage: &str, users: usize, seconds: u64) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary)
        .args(["--storage", storage, "--port", "0", "--sqlite"])
        .arg(dir.path().join("peer.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the scim-server peer");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let address = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the peer said {first:?}"))
        .to_owned();
    let base = Arc::new(format!("http://{address}/scim/v2"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let run_id: u32 = rand::rng().random();
    let window = Duration::from_secs(seconds);
    let cap = Duration::from_secs(seconds * 6);
    let mut rows = Vec::new();

    let created = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stats = {
        let (client, base, created) = (client.clone(), base.clone(), created.clone());
        load("P-W1", Some(users), Some(cap), move |i| {
            let (client, base, created) = (client.clone(), base.clone(), created.clone());
            async move {
                let Ok(r) = client
                    .post(format!("{base}/Users"))
                    .header("content-type", "application/scim+json")
                    .body(user_body(i, run_id).to_string())
                    .send()
                    .await
                else {
                    return false;
                };
                if r.status() != 201 {
                    return false;
                }
                let v: Value = r.json().await.unwrap_or_default();
                let Some(id) = v["id"].as_str() else {
                    return false;
                };
                created.lock().unwrap().push((i, id.to_owned()));
                true
            }
        })
        .await
    };
    let created: Arc<Vec<(usize, String)>> = Arc::new(created.lock().unwrap().clone());
    rows.push(Row {
        name: "W1 POST /Users".into(),
        stats,
        note: format!(
            "{} users created (stops at {users} or after {} s)",
            created.len(),
            cap.as_secs()
        ),
    });
    if created.is_empty() {
        print_table(&format!("scim-server 0.5.3, {storage}"), &rows);
        terminate(&mut child);
        return;
    }

    let ids: Arc<Vec<String>> = Arc::new(created.iter().map(|(_, id)| id.clone()).collect());
    let numbers: Arc<Vec<usize>> = Arc::new(created.iter().map(|(i, _)| *i).collect());
    let stats = get_users_by_id("P-W6", &client, &base, None, &ids, window).await;
    rows.push(Row {
        name: "W6 GET /Users/{id}".into(),
        stats,
        note: String::new(),
    });

    let stats = filter_by_user_name("P-W2", &client, &base, None, &numbers, run_id, window).await;
    rows.push(Row {
        name: format!("W2 filter userName eq (at {})", created.len()),
        stats,
        note: String::new(),
    });

    // The crate does not take a replace without a path.
    let operation = json!({"op": "replace", "path": "active", "value": false});
    let stats = deactivate_users("P-W3", &client, &base, None, &ids, operation, Some(cap)).await;
    rows.push(Row {
        name: "W3 PATCH active false".into(),
        stats,
        note: String::new(),
    });
    rows.push(Row {
        name: "server peak RSS".into(),
        stats: Stats {
            seconds: 1.0,
            ..Stats::default()
        },
        note: format!("{:.1} MiB", peak_rss_mib(&child)),
    });
    print_table(&format!("scim-server 0.5.3, {storage}"), &rows);
    terminate(&mut child);
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing and must not run this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let users = env_usize("ROSTER_BENCH_USERS", 10_000);
    let seconds = env_usize("ROSTER_BENCH_SECONDS", 10) as u64;
    let million = std::env::var("ROSTER_BENCH_MILLION").is_ok_and(|v| v == "1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("ROSTER_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let peers = std::env::var("ROSTER_BENCH_PEERS").unwrap_or_default();
    if !peers.is_empty() {
        let binary = build_peer();
        for storage in peers.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            runtime.block_on(run_peer(&binary, storage, users, seconds));
        }
    }

    if only.contains("sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        runtime.block_on(run_backend("SQLite", &url, dir.path(), users, seconds, million));
    }
    if only.contains("postgres") {
        let Some(admin) = std::env::var("ROSTER_BENCH_DATABASE_URL")
            .ok()
            .or_else(|| std::env::var("ROSTER_TEST_DATABASE_URL").ok())
        else {
            eprintln!(
                "PostgreSQL skipped: set ROSTER_BENCH_DATABASE_URL (a database the bench may create roster_bench from)"
            );
            return;
        };
        let mut c = diesel::PgConnection::establish(&admin).expect("connect to PostgreSQL");
        c.batch_execute("DROP DATABASE IF EXISTS roster_bench WITH (FORCE)")
            .unwrap();
        c.batch_execute("CREATE DATABASE roster_bench").unwrap();
        let (head, _) = admin.rsplit_once('/').expect("a database name in the URL");
        let url = format!("{head}/roster_bench");
        let dir = tempfile::tempdir().unwrap();
        runtime.block_on(run_backend("PostgreSQL", &url, dir.path(), users, seconds, million));
    }
}
