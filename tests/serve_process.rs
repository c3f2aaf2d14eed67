//! A real `tessera serve` process, for the tests that kill it with `kill -9` and start it
//! again on the same database.

use std::path::PathBuf;
use std::process::Stdio;

use tessera_api::Role;
use tessera_client::ApiClient;
use tokio::process::{Child, Command};

use crate::{Backend, built_binary, free_port, fresh_postgres_database, wait_up};

pub struct ServeProcess {
    pub url: String,
    child: Child,
    listen: String,
    data_dir: PathBuf,
    db: Option<String>,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// A server on a fresh data directory: SQLite in it, or a fresh PostgreSQL database.
    pub async fn start(backend: Backend) -> Self {
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        Self::start_in(tempfile::tempdir().expect("tempdir"), db).await
    }

    /// A server whose data directory is `dir/server` (which may hold a database already),
    /// on the PostgreSQL database `db` when given.
    pub async fn start_in(dir: tempfile::TempDir, db: Option<String>) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let data_dir = dir.path().join("server");
        let child = spawn(&data_dir, &listen, db.as_deref());
        let server = Self {
            url: format!("http://{listen}"),
            child,
            listen,
            data_dir,
            db,
            _dir: dir,
        };
        wait_up(&server.url).await;
        server
    }

    /// `kill -9`, and waits for it to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Kills the server at once (without waiting): for a kill in the middle of a request.
    pub fn start_kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// Kills it if it still runs, and serves the same database on the same address again.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.child = spawn(&self.data_dir, &self.listen, self.db.as_deref());
        wait_up(&self.url).await;
    }

    /// The data directory (the SQLite database, the admin token).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The PostgreSQL database it serves, if not SQLite.
    pub fn database_url(&self) -> Option<&str> {
        self.db.as_deref()
    }

    pub fn admin(&self) -> ApiClient {
        let token = std::fs::read_to_string(self.data_dir.join("admin.token")).expect("token");
        ApiClient::new(&self.url, Some(token.trim().to_owned())).expect("client")
    }

    /// A new user of `role` named `name`, signed in.
    pub async fn user(&self, role: Role, name: &str) -> ApiClient {
        let token = self
            .admin()
            .create_token(name, role)
            .await
            .expect("token")
            .token;
        ApiClient::new(&self.url, Some(token)).expect("client")
    }
}

fn spawn(data_dir: &std::path::Path, listen: &str, db: Option<&str>) -> Child {
    let mut cmd = Command::new(built_binary("tessera"));
    cmd.args(["serve", "--listen", listen])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("TESSERA_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    cmd.spawn().expect("spawn tessera serve")
}
