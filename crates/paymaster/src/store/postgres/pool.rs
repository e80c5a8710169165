//! Connections to PostgreSQL, each owned by an OS thread of its own.
//!
//! The [`Store`](crate::store::Store) trait is synchronous and is called on tokio worker
//! threads, where the synchronous `postgres` client may not run (it drives a runtime of its
//! own, and a runtime cannot be started inside another). So a [`Pool`] starts a few plain
//! threads; each holds one connection and takes work from a shared channel. A caller sends its
//! work and blocks on the answer, as an SQLite caller blocks on that store's mutex. A thread
//! connects on its first piece of work and again after its connection broke.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::tls::RustlsConnect;
use crate::error::PaymasterError;

/// How long a connection attempt may take unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Work for a connection thread.
type Job = Box<dyn FnOnce(&mut Slot) + Send>;

/// A fixed set of connection threads.
pub(super) struct Pool {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

/// How each connection is made.
#[derive(Clone)]
pub(super) struct Connect {
    /// The driver's configuration (its `sslmode` set from ours).
    pub config: Config,
    /// The TLS connector; `None` for `sslmode=disable`.
    pub tls: Option<RustlsConnect>,
    /// `statement_timeout`, set on each connection once made.
    pub statement_timeout: Option<Duration>,
}

impl Connect {
    fn client(&self) -> Result<Client, postgres::Error> {
        let mut client = match &self.tls {
            None => self.config.connect(NoTls)?,
            Some(tls) => self.config.connect(tls.clone())?,
        };
        if let Some(timeout) = self.statement_timeout {
            client.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))?;
        }
        Ok(client)
    }
}

/// One thread's connection (none until needed, or after it broke).
struct Slot {
    connect: Connect,
    /// The server, redacted, for errors.
    label: String,
    client: Option<Client>,
}

/// A storage failure, with the driver's cause (which never holds the password).
pub(crate) fn storage_error(e: &postgres::Error) -> PaymasterError {
    let cause = e
        .as_db_error()
        .map(|db| format!(": {}: {}", db.code().code(), db.message()))
        .or_else(|| std::error::Error::source(e).map(|s| format!(": {s}")))
        .unwrap_or_default();
    PaymasterError::Unknown(format!("storage: {e}{cause}"))
}

impl Slot {
    /// Runs `f` on the connection, connecting first if needed.
    fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, PaymasterError>,
    ) -> Result<T, PaymasterError> {
        let client = match &mut self.client {
            Some(client) => client,
            empty => {
                let client = self.connect.client().map_err(|e| {
                    let why = storage_error(&e);
                    PaymasterError::Unknown(format!("{why} (server {})", self.label))
                })?;
                empty.insert(client)
            }
        };
        let out = f(client);
        if client.is_closed() {
            self.client = None;
        }
        out
    }
}

fn serve(mut slot: Slot, jobs: Arc<Mutex<Receiver<Job>>>) {
    loop {
        // One idle thread waits on the channel; the others wait for the lock.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if catch_unwind(AssertUnwindSafe(|| job(&mut slot))).is_err() {
            // The caller hears of the panic through its dropped reply; start afresh.
            slot.client = None;
        }
    }
}

impl Pool {
    /// Starts `size` connection threads for the server of `connect` (`label` names it,
    /// without the password, in errors).
    pub fn start(mut connect: Connect, size: usize, label: String) -> Result<Pool, PaymasterError> {
        if connect.config.get_connect_timeout().is_none() {
            connect.config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..size.max(1))
            .map(|i| {
                let slot = Slot {
                    connect: connect.clone(),
                    label: label.clone(),
                    client: None,
                };
                let jobs = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("paymaster-postgres-{i}"))
                    .spawn(move || serve(slot, jobs))
                    .map_err(|e| PaymasterError::Unknown(format!("storage: thread: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Pool {
            jobs: Some(sender),
            threads,
        })
    }

    /// Runs `f` on some connection and waits for its result.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, PaymasterError> + Send + 'static,
    ) -> Result<T, PaymasterError> {
        let stopped = || PaymasterError::Unknown("storage: the connection thread stopped".into());
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |slot: &mut Slot| {
            let _ = reply.send(slot.run(f));
        });
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends each thread after its current work; its connection closes.
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
