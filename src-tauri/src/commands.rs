//! Tauri commands: argument and error adapters over [`Session`], nothing more.

use tauri::State;
use tessera_api::desktop::{CommandError, ReviewView, SessionInfo, SyncStatus, TaskView};

use tessera_client::session::{Session, SessionError};

type Result<T> = std::result::Result<T, CommandError>;

fn to_ui(e: SessionError) -> CommandError {
    CommandError {
        kind: e.kind().to_owned(),
        message: e.to_string(),
    }
}

#[tauri::command]
pub async fn restore_session(session: State<'_, Session>) -> Result<Option<SessionInfo>> {
    session.restore().await.map_err(to_ui)
}

#[tauri::command]
pub fn default_server(session: State<'_, Session>) -> String {
    session.default_server()
}

#[tauri::command]
pub async fn sign_in(
    session: State<'_, Session>,
    server: String,
    token: String,
) -> Result<SessionInfo> {
    session.sign_in(&server, &token).await.map_err(to_ui)
}

#[tauri::command]
pub fn sign_out(session: State<'_, Session>) -> Result<()> {
    session.sign_out().map_err(to_ui)
}

#[tauri::command]
pub async fn choose_project(session: State<'_, Session>, project_id: i64) -> Result<SessionInfo> {
    session.choose_project(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub fn next_task(session: State<'_, Session>) -> Result<Option<TaskView>> {
    session.next_task().map_err(to_ui)
}

#[tauri::command]
pub fn submit_answer(
    session: State<'_, Session>,
    task_id: i64,
    labels: Vec<String>,
) -> Result<Option<TaskView>> {
    session.answer(task_id, labels, false).map_err(to_ui)
}

#[tauri::command]
pub fn skip_task(session: State<'_, Session>, task_id: i64) -> Result<Option<TaskView>> {
    session.answer(task_id, Vec::new(), true).map_err(to_ui)
}

#[tauri::command]
pub fn upcoming_tasks(session: State<'_, Session>, limit: u32) -> Result<Vec<TaskView>> {
    session.upcoming(limit).map_err(to_ui)
}

#[tauri::command]
pub fn previous_task(session: State<'_, Session>, before: Option<i64>) -> Result<Option<TaskView>> {
    session.previous_task(before).map_err(to_ui)
}

#[tauri::command]
pub async fn review_queue(session: State<'_, Session>, limit: u32) -> Result<Vec<ReviewView>> {
    session.review_queue(limit).await.map_err(to_ui)
}

#[tauri::command]
pub async fn submit_review(
    session: State<'_, Session>,
    task_id: i64,
    labels: Vec<String>,
) -> Result<()> {
    session.review(task_id, labels).await.map_err(to_ui)
}

#[tauri::command]
pub fn sync_status(session: State<'_, Session>) -> Result<SyncStatus> {
    session.sync_status().map_err(to_ui)
}

#[tauri::command]
pub fn sync_now(session: State<'_, Session>) {
    session.sync_now();
}
