//! `tessera serve`: open the store, make sure an admin token exists, serve until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tessera_server::store::open_store;
use tessera_server::{AppState, ensure_admin_token};

pub const DEFAULT_DATA_DIR: &str = "./tessera-data";

#[derive(Args)]
pub struct ServeArgs {
    /// Directory for the embedded database and the admin token.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Database URL; defaults to an SQLite file inside the data directory.
    #[arg(long, env = "TESSERA_DATABASE_URL")]
    db: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "TESSERA_LISTEN", default_value = "127.0.0.1:7450")]
    listen: SocketAddr,
    /// Re-fit a project's consensus with the aggregator at least this often (seconds) while
    /// answers arrive, and sooner when its answers grow by a tenth; 0 turns automatic
    /// re-fits off. Requesters can also ask for a re-fit at any time.
    #[arg(long, env = "TESSERA_REFIT_EVERY", default_value_t = 300)]
    refit_every: u64,
    /// Largest batch upload, in MiB. Uploads are parsed as they arrive, never held whole.
    #[arg(long, env = "TESSERA_MAX_UPLOAD_MB", default_value_t = 2048)]
    max_upload_mb: u64,
    /// Most connections open at once; more wait to be accepted. Keep it below the process's
    /// open-file limit (`ulimit -n`), leaving room for the database.
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key); or terminate TLS in a
    /// reverse proxy in front (see docs/operations.md).
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Send webhooks from this server (`false`: events wait in the database's outbox for a
    /// replica that sends them).
    #[arg(long, env = "TESSERA_SEND_WEBHOOKS", default_value_t = true, action = clap::ArgAction::Set)]
    send_webhooks: bool,
    /// Call ML backends and train built-in models from this server (`false`: leave it to a
    /// replica that does).
    #[arg(long, env = "TESSERA_RUN_MODELS", default_value_t = true, action = clap::ArgAction::Set)]
    run_models: bool,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    private_dir(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let db = args
        .db
        .unwrap_or_else(|| args.data_dir.join("tessera.db").display().to_string());
    let store = open_store(&db)
        .await
        .with_context(|| format!("opening database {db}"))?;
    let mut state = AppState::new(store);
    state.config.max_upload_bytes = args.max_upload_mb.saturating_mul(1024 * 1024);
    state.config.connections.max_connections = args.max_connections;
    state.config.webhooks.enabled = args.send_webhooks;
    state.config.models.enabled = args.run_models;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        state.config.tls = Some(tessera_server::listen::tls_config(cert, key)?);
    }
    let scheme = if state.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let state = Arc::new(state);
    let token_path = args.data_dir.join("admin.token");
    if ensure_admin_token(state.store.as_ref(), state.clock.as_ref(), &token_path).await? {
        eprintln!(
            "created an admin token and wrote it to {} (mode 0600)",
            token_path.display()
        );
    }
    if args.refit_every > 0 {
        tokio::spawn(tessera_server::refit::refit_when_due(
            Arc::clone(&state),
            std::time::Duration::from_secs(args.refit_every),
        ));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("tessera server listening on {scheme}://{addr} (database: {db})");
    if scheme == "http" && !addr.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP beyond this machine: tokens and answers travel in the clear; \
             use --tls-cert/--tls-key or a reverse proxy with TLS"
        );
    }
    tessera_server::serve(listener, state, shutdown_signal()).await?;
    eprintln!("tessera server stopped");
    Ok(())
}

/// The data directory holds the database and the admin token: made its owner's only (0700).
/// A directory that was already there keeps its mode (it may be a folder the operator chose
/// to share), with a warning when others may list it; the files in it are 0600 either way.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is open to other users; `chmod 700` it to keep even file names private"
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
