//! Sessions on disk: one JSON file per account in an owner-only directory, written atomically
//! (temporary file, fsync, rename, fsync of the directory) under an advisory lock, holding only
//! encrypted keys.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stark_sessions_abi::{Call, Felt};

use crate::error::SessionError;
use crate::session::Session;

const FILE_VERSION: u32 = 1;
/// Every temporary file the store writes starts so (and ends with [`TMP_SUFFIX`]): the store
/// cleans those and nothing else.
const TMP_PREFIX: &str = ".stark-sessions-tmp.";
const TMP_SUFFIX: &str = ".tmp";
/// The advisory lock file every writer holds (`flock`, exclusive) while it reads, changes and
/// replaces a file or cleans up: two processes saving at once both keep their sessions.
pub const LOCK_FILE: &str = ".stark-sessions.lock";

#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountFile {
    version: u32,
    sessions: Vec<Session>,
}

/// A directory of sessions.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
}

fn store_error(what: &str, path: &Path, e: impl std::fmt::Display) -> SessionError {
    SessionError::Store(format!("{what} {}: {e}", path.display()))
}

/// Where a write stops, to prove that an interrupted write loses nothing.
#[derive(Debug, Clone, Copy)]
enum Interrupt {
    Never,
    // Only the tests interrupt a write.
    #[cfg_attr(not(test), allow(dead_code))]
    AfterBytes(usize),
}

/// The store's write lock, held until dropped (closing the file releases it).
struct WriteLock {
    _file: File,
}

fn is_own_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TMP_PREFIX) && n.ends_with(TMP_SUFFIX))
}

