//! The device: one local store per (server, user), and the little the device itself remembers
//! — who is signed in now, and which token (by fingerprint) names which user — so that a person signing in after
//! another never sees, answers or syncs the other's tasks, and each person's pending answers
//! wait in their own store until they come back.
//!
//! Layout under the home directory (0700):
//! ```text
//! device.db                         who is signed in; token fingerprints → user ids
//! stores/<server>/user-<id>/client.db   one person's leases, outbox and cursor
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::local::{LocalResult, LocalStore};

const MIGRATIONS: &[&str] = &[include_str!("../migrations/device/0001_device.sql")];

/// What the device remembers of one user of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub server: String,
    pub user_id: i64,
    pub name: String,
}

pub struct Device {
    home: PathBuf,
    conn: Mutex<Connection>,
}

impl Device {
    /// Opens the device's records in `home` (created, owner-only, if needed).
    pub fn open(home: &Path) -> LocalResult<Self> {
        tessera_sqlite::private_dir(home)?;
        let conn = tessera_sqlite::open(&home.join("device.db"), MIGRATIONS)?;
        Ok(Self {
            home: home.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> LocalResult<R> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(&conn)?)
    }

    pub fn meta(&self, key: &str) -> LocalResult<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    pub fn set_meta(&self, key: &str, value: &str) -> LocalResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map(drop)
        })
    }

    pub fn delete_meta(&self, key: &str) -> LocalResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM meta WHERE key = ?1", [key])
                .map(drop)
        })
    }

    /// Remembers that `token` names `account` (only a fingerprint of the token is kept).
    pub fn remember(&self, token: &str, account: &Account) -> LocalResult<()> {
        let key = fingerprint(&account.server, token);
        self.with(|c| {
            c.execute(
                "INSERT INTO accounts (token_key, server, user_id, name) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (token_key) DO UPDATE SET user_id = ?3, name = ?4",
                params![key, account.server, account.user_id, account.name],
            )
            .map(drop)
        })
    }

    /// The account `token` named on `server` when it was last used here, if it was.
    pub fn account(&self, server: &str, token: &str) -> LocalResult<Option<Account>> {
        let key = fingerprint(server, token);
        self.with(|c| {
            c.query_row(
                "SELECT server, user_id, name FROM accounts WHERE token_key = ?1",
                [key],
                |r| {
                    Ok(Account {
                        server: r.get(0)?,
                        user_id: r.get(1)?,
                        name: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Where `user_id` of `server` keeps their store.
    pub fn store_path(&self, server: &str, user_id: i64) -> PathBuf {
        self.home
            .join("stores")
            .join(server_dir(server))
            .join(format!("user-{user_id}"))
            .join("client.db")
    }

    /// Opens the store of `user_id` on `server` (created if needed). The first time, a store
    /// from before stores were kept per person (`home/client.db`) becomes this person's when
    /// it was signed in with the same server and `token`; any other person's stays put.
    pub fn open_store(&self, server: &str, user_id: i64, token: &str) -> LocalResult<LocalStore> {
        let path = self.store_path(server, user_id);
        if let Some(dir) = path.parent() {
            tessera_sqlite::private_dir(dir)?;
        }
        if !path.exists() {
            self.adopt_shared_store(server, token, &path)?;
        }
        LocalStore::open(&path)
    }

    fn adopt_shared_store(&self, server: &str, token: &str, to: &Path) -> LocalResult<()> {
        let shared = self.home.join("client.db");
        if !shared.exists() {
            return Ok(());
        }
        let owner = {
            let store = LocalStore::open(&shared)?;
            (store.meta("server")?, store.meta("token")?)
        };
        if owner != (Some(server.to_owned()), Some(token.to_owned())) {
            return Ok(());
        }
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", shared.display()));
            if from.exists() {
                let dest = PathBuf::from(format!("{}{suffix}", to.display()));
                std::fs::rename(&from, &dest).map_err(|e| {
                    rusqlite::Error::InvalidPath(PathBuf::from(format!(
                        "moving {} to {}: {e}",
                        from.display(),
                        dest.display()
                    )))
                })?;
            }
        }
        tracing::info!(store = %to.display(), "the device's shared store now belongs to its owner");
        Ok(())
    }
}

/// A fingerprint of a token on a server: the device never keeps other people's tokens.
fn fingerprint(server: &str, token: &str) -> String {
    let digest = Sha256::digest(format!("{server}\n{}", token.trim()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A folder name for a server URL: readable, and distinct for distinct URLs.
fn server_dir(server: &str) -> String {
    let readable: String = server
        .split("://")
        .last()
        .unwrap_or(server)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let digest = Sha256::digest(server.as_bytes());
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{readable}-{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_person_of_each_server_has_a_store_of_their_own() {
        let home = tempfile::tempdir().expect("tempdir");
        let device = Device::open(home.path()).expect("open");
        let a = device.store_path("http://127.0.0.1:7450", 1);
        let b = device.store_path("http://127.0.0.1:7450", 2);
        let c = device.store_path("https://127.0.0.1:7450", 1);
        assert!(a != b && a != c && b != c, "{a:?} {b:?} {c:?}");
        assert!(a.starts_with(home.path()));
    }

    #[test]
    fn a_token_is_remembered_by_fingerprint_only() {
        let home = tempfile::tempdir().expect("tempdir");
        let device = Device::open(home.path()).expect("open");
        let account = Account {
            server: "http://h:1".into(),
            user_id: 7,
            name: "ann".into(),
        };
        device.remember("secret-token", &account).expect("remember");
        assert_eq!(
            device.account("http://h:1", " secret-token\n").expect("q"),
            Some(account)
        );
        assert_eq!(
            device.account("http://h:2", "secret-token").expect("q"),
            None
        );
        assert_eq!(device.account("http://h:1", "other").expect("q"), None);
        for file in ["device.db", "device.db-wal"] {
            let raw = std::fs::read(home.path().join(file)).unwrap_or_default();
            assert!(
                !raw.windows(12).any(|w| w == b"secret-token"),
                "the token itself is not stored in {file}"
            );
        }
    }

    #[test]
    fn the_old_shared_store_goes_to_the_person_it_was_signed_in_as_and_no_one_else() {
        let home = tempfile::tempdir().expect("tempdir");
        {
            let shared = LocalStore::open(&home.path().join("client.db")).expect("shared");
            shared.set_meta("server", "http://h:1").expect("meta");
            shared.set_meta("token", "tok-a").expect("meta");
            shared.set_meta("cursor", "42").expect("meta");
        }
        let device = Device::open(home.path()).expect("open");
        let other = device.open_store("http://h:1", 2, "tok-b").expect("b");
        assert_eq!(other.cursor().expect("cursor"), 0, "not another's store");
        assert!(home.path().join("client.db").exists());
        let owner = device.open_store("http://h:1", 1, "tok-a").expect("a");
        assert_eq!(owner.cursor().expect("cursor"), 42);
        assert!(!home.path().join("client.db").exists());
    }
}
