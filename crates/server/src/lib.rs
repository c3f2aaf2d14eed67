//! Tessera's queue server: an axum app over a [`store::Store`].
//!
//! [`app`] builds the router (tests drive it over a real socket bound to port 0);
//! [`serve`] runs it until the shutdown future resolves.

pub mod annotator_agreement;
pub mod auth;
pub mod clock;
pub mod error;
mod export;
mod handlers;
mod lingering;
pub mod listen;
pub mod metrics;
pub mod ml;
pub mod openapi;
mod outbound;
pub mod quality;
pub mod refit;
mod schema_edit;
pub mod stats;
pub mod store;
pub mod suspension;
pub mod timeline;
pub mod transfer;
mod upload;
pub mod webhooks;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use chrono::Duration;
use tessera_api::Role;
use tessera_core::{ConsensusMethod, MajorityVote};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::clock::{Clock, SystemClock};
use crate::store::{Store, StoreError};

/// Server policy knobs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lease length when the client does not ask for one.
    pub lease_ttl: Duration,
    /// Lease length of an offline checkout when the client does not ask for one.
    pub offline_lease_ttl: Duration,
    /// The longest lease a client may ask for.
    pub max_lease_ttl: Duration,
    /// Largest JSON request body.
    pub max_body_bytes: usize,
    /// Largest batch upload. Uploads are parsed as they arrive, never held whole; the parsed
    /// tasks are, until the batch is stored.
    pub max_upload_bytes: u64,
    /// Open connections and their deadlines.
    pub connections: listen::ConnectionLimits,
    /// Serve HTTPS with this configuration (see [`listen::tls_config`]); plain HTTP when absent.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How webhooks are sent.
    pub webhooks: webhooks::dispatch::DispatchConfig,
    /// How ML backends are called and the built-in model trained.
    pub models: ml::ModelConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::minutes(30),
            offline_lease_ttl: Duration::days(3),
            max_lease_ttl: Duration::days(7),
            max_body_bytes: 16 * 1024 * 1024,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            connections: listen::ConnectionLimits::default(),
            tls: None,
            webhooks: webhooks::dispatch::DispatchConfig::default(),
            models: ml::ModelConfig::default(),
        }
    }
}

pub struct AppState {
    pub store: Box<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub consensus: Arc<dyn ConsensusMethod>,
    pub config: ServerConfig,
    pub tokens: auth::TokenCache,
    pub metrics: metrics::Metrics,
}

impl AppState {
    pub fn new(store: Box<dyn Store>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            consensus: Arc::new(MajorityVote),
            config: ServerConfig::default(),
            tokens: auth::TokenCache::default(),
            metrics: metrics::Metrics::default(),
        }
    }
}

/// Counts error responses by class for `/metrics`.
async fn count_errors(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.is_client_error() {
        metrics::Metrics::add(&state.metrics.responses_4xx, 1);
    } else if status.is_server_error() {
        metrics::Metrics::add(&state.metrics.responses_5xx, 1);
    }
    response
}

