//! The storage layer on its own: migrations, uniqueness, and that every function stays inside the
//! organization it is given.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use roster::domain::audit::{AuditContext, NewAuditEvent};
use roster::domain::{MemberId, MemberStatus, OrganizationId, Role, UserName};
use roster::storage::{self, AuditQuery, DbConnection, NewMember, StorageError};

use crate::helpers::{Backend, TestDb, create_org, create_token};

const TABLES: &[&str] = &[
    "organizations",
    "users",
    "members",
    "member_groups",
    "group_memberships",
    "group_role_bindings",
    "invitations",
    "email_outbox",
    "audit_events",
    "api_tokens",
];

/// How many migrations the project has (the same names for both backends).
fn migration_count() -> usize {
    let count = |dir: &str| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count()
    };
    assert_eq!(count("migrations/sqlite"), count("migrations/postgres"));
    count("migrations/sqlite")
}

fn new_member(org: OrganizationId, user_name: &str) -> NewMember {
    let now = roster::domain::now();
    let user_name = UserName::parse(user_name).unwrap();
    NewMember {
        id: MemberId::new().to_string(),
        organization_id: org.to_string(),
        user_id: None,
        user_name: user_name.as_str().to_owned(),
        user_name_ci: user_name.key(),
        external_id: None,
        display_name: None,
        first_name: None,
        last_name: None,
        email: None,
        email_ci: None,
        phone_number: None,
        role: Role::Viewer.as_str().to_owned(),
        status: MemberStatus::Pending.as_str().to_owned(),
        scim_attributes: "{}".to_owned(),
        added_date: now,
        updated_at: now,
        ignored_roles: None,
        kind: "person".to_owned(),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count_rows(conn: &mut DbConnection, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("table {table}: {e}"))
        .n
}

async fn migrations_apply_from_empty(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.open();
    let mut conn = db.get().unwrap();
    let applied = storage::run_migrations(&mut conn).unwrap();
    assert_eq!(applied.len(), migration_count(), "{applied:?}");
    for table in TABLES {
        assert_eq!(count_rows(&mut conn, table), 0, "{table} exists and is empty");
    }
    assert!(
        storage::run_migrations(&mut conn).unwrap().is_empty(),
        "a second run finds nothing to do"
    );
}

async fn concurrent_migrations_wait_and_then_find_nothing_to_do(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.open();
    const RUNNERS: usize = 4;
    let barrier = Arc::new(Barrier::new(RUNNERS));
    let handles: Vec<_> = (0..RUNNERS)
        .map(|_| {
            let url = test_db.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Each runner its own connection, as separate instances would have.
                let mut conn = url.connect().unwrap();
                barrier.wait();
                storage::run_migrations(&mut conn)
            })
        })
        .collect();
    let mut results: Vec<usize> = handles
        .into_iter()
        .map(|h| h.join().unwrap().expect("every concurrent run succeeds").len())
        .collect();
    results.sort();
    assert_eq!(
        results,
        vec![0, 0, 0, migration_count()],
        "exactly one run applies the migrations"
    );
    assert_eq!(count_rows(&mut db.get().unwrap(), "members"), 0);
}

/// PostgreSQL only: SQLite's exclusion is its write lock, covered by the concurrent test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_wait_for_the_lock_holder() {
    if crate::helpers::skip_postgres() {
        return;
    }
    use diesel::connection::SimpleConnection;
    let test_db = TestDb::create(Backend::Postgres);
    let key = storage::MIGRATION_LOCK_KEY;
    let mut holder = test_db.url.connect().unwrap();
    // Another instance is migrating: it holds the lock.
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({key})"))
        .unwrap();
    let url = test_db.url.clone();
    let waiting = std::thread::spawn(move || storage::run_migrations(&mut url.connect().unwrap()));
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(!waiting.is_finished(), "the second run waits for the lock");
    assert_eq!(
        storage::run_migrations(&mut holder).unwrap().len(),
        migration_count(),
        "the holder migrates"
    );
    holder
        .batch_execute(&format!("SELECT pg_advisory_unlock({key})"))
        .unwrap();
    assert!(
        waiting.join().unwrap().unwrap().is_empty(),
        "then the waiter finds nothing to do"
    );
}