impl SessionStore {
    /// Opens the store at `dir`, and clears the temporary files an interrupted write of the
    /// store left behind (only those: names starting `.stark-sessions-tmp.`). A directory that
    /// does not exist is created owner-only (0700, as are missing parents); an existing one
    /// keeps its permissions — the files the store writes are 0600 either way.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SessionError> {
        let dir = dir.into();
        if !dir.is_dir() {
            create_private_dir(&dir)?;
        }
        let store = SessionStore { dir };
        let _lock = store.lock()?;
        for entry in store.entries()? {
            if is_own_temporary(&entry) {
                fs::remove_file(&entry).map_err(|e| store_error("cannot remove", &entry, e))?;
            }
        }
        Ok(store)
    }

    /// Takes the store's write lock, waiting for another writer (in this process or another)
    /// to finish.
    fn lock(&self) -> Result<WriteLock, SessionError> {
        let path = self.dir.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        lock_exclusive(&file).map_err(|e| store_error("cannot lock", &path, e))?;
        Ok(WriteLock { _file: file })
    }

    /// The default location: `$STARK_SESSIONS_HOME/sessions`, else `~/.stark-sessions/sessions`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("STARK_SESSIONS_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".stark-sessions")))
            .unwrap_or_else(|| PathBuf::from(".stark-sessions"))
            .join("sessions")
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entries(&self) -> Result<Vec<PathBuf>, SessionError> {
        let read = fs::read_dir(&self.dir).map_err(|e| store_error("cannot read", &self.dir, e))?;
        let mut paths = Vec::new();
        for entry in read {
            paths.push(
                entry
                    .map_err(|e| store_error("cannot read", &self.dir, e))?
                    .path(),
            );
        }
        paths.sort();
        Ok(paths)
    }

    fn path_of(&self, account: Felt) -> PathBuf {
        self.dir.join(format!("{account:#066x}.json"))
    }

    fn load(&self, path: &Path) -> Result<AccountFile, SessionError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AccountFile::default()),
            Err(e) => return Err(store_error("cannot read", path, e)),
        };
        let file: AccountFile = serde_json::from_slice(&bytes)
            .map_err(|e| store_error("is not a session file, left untouched:", path, e))?;
        if file.version != FILE_VERSION {
            return Err(store_error(
                "has an unknown version, left untouched:",
                path,
                file.version,
            ));
        }
        Ok(file)
    }

    fn write(
        &self,
        account: Felt,
        file: &AccountFile,
        interrupt: Interrupt,
    ) -> Result<(), SessionError> {
        let path = self.path_of(account);
        if file.sessions.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(store_error("cannot remove", &path, e))
                }
                _ => sync_dir(&self.dir),
            };
        }
        let bytes =
            serde_json::to_vec_pretty(file).map_err(|e| store_error("cannot encode", &path, e))?;
        let tmp = self.dir.join(format!(
            "{TMP_PREFIX}{account:#066x}.{:016x}{TMP_SUFFIX}",
            rand::random::<u64>()
        ));
        let mut out = create_private(&tmp)?;
        let cut = match interrupt {
            Interrupt::Never => bytes.len(),
            Interrupt::AfterBytes(n) => n.min(bytes.len()),
        };
        out.write_all(&bytes[..cut])
            .map_err(|e| store_error("cannot write", &tmp, e))?;
        if let Interrupt::AfterBytes(_) = interrupt {
            // What a crash leaves: a partial temporary file, the real one untouched.
            return Err(SessionError::Store("write interrupted".into()));
        }
        out.sync_all()
            .map_err(|e| store_error("cannot sync", &tmp, e))?;
        drop(out);
        fs::rename(&tmp, &path).map_err(|e| store_error("cannot replace", &path, e))?;
        sync_dir(&self.dir)
    }

    fn save_with(&self, session: &Session, interrupt: Interrupt) -> Result<(), SessionError> {
        let _lock = self.lock()?;
        let mut file = self.load(&self.path_of(session.account))?;
        file.version = FILE_VERSION;
        file.sessions
            .retain(|s| s.public_key() != session.public_key());
        file.sessions.push(session.clone());
        self.write(session.account, &file, interrupt)
    }

    /// Adds or replaces (by public key) a session.
    pub fn save(&self, session: &Session) -> Result<(), SessionError> {
        self.save_with(session, Interrupt::Never)
    }

    /// The sessions of `account`, oldest first.
    pub fn sessions_for(&self, account: Felt) -> Result<Vec<Session>, SessionError> {
        Ok(self.load(&self.path_of(account))?.sessions)
    }

    /// The session to use for `account`: the newest one not expired, else the newest.
    pub fn get(&self, account: Felt) -> Result<Session, SessionError> {
        let sessions = self.sessions_for(account)?;
        sessions
            .iter()
            .rev()
            .find(|s| !s.is_expired())
            .or_else(|| sessions.last())
            .cloned()
            .ok_or(SessionError::UnknownSession { account })
    }

    /// The session of `account` with this public key.
    pub fn get_key(&self, account: Felt, public_key: Felt) -> Result<Session, SessionError> {
        self.sessions_for(account)?
            .into_iter()
            .find(|s| s.public_key() == public_key)
            .ok_or(SessionError::UnknownSession { account })
    }

    /// Whether an unexpired session of `account` covers every call in `resources`.
    pub fn has_session_for(&self, account: Felt, resources: &[Call]) -> Result<bool, SessionError> {
        Ok(self
            .sessions_for(account)?
            .iter()
            .any(|s| !s.is_expired() && resources.iter().all(|call| s.allows(call))))
    }

    /// Every stored session.
    pub fn list(&self) -> Result<Vec<Session>, SessionError> {
        let mut all = Vec::new();
        for path in self.entries()? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("0x") && name.ends_with(".json") {
                all.extend(self.load(&path)?.sessions);
            }
        }
        Ok(all)
    }

    /// Forgets every session of `account`; false if there was none.
    pub fn remove(&self, account: Felt) -> Result<bool, SessionError> {
        let _lock = self.lock()?;
        let had = !self.sessions_for(account)?.is_empty();
        self.write(account, &AccountFile::default(), Interrupt::Never)?;
        Ok(had)
    }

    /// Forgets one session; false if there was no such session.
    pub fn remove_session(&self, account: Felt, public_key: Felt) -> Result<bool, SessionError> {
        let _lock = self.lock()?;
        let mut file = self.load(&self.path_of(account))?;
        let before = file.sessions.len();
        file.sessions.retain(|s| s.public_key() != public_key);
        if file.sessions.len() == before {
            return Ok(false);
        }
        file.version = FILE_VERSION;
        self.write(account, &file, Interrupt::Never)?;
        Ok(true)
    }
}

/// `options` made owner-only (0600) where the platform has file modes.
fn owner_only(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn create_private(path: &Path) -> Result<File, SessionError> {
    owner_only(OpenOptions::new().write(true).create_new(true))
        .open(path)
        .map_err(|e| store_error("cannot create", path, e))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), SessionError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| store_error("cannot create", dir, e))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), SessionError> {
    fs::create_dir_all(dir).map_err(|e| store_error("cannot create", dir, e))
}

fn open_lock_file(path: &Path) -> Result<File, SessionError> {
    owner_only(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(path)
    .map_err(|e| store_error("cannot open the lock file", path, e))
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive).map_err(Into::into)
}

