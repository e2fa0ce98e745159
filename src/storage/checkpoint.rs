//! Checkpoints SQLite's write-ahead log from a thread of its own.
//!
//! By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: that commit
//! copies the log into the database file and waits for two `fsync`s while it still holds the write
//! lock, and every writer queued behind it waits too. Under a stream of writes that was dozens of
//! stalls a second, each adding to the single writer's serial path.
//!
//! Here a thread with its own connection runs a passive checkpoint every
//! [`CHECKPOINT_INTERVAL`]: it copies what is committed into the database file beside the writer,
//! never blocking it. The commits' own checkpoint stays as a backstop at [`BACKSTOP_PAGES`]: it
//! bounds the log should this thread fall behind, and since it finds most frames copied already it
//! has little left to do. Durability is unchanged: a commit is in the log either way.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::connection::{DatabaseUrl, DbConnection};

/// How often the background checkpoint runs.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

/// The log size (pages of 4 KiB) at which a commit checkpoints by itself (SQLite's
/// `wal_autocheckpoint`; its default is 1,000).
pub const BACKSTOP_PAGES: u32 = 4_096;

/// The background checkpoint of one SQLite database; stops when dropped.
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(url: &DatabaseUrl) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let url = url.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&url, &signal))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(url: &DatabaseUrl, stop: &(Mutex<bool>, Condvar)) {
    let mut conn: Option<DbConnection> = None;
    let (stopped, wake) = stop;
    let mut stopped = stopped.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        stopped = wake
            .wait_timeout(stopped, CHECKPOINT_INTERVAL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        if *stopped {
            return;
        }
        // Connected on first use and again after an error; until then the commits' backstop
        // checkpoint keeps the log bounded.
        let result = match conn.as_mut() {
            Some(c) => c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)"),
            None => match url.connect() {
                Ok(c) => {
                    conn = Some(c);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&e), "background checkpoint: cannot connect");
                    continue;
                }
            },
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "background checkpoint failed");
            conn = None;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