async fn user_names_are_unique_per_organization_ignoring_case(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.migrated();
    let a = create_org(&db, "A");
    let b = create_org(&db, "B");
    let mut conn = db.get().unwrap();
    storage::insert_member(&mut conn, a, &new_member(a, "alice@x.com")).unwrap();
    let err = storage::insert_member(&mut conn, a, &new_member(a, "ALICE@x.com")).unwrap_err();
    assert!(err.is_unique_on("user_name_ci"), "{err:?}");
    storage::insert_member(&mut conn, b, &new_member(b, "ALICE@x.com")).expect("another organization may use it");
    let found = storage::find_member_by_user_name(&mut conn, a, &UserName::parse("Alice@X.com").unwrap())
        .unwrap()
        .expect("case-insensitive lookup");
    assert_eq!(found.user_name, "alice@x.com");
}

async fn no_storage_function_reads_across_organizations(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.migrated();
    let signer = roster::auth::TokenSigner::new(&roster::auth::SigningKey::generate(), "roster");
    let a = create_org(&db, "A");
    let b = create_org(&db, "B");
    let token_b = create_token(&db, &signer, b, &[roster::domain::Scope::Scim]);
    let token_b_id = signer.verify(&token_b).unwrap().jti.parse().unwrap();
    let mut conn = db.get().unwrap();
    let member_b = new_member(b, "bob@b.com");
    storage::insert_member(&mut conn, b, &member_b).unwrap();
    let member_b_id: MemberId = member_b.id.parse().unwrap();
    let now = roster::domain::now();
    storage::insert_audit_event(
        &mut conn,
        &AuditContext::cli(),
        &NewAuditEvent::new(b, "team_member.invite").about(member_b_id),
        now,
    )
    .unwrap();

    // B's rows, asked for as A: nothing.
    assert!(matches!(
        storage::find_member(&mut conn, a, member_b_id),
        Err(StorageError::NotFound)
    ));
    assert!(
        storage::find_member_by_user_name(&mut conn, a, &UserName::parse("bob@b.com").unwrap())
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        storage::find_token(&mut conn, a, token_b_id),
        Err(StorageError::NotFound)
    ));
    assert!(storage::list_tokens(&mut conn, a).unwrap().is_empty());
    assert!(
        !storage::revoke_token(&mut conn, a, token_b_id, now).unwrap(),
        "A cannot revoke B's token"
    );
    let query = AuditQuery {
        member_id: Some(member_b_id),
        from: None,
        to: None,
        offset: 0,
        limit: 100,
    };
    let (events, total) = storage::list_audit_events(&mut conn, a, &query).unwrap();
    assert!(events.is_empty() && total == 0);
    let (all_a, _) = storage::list_audit_events(
        &mut conn,
        a,
        &AuditQuery {
            member_id: None,
            ..query.clone()
        },
    )
    .unwrap();
    assert!(all_a.iter().all(|e| e.organization_id == a.to_string()));

    // Organization-level reads and writes (seed 002) as A: nothing of B's.
    let person = roster::domain::UserId::new();
    storage::insert_user(
        &mut conn,
        &storage::UserRow {
            id: person.to_string(),
            email: "bob@b.com".into(),
            email_ci: "bob@b.com".into(),
            first_name: None,
            last_name: None,
            created_at: now,
            verified_at: Some(now),
        },
    )
    .unwrap();
    let link = storage::MemberChanges {
        user_id: Some(Some(person.to_string())),
        ..Default::default()
    };
    storage::update_member(&mut conn, b, member_b_id, &link, now).unwrap();
    assert!(storage::find_member_by_user(&mut conn, a, person).unwrap().is_none());
    assert!(
        storage::count_organization(&mut conn, a, now)
            .unwrap()
            .members
            .is_empty()
    );
    assert_eq!(
        storage::revoke_member_tokens(&mut conn, a, member_b_id, now).unwrap(),
        0
    );
    // The one query keyed by a person returns that person's memberships and nothing else.
    let memberships = storage::memberships_of_user(&mut conn, person).unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(
        (memberships[0].0.id.as_str(), memberships[0].1.id.as_str()),
        (b.to_string().as_str(), member_b.id.as_str())
    );
    assert!(storage::delete_organization(&mut conn, a).unwrap());

    // And as B: everything is there, so the checks above are not vacuous.
    assert!(storage::find_member(&mut conn, b, member_b_id).is_ok());
    assert!(storage::find_member_by_user(&mut conn, b, person).unwrap().is_some());
    assert_eq!(
        storage::count_organization(&mut conn, b, now).unwrap().members,
        vec![("PENDING".to_owned(), "VIEWER".to_owned(), 1)]
    );
    assert!(storage::find_token(&mut conn, b, token_b_id).is_ok());
    assert_eq!(storage::list_audit_events(&mut conn, b, &query).unwrap().1, 1);
    assert!(storage::revoke_token(&mut conn, b, token_b_id, now).unwrap());
}