/// The HTTP API under `/api`, and `/metrics`.
pub fn app(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    let body_timeout = state.config.connections.body_timeout;
    Router::new()
        .route("/api/health", get(handlers::health))
        .route("/api/me", get(handlers::get_me))
        .route(
            "/api/tokens",
            post(handlers::create_token).get(handlers::list_tokens),
        )
        .route(
            "/api/tokens/{user_id}",
            axum::routing::delete(handlers::revoke_token),
        )
        .route(
            "/api/projects",
            post(handlers::create_project).get(handlers::list_projects),
        )
        .route(
            "/api/projects/{id}",
            get(handlers::get_project)
                .patch(handlers::update_project)
                .delete(handlers::delete_project),
        )
        .route(
            "/api/projects/{id}/archive",
            post(handlers::archive_project),
        )
        .route(
            "/api/projects/{id}/restore",
            post(handlers::restore_project),
        )
        .route(
            "/api/projects/{id}/batches",
            post(transfer::upload_batch).get(handlers::list_batches),
        )
        .route(
            "/api/projects/{id}/answers/import",
            post(transfer::import_answers),
        )
        .route(
            "/api/projects/{id}/batches/{batch_id}",
            axum::routing::patch(handlers::update_batch),
        )
        .route("/api/projects/{id}/leases", post(handlers::lease_tasks))
        .route(
            "/api/projects/{id}/tasks/cancel",
            post(handlers::cancel_tasks),
        )
        .route("/api/projects/{id}/status", get(handlers::get_status))
        .route(
            "/api/projects/{id}/consensus/refit",
            post(handlers::refit_consensus),
        )
        .route(
            "/api/projects/{id}/members",
            get(handlers::get_members).post(handlers::add_member),
        )
        .route("/api/projects/{id}/invites", post(handlers::invite))
        .route(
            "/api/projects/{id}/members/{user_id}",
            delete(handlers::remove_member),
        )
        .route(
            "/api/projects/{id}/annotators",
            get(handlers::get_annotators),
        )
        .route(
            "/api/projects/{id}/annotators/{user_id}/unsuspend",
            post(handlers::unsuspend),
        )
        .route("/api/projects/{id}/tasks", get(handlers::list_tasks))
        .route(
            "/api/projects/{id}/tasks/{task_id}",
            get(handlers::get_task),
        )
        .route(
            "/api/projects/{id}/tasks/review",
            post(handlers::review_tasks),
        )
        .route(
            "/api/projects/{id}/tasks/priority",
            post(handlers::prioritize_tasks),
        )
        .route("/api/projects/{id}/stats", get(handlers::get_stats))
        .route(
            "/api/projects/{id}/review",
            get(handlers::get_review_queue).post(handlers::post_review),
        )
        .route("/api/projects/{id}/export", get(transfer::export_project))
        .route(
            "/api/projects/{id}/webhooks",
            post(handlers::create_webhook).get(handlers::list_webhooks),
        )
        .route(
            "/api/projects/{id}/webhooks/deliveries",
            get(handlers::list_deliveries),
        )
        .route(
            "/api/projects/{id}/webhooks/{webhook_id}",
            delete(handlers::delete_webhook),
        )
        .route(
            "/api/projects/{id}/ml-backends",
            post(handlers::create_ml_backend).get(handlers::list_ml_backends),
        )
        .route(
            "/api/projects/{id}/ml-backends/{backend_id}",
            delete(handlers::delete_ml_backend),
        )
        .route(
            "/api/projects/{id}/ml-backends/{backend_id}/train",
            post(handlers::train_ml_backend),
        )
        .route("/api/answers", post(handlers::push_answers))
        .route("/api/changes", get(handlers::list_changes))
        .route("/metrics", get(handlers::get_metrics))
        .route(
            "/api/openapi.json",
            get(|| async { axum::Json(<openapi::ApiDoc as utoipa::OpenApi>::openapi()) }),
        )
        .fallback(|| async { error::ApiError::NotFound("no such endpoint".to_owned()) })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(lingering::finish_unread_bodies))
        // Outside the lingering body, so a body that stops coming also stops its draining.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_errors,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, within the connection limits
/// of `state.config` (see [`listen`]), sending webhooks and running the models meanwhile.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.connections.clone();
    let tls = state.config.tls.clone();
    let sender = tokio::spawn(webhooks::dispatch::deliver(
        Arc::clone(&state),
        state.config.webhooks.clone(),
    ));
    let models = tokio::spawn(ml::run(Arc::clone(&state), state.config.models.clone()));
    let served = listen::serve_with_limits(listener, app(state), &limits, tls, shutdown).await;
    sender.abort();
    models.abort();
    served
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// On a database without an admin, creates one and writes its token to `path` (mode 0600).
/// Returns whether a token was written.
pub async fn ensure_admin_token(
    store: &dyn Store,
    clock: &dyn Clock,
    path: &Path,
) -> Result<bool, BootstrapError> {
    if store.count_admins().await? > 0 {
        return Ok(false);
    }
    let token = auth::generate_token();
    write_secret(path, &token).map_err(|source| BootstrapError::Io {
        path: path.display().to_string(),
        source,
    })?;
    store
        .create_user("admin", Role::Admin, &auth::hash_token(&token), clock.now())
        .await?;
    Ok(true)
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}
