//! Wire types shared by the server and its clients (CLI, desktop), plus the desktop's IPC types
//! from which the UI's TypeScript bindings are generated.

pub mod desktop;
mod models;
mod tasks;
mod webhooks;
mod wire;

pub use models::*;
pub use tasks::*;
pub use webhooks::*;
pub use wire::*;