async fn a_failed_write_leaves_nothing_behind(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.migrated();
    let a = create_org(&db, "A");
    let result: Result<_, StorageError> = db.write(|conn| {
        storage::insert_member(conn, a, &new_member(a, "carol@x.com"))?;
        // The second insert violates the unique index: the whole transaction must roll back.
        storage::insert_member(conn, a, &new_member(a, "CAROL@x.com"))
    });
    assert!(result.unwrap_err().is_unique_on("user_name_ci"));
    let mut conn = db.get().unwrap();
    assert!(
        storage::find_member_by_user_name(&mut conn, a, &UserName::parse("carol@x.com").unwrap())
            .unwrap()
            .is_none()
    );
}

/// Writers that arrive together may share a transaction (SQLite's group commit): each must still
/// keep exactly its own changes. Among 48 concurrent writers, some succeed, some hit a unique index
/// halfway, some refuse after writing, and some panic after writing; only the first kind's rows stay.
async fn concurrent_writers_keep_exactly_their_own_changes(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.migrated();
    let a = create_org(&db, "A");
    const WRITERS: usize = 48;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let threads: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (db, barrier) = (db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                db.write(|conn| {
                    storage::insert_member(conn, a, &new_member(a, &format!("w{i}-a@x.com")))?;
                    // Long enough for the others to queue behind this writer.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    match i % 4 {
                        1 => storage::insert_member(conn, a, &new_member(a, &format!("W{i}-A@x.com"))),
                        2 => Err(StorageError::NotFound),
                        3 => panic!("writer {i} panics after writing"),
                        _ => storage::insert_member(conn, a, &new_member(a, &format!("w{i}-b@x.com"))),
                    }
                })
            })
        })
        .collect();
    for (i, thread) in threads.into_iter().enumerate() {
        match (i % 4, thread.join()) {
            (0, Ok(result)) => {
                // The row as inserted, defaults included, is what the insert returns.
                let row = result.unwrap_or_else(|e| panic!("writer {i}: {e}"));
                assert_eq!(
                    (row.user_name.as_str(), row.version),
                    (format!("w{i}-b@x.com").as_str(), 1)
                );
            }
            (1, Ok(result)) => assert!(result.unwrap_err().is_unique_on("user_name_ci"), "writer {i}"),
            (2, Ok(result)) => assert!(matches!(result, Err(StorageError::NotFound)), "writer {i}"),
            (3, Err(_)) => {}
            (kind, other) => panic!(
                "writer {i} (kind {kind}) ended unexpectedly: {:?}",
                other.map(|r| r.is_ok())
            ),
        }
    }
    let mut conn = db.get().unwrap();
    for i in 0..WRITERS {
        for suffix in ["a", "b"] {
            let name = UserName::parse(&format!("w{i}-{suffix}@x.com")).unwrap();
            let found = storage::find_member_by_user_name(&mut conn, a, &name)
                .unwrap()
                .is_some();
            assert_eq!(found, i % 4 == 0, "w{i}-{suffix}");
        }
    }
    assert_eq!(count_rows(&mut conn, "members"), (WRITERS / 4 * 2) as i64);
    // The pool still hands out connections that are outside any transaction.
    let written: Result<_, StorageError> =
        db.write(|conn| storage::insert_member(conn, a, &new_member(a, "after@x.com")));
    written.unwrap();
}