// Elsewhere the store relies on its atomic renames alone.
#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), SessionError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| store_error("cannot sync", dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), SessionError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{create_session_key, unix_now};
    use std::time::Duration;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!(
            "stark-sessions-store-{:016x}",
            rand::random::<u64>()
        ))
    }

    fn session(account: u64, seconds: u64) -> Session {
        Session {
            account: Felt::from(account),
            chain_id: starknet::core::chain_id::SEPOLIA,
            key: create_session_key("482193", Duration::from_secs(seconds)).expect("key"),
            max_calls: 10,
            allowed_entrypoints: vec![Felt::from(0x11u8)],
            targets: vec![],
            spending_limits: vec![],
            limits: Default::default(),
            created_at: unix_now(),
            grant: None,
        }
    }

    #[test]
    fn sessions_are_saved_listed_found_and_removed() {
        let dir = temp_dir();
        let store = SessionStore::open(&dir).expect("store");
        let (a1, a2, b) = (session(0xa, 3600), session(0xa, 7200), session(0xb, 3600));
        for s in [&a1, &a2, &b] {
            store.save(s).expect("saved");
        }
        assert_eq!(store.list().expect("list").len(), 3);
        assert_eq!(store.get(Felt::from(0xau8)).expect("a"), a2);
        assert_eq!(
            store
                .get_key(Felt::from(0xau8), a1.public_key())
                .expect("a1"),
            a1
        );
        let play = Call {
            to: Felt::from(0x9a3eu32),
            selector: Felt::from(0x11u8),
            calldata: vec![],
        };
        assert!(store
            .has_session_for(Felt::from(0xau8), std::slice::from_ref(&play))
            .expect("has"));
        let other = Call {
            selector: Felt::TWO,
            ..play
        };
        assert!(!store
            .has_session_for(Felt::from(0xau8), &[other])
            .expect("has"));
        assert!(store.remove(Felt::from(0xau8)).expect("removed"));
        assert!(!store.remove(Felt::from(0xau8)).expect("already gone"));
        assert_eq!(
            store.get(Felt::from(0xau8)).expect_err("gone").code(),
            "SESSION_NOT_FOUND"
        );
        assert!(store
            .remove_session(b.account, b.public_key())
            .expect("one"));
        assert!(store.list().expect("list").is_empty());
        fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn the_store_is_owner_only_and_holds_no_plaintext_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let store = SessionStore::open(&dir).expect("store");
        let s = session(0xa, 3600);
        store.save(&s).expect("saved");
        let path = store.path_of(s.account);
        assert_eq!(
            fs::metadata(&dir).expect("dir").permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            fs::metadata(&path).expect("file").permissions().mode() & 0o777,
            0o600
        );
        let secret = crate::envelope::open(&s.key.encrypted_private_key, "482193").expect("opens");
        let on_disk = fs::read_to_string(&path).expect("read");
        let secret_hex = hex::encode(secret.to_bytes().as_ref());
        assert!(!on_disk.contains(&secret_hex));
        assert!(!on_disk.contains(secret_hex.trim_start_matches('0')));
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_interrupted_write_leaves_the_previous_content_intact() {
        let dir = temp_dir();
        let store = SessionStore::open(&dir).expect("store");
        let first = session(0xa, 3600);
        store.save(&first).expect("saved");
        let before = fs::read(store.path_of(first.account)).expect("read");
        let second = session(0xa, 7200);
        for cut in [0, 1, 100, before.len()] {
            assert!(store
                .save_with(&second, Interrupt::AfterBytes(cut))
                .is_err());
            assert_eq!(
                fs::read(store.path_of(first.account)).expect("read"),
                before
            );
            assert_eq!(
                store.sessions_for(first.account).expect("load"),
                vec![first.clone()]
            );
        }
        // Reopening clears what the interrupted writes left; the store still works.
        let leftovers = |store: &SessionStore| {
            store
                .entries()
                .expect("entries")
                .iter()
                .filter(|p| p.to_string_lossy().ends_with(TMP_SUFFIX))
                .count()
        };
        assert_eq!(leftovers(&store), 4);
        let store = SessionStore::open(&dir).expect("reopen");
        assert_eq!(leftovers(&store), 0);
        assert_eq!(store.list().expect("list"), vec![first.clone()]);
        store.save(&second).expect("saved");
        assert_eq!(store.sessions_for(first.account).expect("load").len(), 2);
        fs::remove_dir_all(dir).ok();
    }

    /// `count` sessions of one account with distinct keys (one envelope: PBKDF2 is slow).
    fn sessions_of(account: u64, count: u64, first_key: u64) -> Vec<Session> {
        let base = session(account, 3600);
        (0..count)
            .map(|i| {
                let mut s = base.clone();
                s.key.public_key = Felt::from(first_key + i);
                s
            })
            .collect()
    }

    #[test]
    fn two_concurrent_writers_keep_every_session() {
        let dir = temp_dir();
        SessionStore::open(&dir).expect("store");
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let writers: Vec<_> = [0x1000u64, 0x2000]
            .map(|first_key| sessions_of(0xa, 25, first_key))
            .into_iter()
            .map(|sessions| {
                let (dir, start) = (dir.clone(), start.clone());
                std::thread::spawn(move || {
                    // Each writer its own store, as two processes would have.
                    let store = SessionStore::open(&dir).expect("store");
                    start.wait();
                    for s in &sessions {
                        store.save(s).expect("saved");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        let store = SessionStore::open(&dir).expect("store");
        let mut keys: Vec<Felt> = store
            .sessions_for(Felt::from(0xau8))
            .expect("load")
            .iter()
            .map(Session::public_key)
            .collect();
        keys.sort();
        let mut expected: Vec<Felt> = (0..25u64)
            .flat_map(|i| [Felt::from(0x1000 + i), Felt::from(0x2000 + i)])
            .collect();
        expected.sort();
        assert_eq!(keys, expected, "no write lost another's session");
        fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_writer_waits_while_another_holds_the_lock() {
        let dir = temp_dir();
        let store = SessionStore::open(&dir).expect("store");
        let s = session(0xa, 3600);
        let held = store.lock().expect("lock");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let writer = {
            let dir = dir.clone();
            let s = s.clone();
            std::thread::spawn(move || {
                let result = SessionStore::open(&dir).and_then(|other| other.save(&s));
                done_tx.send(result.is_ok()).expect("send");
            })
        };
        assert!(
            done_rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the writer went on while the lock was held"
        );
        assert!(store.sessions_for(s.account).expect("load").is_empty());
        drop(held);
        assert!(done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer finished once the lock was free"));
        writer.join().expect("writer");
        assert_eq!(store.sessions_for(s.account).expect("load"), vec![s]);
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn only_the_store_s_own_temporary_files_are_cleaned() {
        let dir = temp_dir();
        let store = SessionStore::open(&dir).expect("store");
        let s = session(0xa, 3600);
        store.save(&s).expect("saved");
        assert!(store
            .save_with(&sessions_of(0xa, 1, 0x77)[0], Interrupt::AfterBytes(10))
            .is_err());
        let others = ["notes.tmp", ".editor-swap.tmp", "0xabc.json.tmp"];
        for name in others {
            fs::write(dir.join(name), b"not ours").expect("write");
        }
        let ours = |store: &SessionStore| {
            store
                .entries()
                .expect("entries")
                .iter()
                .filter(|p| is_own_temporary(p))
                .count()
        };
        assert_eq!(ours(&store), 1);
        let store = SessionStore::open(&dir).expect("reopen");
        assert_eq!(ours(&store), 0, "the interrupted write's file is gone");
        for name in others {
            assert_eq!(
                fs::read(dir.join(name)).expect("still there"),
                b"not ours",
                "{name}"
            );
        }
        assert_eq!(store.list().expect("list"), vec![s]);
        fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_named_directory_keeps_its_permissions_and_a_new_one_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        // The user's own directory, shared read-only with the group: left as it is.
        let named = temp_dir();
        fs::create_dir(&named).expect("mkdir");
        fs::set_permissions(&named, fs::Permissions::from_mode(0o750)).expect("chmod");
        let store = SessionStore::open(&named).expect("store");
        let s = session(0xa, 3600);
        store.save(&s).expect("saved");
        assert_eq!(mode(&named), 0o750);
        assert_eq!(mode(&store.path_of(s.account)), 0o600);
        assert_eq!(mode(&named.join(LOCK_FILE)), 0o600);
        // A directory the store creates, parents included, is owner-only.
        let fresh = temp_dir();
        let nested = fresh.join("home").join("sessions");
        SessionStore::open(&nested).expect("store");
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&nested), 0o700);
        fs::remove_dir_all(named).ok();
        fs::remove_dir_all(fresh).ok();
    }

    #[test]
    fn a_damaged_file_is_an_error_and_is_left_alone() {
        let dir = temp_dir();
        let store = SessionStore::open(&dir).expect("store");
        let s = session(0xa, 3600);
        let path = store.path_of(s.account);
        fs::write(&path, b"{ not json").expect("write");
        let e = store.save(&s).expect_err("refused");
        assert_eq!(e.code(), "SESSION_STORE_ERROR");
        assert!(e.to_string().contains("left untouched"));
        assert_eq!(fs::read(&path).expect("read"), b"{ not json");
        fs::remove_dir_all(dir).ok();
    }
}
