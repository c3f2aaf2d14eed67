//! `tessera login URL TOKEN`: checks the token against the server and keeps both in the
//! user's own config file (`~/.config/tessera/login.json`, mode 0600; `TESSERA_CONFIG` names
//! another), so requester and annotator commands work from any folder without `--token`.
//! `--server`/`--token` (or their variables) still win over it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tessera_client::ApiClient;

/// What a sign-in saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub server: String,
    pub token: String,
}

/// Where the sign-in is kept.
pub fn path() -> Option<PathBuf> {
    std::env::var_os("TESSERA_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("tessera").join("login.json")))
}

/// The saved sign-in, if any; a file that cannot be read is reported and ignored.
pub fn saved() -> Option<Login> {
    let path = path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            eprintln!("warning: cannot read {}: {e}", path.display());
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(login) => Some(login),
        Err(e) => {
            eprintln!(
                "warning: {} is not a Tessera sign-in ({e}); run `tessera login` again",
                path.display()
            );
            None
        }
    }
}

/// Signs in: the server must accept the token; then both are saved.
pub async fn login(server: &str, token: &str) -> Result<()> {
    let token = token.trim();
    let client = ApiClient::new(server, Some(token.to_owned()))?;
    let me = client
        .me()
        .await
        .with_context(|| format!("{server} did not accept the token"))?;
    let path =
        path().context("no config folder: set TESSERA_CONFIG to a file to keep the sign-in in")?;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let login = Login {
        server: client.base_url().to_owned(),
        token: token.to_owned(),
    };
    // Written beside and renamed over: a sign-in is never half written.
    let partial = path.with_extension("json.partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    file.write_all(serde_json::to_string_pretty(&login)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "signed in to {} as {} ({}); saved in {}",
        login.server,
        me.name,
        me.role.as_str(),
        path.display()
    );
    Ok(())
}

/// Forgets the saved sign-in.
pub fn logout() -> Result<()> {
    let Some(path) = path() else {
        return Ok(());
    };
    match std::fs::remove_file(&path) {
        Ok(()) => println!("signed out: removed {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("not signed in"),
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    Ok(())
}