/// With autovacuum off nothing else refreshes statistics: a table that grew past autovacuum's
/// threshold is analyzed (PostgreSQL), and nothing is done on SQLite.
async fn changed_tables_are_analyzed(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = test_db.migrated();
    let org = create_org(&db, "Stats");
    let mut conn = db.get().unwrap();
    let members: Vec<NewMember> = (0..120).map(|i| new_member(org, &format!("user{i}@x.com"))).collect();
    storage::insert_members(&mut conn, org, &members).unwrap();
    let analyzed = storage::analyze_changed_tables(&mut conn).unwrap();
    match backend {
        Backend::Sqlite => {
            assert!(analyzed.is_empty());
            assert!(storage::autovacuum_keeps_statistics(&mut conn).unwrap());
        }
        Backend::Postgres => {
            // The counters are sent to the statistics collector when a transaction ends; wait for them.
            let mut analyzed = analyzed;
            for _ in 0..50 {
                if analyzed.iter().any(|t| t == "members") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                analyzed = storage::analyze_changed_tables(&mut conn).unwrap();
            }
            assert!(analyzed.iter().any(|t| t == "members"), "{analyzed:?}");
            #[derive(QueryableByName)]
            struct Analyzed {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                done: bool,
            }
            let done = diesel::sql_query(
                "SELECT last_analyze IS NOT NULL AS done FROM pg_stat_user_tables \
                 WHERE schemaname = current_schema() AND relname = 'members'",
            )
            .get_result::<Analyzed>(&mut *conn)
            .unwrap();
            assert!(done.done, "members was analyzed");
            assert!(
                !storage::analyze_changed_tables(&mut conn)
                    .unwrap()
                    .contains(&"members".to_owned()),
                "and is not analyzed again until it changes"
            );
        }
    }
}

/// SQLite's log is copied into the database file by the background checkpoint, not by a commit:
/// well below the commits' own backstop, the file grows by what was written without another write.
#[test]
fn the_log_is_checkpointed_in_the_background() {
    let test_db = TestDb::create(Backend::Sqlite);
    let db = test_db.migrated();
    let org = create_org(&db, "Checkpoints");
    let file = test_db.dir.path().join("roster.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    db.write(|conn| {
        for i in 0..2_000 {
            storage::insert_member(conn, org, &new_member(org, &format!("u{i}@checkpoint.example")))?;
        }
        Ok::<_, StorageError>(())
    })
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while size() < before + 500_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {} bytes (from {before}): nothing was checkpointed",
            size()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The plans of the hot reads, as SQLite makes them. SQLite only: it plans without statistics and,
