//! Group commit for SQLite's single writer.
//!
//! SQLite commits one write transaction at a time, and committing costs more than most of the
//! requests it carries: every page the transaction touched is appended to the WAL again, and every
//! thousand pages the WAL is checkpointed into the database file. A `POST /Users` touches about
//! twenty-five b-trees, so writers queued behind each other kept writing the same index pages to
//! the WAL over and over.
//!
//! Here writers that arrive while another one is writing share its transaction. Each runs its own
//! work inside a savepoint, so a refusal or a panic undoes its own changes and nobody else's. The
//! transaction is committed by the writer that finds nobody queued behind it (or the batch full),
//! and every writer whose work is in it waits for that commit before it answers: a writer whose own
//! work succeeded but whose shared commit failed gets the error, and nothing of its work is kept.
//! So each caller sees exactly what a transaction of its own would have given it; only the number
//! of commits changes. (PostgreSQL writes concurrently and commits each transaction on its own.)

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use diesel::connection::{Connection, TransactionManager};

use super::connection::{DbConnection, PooledDb, begin_immediate};
use super::{Database, StorageError};

/// Writers in one transaction at most: bounds how long the first of them waits for its answer.
const MAX_MEMBERS: usize = 64;

type Manager = <DbConnection as Connection>::TransactionManager;

/// The writer side of one SQLite database. One per [`Database`], shared by its clones.
#[derive(Default)]
pub(super) struct WriteGroup {
    /// Held by the writer whose work is running: it is SQLite's single writer, queued here rather
    /// than in SQLite's busy handler, whose sleeps would otherwise set the pace under load.
    slot: Mutex<Slot>,
    /// Writers that have arrived and wait for the slot: while there are any, the open transaction
    /// is left open for them.
    queued: AtomicUsize,
}

#[derive(Default)]
struct Slot {
    open: Option<OpenTransaction>,
}

struct OpenTransaction {
    conn: PooledDb,
    members: usize,
    commit: Arc<CommitOutcome>,
}

/// How the commit of one shared transaction ended, for the writers that wait on it.
#[derive(Default)]
struct CommitOutcome {
    result: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

impl CommitOutcome {
    fn publish(&self, result: Result<(), String>) {
        *lock(&self.result) = Some(result);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut result = lock(&self.result);
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            result = self.done.wait(result).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// How one writer's own work ended.
enum Ran<T, E> {
    Done(T),
    Refused(E),
    Panicked(Box<dyn std::any::Any + Send>),
}

impl WriteGroup {
    /// Runs `f` as one writer of a shared transaction (see the module text) and returns its result
    /// once the transaction that carries its changes is committed.
    pub(super) fn write<T, E>(&self, db: &Database, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut slot = lock(&self.slot);
        self.queued.fetch_sub(1, Ordering::SeqCst);

        let first = slot.open.is_none();
        if first {
            let mut conn = db.get().map_err(E::from)?;
            begin_immediate(&mut conn).map_err(E::from)?;
            slot.open = Some(OpenTransaction {
                conn,
                members: 0,
                commit: Arc::default(),
            });
        }
        let open = slot.open.as_mut().expect("a transaction is open");
        open.members += 1;
        let commit = open.commit.clone();

        // The first writer needs no savepoint: if its work fails, the transaction holds nothing else.
        let savepoint = if first {
            Ok(())
        } else {
            Manager::begin_transaction(&mut open.conn)
        };
        let ran = match savepoint {
            Ok(()) => match catch_unwind(AssertUnwindSafe(|| f(&mut open.conn))) {
                Ok(Ok(value)) => Ran::Done(value),
                Ok(Err(refused)) => Ran::Refused(refused),
                Err(panic) => Ran::Panicked(panic),
            },
            Err(e) => {
                // Not even a savepoint could be opened: the connection is unusable.
                fail_transaction(&mut slot, &format!("could not open a savepoint: {e}"));
                return Err(E::from(StorageError::from(e)));
            }
        };

        // Keep or undo this writer's own changes.
        let ended = match (&ran, first) {
            (Ran::Done(_), true) => Ok(()),
            (Ran::Done(_), false) => Manager::commit_transaction(&mut open.conn),
            (_, true) => {
                // Nobody else is in the transaction: end it here.
                let undone = Manager::rollback_transaction(&mut open.conn);
                slot.open = None;
                undone
            }
            (_, false) => Manager::rollback_transaction(&mut open.conn),
        };
        if let Err(e) = ended {
            // SQLite rolled the whole transaction back (an I/O error, a full disk): the other
            // writers' changes are gone with it, and they are told so.
            fail_transaction(&mut slot, &format!("the shared write transaction was lost: {e}"));
            return match ran {
                Ran::Panicked(panic) => resume_unwind(panic),
                Ran::Refused(refused) => Err(refused),
                Ran::Done(_) => Err(E::from(StorageError::from(e))),
            };
        }

        // Commit now unless other writers are waiting to join.
        let committed_here = match slot.open.as_ref() {
            Some(open) if self.queued.load(Ordering::SeqCst) == 0 || open.members >= MAX_MEMBERS => {
                Some(commit_transaction(&mut slot))
            }
            _ => None,
        };
        drop(slot);

        match ran {
            Ran::Panicked(panic) => resume_unwind(panic),
            Ran::Refused(refused) => Err(refused),
            Ran::Done(value) => {
                let outcome = committed_here.unwrap_or_else(|| commit.wait());
                outcome
                    .map(|()| value)
                    .map_err(|text| E::from(StorageError::Shared(text)))
            }
        }
    }
}

/// Commits the open transaction and tells its writers how that went.
fn commit_transaction(slot: &mut Slot) -> Result<(), String> {
    let mut open = slot.open.take().expect("a transaction is open");
    let result = Manager::commit_transaction(&mut open.conn).map_err(|e| {
        let _ = Manager::rollback_transaction(&mut open.conn);
        let error = StorageError::from(e);
        format!(
            "the shared write transaction failed to commit: {}",
            crate::telemetry::error_chain(&error)
        )
    });
    open.commit.publish(result.clone());
    result
}

/// Rolls the open transaction back as far as the connection still allows and fails its writers.
/// A connection left inside a transaction is discarded by the pool when it comes back.
fn fail_transaction(slot: &mut Slot, why: &str) {
    if let Some(mut open) = slot.open.take() {
        while Manager::rollback_transaction(&mut open.conn).is_ok() {}
        open.commit.publish(Err(why.to_owned()));
    }
}

/// Every lock here guards state that is consistent at each unlock, and no user code runs while a
/// guard could be poisoned (the writers' work runs under `catch_unwind`).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
