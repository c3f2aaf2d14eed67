//! Opening an embedded SQLite database the way Tessera needs it, server and device alike.
//!
//! Durability: WAL with `synchronous = FULL`, so a transaction that returned survives a process
//! kill and a power loss (NORMAL would keep the database consistent but could drop the last
//! acknowledged answers on power loss). The server's writer switches to NORMAL and syncs the
//! log itself, off its thread, before any reply (see `tessera-server`'s SQLite store).
//! Migrations are numbered SQL texts embedded in the binary; `PRAGMA user_version` records how
//! many ran, each in its own transaction.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// Opens (creating if needed) the database at `path` and brings it up to date. The file is
/// readable by its owner only (0600; SQLite gives its `-wal` and `-shm` files the same mode),
/// and so is a file made before that rule.
pub fn open(path: &Path, migrations: &[&str]) -> rusqlite::Result<Connection> {
    owner_only_file(path).map_err(|e| io_error(path, &e))?;
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // One plan per statement whatever its bound values. Without this SQLite marks some
    // parameters (an `= ?` term on a 0/1 value, a `LIMIT ?`) to re-prepare the statement
    // when rebound, and the statement cache clears bindings, so every use of such a cached
    // statement was parsed and planned again (measured: every run of the current-answers
    // lookup of each push).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    migrate(&mut conn, migrations)?;
    Ok(conn)
}

/// Creates `dir` (and its parents) when missing, and makes it its owner's only (0700).
pub fn private_dir(dir: &Path) -> rusqlite::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| io_error(dir, &e))
}

/// Creates `path` empty with mode 0600 when missing, or takes group and other access away.
fn owner_only_file(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map(drop),
        Err(e) => Err(e),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> rusqlite::Error {
    rusqlite::Error::InvalidPath(PathBuf::from(format!("{}: {e}", path.display())))
}

/// Runs the migrations this database has not seen yet, in order. A database that has seen more
/// than `migrations` (a newer release migrated it) is refused: this release would misread it.
/// An empty list opens without checking (a second connection to a database another one migrated).
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if !migrations.is_empty() && done > migrations.len() as i64 {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "{}: the database is at migration {done}, this release knows {}: it was upgraded by a newer Tessera; run that release (there is no downgrade)",
                conn.path().unwrap_or("the database"),
                migrations.len()
            )),
        ));
    }
    for (i, sql) in migrations.iter().enumerate().skip(done.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::info!(migration = i + 1, path = ?conn.path(), "applied SQLite migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let v1 = ["CREATE TABLE a (x INTEGER);"];
        open(&path, &v1).expect("open");
        // Reopening with one more migration runs only the new one (re-running the first
        // would fail: table a exists).
        let v2 = [
            "CREATE TABLE a (x INTEGER);",
            "ALTER TABLE a ADD COLUMN y TEXT;",
        ];
        let conn = open(&path, &v2).expect("reopen");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, 2);
        conn.execute("INSERT INTO a (x, y) VALUES (1, 'b')", [])
            .expect("new column exists");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_cached_statement_is_not_planned_again_for_new_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = open(
            &path,
            &["CREATE TABLE a (x INTEGER, flag INTEGER); CREATE INDEX a_x ON a (x);"],
        )
        .expect("open");
        for i in 0..6 {
            let mut stmt = conn
                .prepare_cached("SELECT COUNT(*) FROM a WHERE x = ?1 AND flag = ?2 LIMIT ?3")
                .expect("prepare");
            let n: i64 = stmt
                .query_row(rusqlite::params![i, i % 2 == 0, 10 + i], |r| r.get(0))
                .expect("query");
            assert_eq!(n, 0);
            let replanned = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!(replanned, 0, "use {i}: planned again");
        }
    }

    #[test]
    fn databases_and_their_logs_are_their_owners_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let private = dir.path().join("a/b");
        private_dir(&private).expect("dir");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&private), 0o700);
        let path = private.join("t.db");
        let conn = open(&path, &["CREATE TABLE a (x INTEGER);"]).expect("open");
        conn.execute("INSERT INTO a VALUES (1)", []).expect("write");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&private.join("t.db-wal")), 0o600);
        drop(conn);
        // A database made world-readable before this rule is closed up when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open(&path, &["CREATE TABLE a (x INTEGER);"]).expect("reopen");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_database_a_newer_release_migrated_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("newer.db");
        let newer = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (x INTEGER)"];
        drop(open(&path, &newer).expect("the newer release opens it"));
        let err = open(&path, &newer[..1]).expect_err("the older release refuses it");
        let text = err.to_string();
        assert!(
            text.contains("migration 2") && text.contains("knows 1"),
            "{text}"
        );
        // A second connection (no migrations of its own) still opens it.
        assert!(open(&path, &[]).is_ok());
    }

    #[test]
    fn a_failing_migration_leaves_the_version_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        assert!(open(&path, &["CREATE TABLE a (x INTEGER);", "NOT SQL"]).is_err());
        let conn = open(&path, &["CREATE TABLE a (x INTEGER);"]).expect("open");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, 1);
    }
}