/// built with the planner stability guarantee, without bound values, so its plans are facts of the
/// schema and the SQL; PostgreSQL chooses by statistics. Every statement a read issues is captured
/// as sent and explained: none may scan a whole table, and each names the index it is meant to use.
#[test]
fn hot_reads_run_on_their_indexes() {
    // Reads, and the statements of hot writes that look rows up (UPDATE, DELETE) too.
    use roster::domain::MemberKind;
    use roster::domain::query::{Comparison, Condition, ListQuery, MemberField, PageStart, Scalar};

    let test_db = TestDb::create(Backend::Sqlite);
    let db = test_db.migrated();
    let org = create_org(&db, "Plans");
    let mut conn = db.get().unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let row = new_member(org, &format!("p{i}@example.com"));
        ids.push(row.id.parse::<MemberId>().unwrap());
        storage::insert_member(&mut conn, org, &row).unwrap();
        let now = roster::domain::now();
        let invitation = storage::InvitationRow {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.to_string(),
            member_id: row.id.clone(),
            token_hash: format!("hash-{i}"),
            email: format!("p{i}@example.com"),
            status: "SENT".into(),
            invited_by: None,
            created_at: now,
            expires_at: now + chrono::Duration::days(7),
            accepted_at: None,
            cancelled_at: None,
            delivery_status: "PENDING".into(),
            delivered_at: None,
        };
        storage::insert_invitation(&mut conn, org, &invitation).unwrap();
    }
    let sent = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = sent.clone();
    conn.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
            let text = query.to_string();
            let sql = text.split(" -- binds: ").next().unwrap_or_default().to_owned();
            sink.lock().unwrap().push(sql);
        }
    });
    let page = |condition| ListQuery {
        condition,
        sort: None,
        start: PageStart::Offset(20),
        limit: 100,
    };
    let user_name = |comparison, value: &str| {
        page(Condition::Compare(
            MemberField::UserName,
            comparison,
            Scalar::Text(value.into()),
        ))
    };
    type Read<'a> = Box<dyn Fn(&mut DbConnection) + 'a>;
    // What each read is, how to make it, and the indexes one of which its every statement must name
    // (none: any index, as long as no table is scanned).
    let reads: Vec<(&str, Read, &[&str])> = vec![
        (
            "native list and count",
            Box::new(|c| {
                storage::list_members(c, org, &storage::MemberFilter::default(), 20, 100).unwrap();
            }),
            &["members_org_id"],
        ),
        (
            "SCIM page and count",
            Box::new(|c| {
                storage::search_members(c, org, MemberKind::Person, &page(Condition::Always)).unwrap();
            }),
            &["members_scim_people"],
        ),
        (
            "SCIM userName eq",
            Box::new(|c| {
                storage::search_members(c, org, MemberKind::Person, &user_name(Comparison::Eq, "p1@example.com"))
                    .unwrap();
            }),
            &["members_org_user_name_ci"],
        ),
        (
            "SCIM userName sw",
            Box::new(|c| {
                storage::search_members(c, org, MemberKind::Person, &user_name(Comparison::StartsWith, "p1")).unwrap();
            }),
            &["members_org_user_name_ci"],
        ),
        (
            "a member by id",
            Box::new(|c| {
                storage::find_member(c, org, ids[1]).unwrap();
            }),
            &["sqlite_autoindex_members_1"],
        ),
        (
            "a member with its latest invitation",
            Box::new(|c| {
                storage::find_member_with_invitation(c, org, ids[1]).unwrap();
            }),
            &["sqlite_autoindex_members_1", "members_org_id"],
        ),
        (
            "closing a member's open invitations (a write)",
            Box::new(|c| {
                let closed =
                    storage::close_open_invitations(c, org, ids[2], "CANCELLED", roster::domain::now()).unwrap();
                assert_eq!(closed, 1);
            }),
            // Not the outbox's status index: every pending e-mail has that status.
            &[
                "invitations_org_member",
                "sqlite_autoindex_invitations_1",
                "email_outbox_invitation",
            ],
        ),
        (
            "the audit log",
            Box::new(|c| {
                let query = AuditQuery {
                    member_id: None,
                    from: None,
                    to: None,
                    offset: 0,
                    limit: 100,
                };
                storage::list_audit_events(c, org, &query).unwrap();
            }),
            &["audit_events_org_"],
        ),
        (
            "a group's members",
            Box::new(|c| {
                storage::list_group_members(c, org, roster::domain::GroupId::new()).unwrap();
            }),
            &[],
        ),
    ];
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    for (name, read, indexes) in reads {
        sent.lock().unwrap().clear();
        read(&mut conn);
        let statements: Vec<String> = sent.lock().unwrap().drain(..).collect();
        let selects: Vec<&String> = statements
            .iter()
            .filter(|s| {
                ["SELECT", "UPDATE", "DELETE"]
                    .iter()
                    .any(|verb| s.trim_start().starts_with(verb))
            })
            .collect();
        assert!(!selects.is_empty(), "{name}: no SELECT was sent ({statements:?})");
        for sql in selects {
            let plan: Vec<Step> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(&mut conn)
                .unwrap();
            let plan: Vec<String> = plan.into_iter().map(|s| s.detail).collect();
            sent.lock().unwrap().clear();
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN ")),
                "{name} scans a table:\n{sql}\n{plan:#?}"
            );
            if !indexes.is_empty() {
                assert!(
                    plan.iter().any(|step| indexes.iter().any(|index| step.contains(index))),
                    "{name} does not use any of {indexes:?}:\n{sql}\n{plan:#?}"
                );
            }
        }
    }
}

both_backends!(
    migrations_apply_from_empty,
    concurrent_migrations_wait_and_then_find_nothing_to_do,
    user_names_are_unique_per_organization_ignoring_case,
    no_storage_function_reads_across_organizations,
    a_failed_write_leaves_nothing_behind,
    concurrent_writers_keep_exactly_their_own_changes,
    changed_tables_are_analyzed,
);
