//! Tauri commands: argument and error adapters over [`Session`], nothing more.

use tauri::State;
use tessera_api::desktop::{
    CommandError, ProjectDashboard, ProjectSummary, ReviewView, SessionInfo, SyncStatus, TaskView,
    UploadReport,
};

use tessera_client::local::AnswerFlags;
use tessera_client::session::{Session, SessionError};

type Result<T> = std::result::Result<T, CommandError>;

fn to_ui(e: SessionError) -> CommandError {
    let (line, column) = e.location();
    CommandError {
        kind: e.kind().to_owned(),
        message: e.to_string(),
        line,
        column,
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

#[tauri::command(async)]
pub fn next_task(session: State<'_, Session>) -> Result<Option<TaskView>> {
    session.next_task().map_err(to_ui)
}

#[tauri::command(async)]
pub fn submit_answer(
    session: State<'_, Session>,
    task_id: i64,
    labels: Vec<String>,
    unsure: bool,
) -> Result<Option<TaskView>> {
    let flags = AnswerFlags {
        unsure,
        skip_reason: None,
    };
    session.answer(task_id, labels, false, flags).map_err(to_ui)
}

#[tauri::command(async)]
pub fn skip_task(
    session: State<'_, Session>,
    task_id: i64,
    reason: Option<String>,
) -> Result<Option<TaskView>> {
    let flags = AnswerFlags {
        unsure: false,
        skip_reason: reason,
    };
    session
        .answer(task_id, Vec::new(), true, flags)
        .map_err(to_ui)
}

#[tauri::command(async)]
pub fn upcoming_tasks(session: State<'_, Session>, limit: u32) -> Result<Vec<TaskView>> {
    session.upcoming(limit).map_err(to_ui)
}

#[tauri::command(async)]
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
pub async fn dashboard_projects(session: State<'_, Session>) -> Result<Vec<ProjectSummary>> {
    session.dashboard_projects().await.map_err(to_ui)
}

#[tauri::command]
pub async fn project_dashboard(
    session: State<'_, Session>,
    project_id: i64,
) -> Result<ProjectDashboard> {
    session.project_dashboard(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn create_project(
    session: State<'_, Session>,
    name: String,
    schema: String,
) -> Result<ProjectSummary> {
    session.create_project(&name, &schema).await.map_err(to_ui)
}

#[tauri::command]
pub async fn upload_batch(
    session: State<'_, Session>,
    project_id: i64,
    file_name: String,
    text: String,
) -> Result<UploadReport> {
    session
        .upload_batch(project_id, &file_name, text)
        .await
        .map_err(to_ui)
}

/// Writes the export into `TESSERA_EXPORT_DIR` when set, else the user's Downloads folder.
#[tauri::command]
pub async fn export_project(
    session: State<'_, Session>,
    project_id: i64,
    format: String,
) -> Result<String> {
    let dir = std::env::var_os("TESSERA_EXPORT_DIR").map(std::path::PathBuf::from);
    session
        .export_project(project_id, &format, dir)
        .await
        .map_err(to_ui)
}

#[tauri::command(async)]
pub fn sync_status(session: State<'_, Session>) -> Result<SyncStatus> {
    session.sync_status().map_err(to_ui)
}

#[tauri::command]
pub fn sync_now(session: State<'_, Session>) {
    session.sync_now();
}
