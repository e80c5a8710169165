//! Sessions on disk: one JSON file per account in an owner-only directory, written atomically
//! (temporary file, fsync, rename, fsync of the directory), holding only encrypted keys.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stark_sessions_abi::{Call, Felt};

use crate::error::SessionError;
use crate::session::Session;

const FILE_VERSION: u32 = 1;
const TMP_SUFFIX: &str = ".tmp";

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

impl SessionStore {
    /// Opens (creating it, mode 0700) the store at `dir`, and clears temporary files that an
    /// interrupted write left behind.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SessionError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| store_error("cannot create", &dir, e))?;
        restrict(&dir, 0o700)?;
        let store = SessionStore { dir };
        for entry in store.entries()? {
            if entry.to_string_lossy().ends_with(TMP_SUFFIX) {
                fs::remove_file(&entry).map_err(|e| store_error("cannot remove", &entry, e))?;
            }
        }
        Ok(store)
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
            ".{account:#066x}.{:016x}{TMP_SUFFIX}",
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
        let had = !self.sessions_for(account)?.is_empty();
        self.write(account, &AccountFile::default(), Interrupt::Never)?;
        Ok(had)
    }

    /// Forgets one session; false if there was no such session.
    pub fn remove_session(&self, account: Felt, public_key: Felt) -> Result<bool, SessionError> {
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

#[cfg(unix)]
fn create_private(path: &Path) -> Result<File, SessionError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| store_error("cannot create", path, e))
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> Result<File, SessionError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| store_error("cannot create", path, e))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), SessionError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| store_error("cannot restrict permissions of", path, e))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<(), SessionError> {
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
            key: create_session_key("4821", Duration::from_secs(seconds)).expect("key"),
            max_calls: 10,
            allowed_entrypoints: vec![Felt::from(0x11u8)],
            targets: vec![],
            spending_limits: vec![],
            created_at: unix_now(),
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
        let secret = crate::envelope::open(&s.key.encrypted_private_key, "4821").expect("opens");
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
