//! Group commit for the audit rows of reads, on SQLite.
//!
//! A read that is audited (the native API's `team_member.get`, `team_member.list`, an audit-log read)
//! changes nothing but its own audit row. Giving each of those rows a write transaction of its own
//! makes every read queue for SQLite's single writer. Here the rows of reads that arrive together
//! share one transaction: the first caller to find no transaction under way writes every row queued
//! so far, and the others wait until theirs is committed. No caller answers before its row is
//! committed, so the read audit stays as complete as before; only the number of transactions
//! changes. (PostgreSQL writes concurrently: there a read and its row share one transaction.)

use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::domain::audit::{AuditContext, NewAuditEvent};

use super::{Database, StorageError, StorageResult};

/// What a queued row's writer reports back to the caller who queued it.
type Outcome = Arc<OnceLock<Result<(), String>>>;

struct Queued {
    context: AuditContext,
    event: NewAuditEvent,
    outcome: Outcome,
}

#[derive(Default)]
struct State {
    queue: Vec<Queued>,
    /// A caller is writing a batch: the rows queued meanwhile wait for the next one.
    writing: bool,
}

/// Rows queued for the next shared transaction. One per [`Database`], shared by its clones.
#[derive(Default)]
pub(super) struct AuditGroupCommit {
    state: Mutex<State>,
    committed: Condvar,
}

impl AuditGroupCommit {
    /// Writes `event` in a transaction shared with the rows of concurrent callers, and returns once
    /// it is committed (or has failed).
    pub(super) fn append(&self, db: &Database, context: &AuditContext, event: NewAuditEvent) -> StorageResult<()> {
        let outcome: Outcome = Arc::default();
        let mut state = self.lock();
        state.queue.push(Queued {
            context: context.clone(),
            event,
            outcome: outcome.clone(),
        });
        loop {
            if let Some(result) = outcome.get() {
                return result.clone().map_err(StorageError::Shared);
            }
            if state.writing {
                state = self
                    .committed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            // Nobody is writing: this caller writes everything queued, its own row included.
            state.writing = true;
            let batch = std::mem::take(&mut state.queue);
            drop(state);
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write_batch(db, &batch)));
            if written.is_err() {
                for queued in &batch {
                    let _ = queued.outcome.set(Err("the audit writer panicked".into()));
                }
            }
            state = self.lock();
            state.writing = false;
            self.committed.notify_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a queue and a flag, both left consistent at every unlock.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One transaction for the whole batch; if it fails, each row is tried on its own, so that one bad
/// row fails only the read it belongs to.
fn write_batch(db: &Database, batch: &[Queued]) {
    let all = db.write(|conn| {
        let now = crate::domain::now();
        for queued in batch {
            super::insert_audit_event(conn, &queued.context, &queued.event, now)?;
        }
        Ok::<_, StorageError>(())
    });
    if all.is_ok() || batch.len() == 1 {
        let result = all.map_err(|e| error_text(&e));
        for queued in batch {
            let _ = queued.outcome.set(result.clone());
        }
        return;
    }
    for queued in batch {
        let one = db.write(|conn| {
            super::insert_audit_event(conn, &queued.context, &queued.event, crate::domain::now()).map(|_| ())
        });
        let _ = queued.outcome.set(one.map_err(|e| error_text(&e)));
    }
}

/// The error with its chain, for the log line of the read that failed.
fn error_text(error: &StorageError) -> String {
    let mut text = format!("audit row not written: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
