//! Tessera's client side, with no UI: the HTTP [`api::ApiClient`], the device's
//! [`local::LocalStore`] (SQLite, written before the UI moves on) and the [`sync`] engine
//! that pushes the outbox and pulls the change feed. The desktop app and `tessera work` share it.

pub mod api;
pub mod dashboard;
pub mod device;
pub mod local;
pub mod ml;
pub mod people;
pub mod project_settings;
pub mod session;
pub mod sync;
pub mod webhooks;

pub use api::{ApiClient, ClientError};
pub use local::{LocalError, LocalStore, LocalTask};
