//! Tauri commands: argument and error adapters over [`Session`], nothing more.

use tauri::State;
use tessera_api::Batch;
use tessera_api::desktop::{
    CommandError, ProjectDashboard, ProjectSummary, RefusedView, ReviewView, SessionInfo,
    SyncStatus, TaskDetailView, TaskFilterView, TaskPageView, TaskView, UploadReport,
};

use tessera_client::local::AnswerFlags;
use tessera_client::session::{Session, SessionError};

pub(crate) type Result<T> = std::result::Result<T, CommandError>;

pub(crate) fn to_ui(e: SessionError) -> CommandError {
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
    rejected: bool,
) -> Result<Option<TaskView>> {
    // What was done with the prediction shown (accepted, rejected, corrected) is worked out
    // from it and the labels, with the annotator's word for a rejection.
    let flags = AnswerFlags {
        unsure,
        skip_reason: None,
        rejected,
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
        rejected: false,
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

/// Async so that it runs on the runtime the upload's request is spawned on.
#[tauri::command]
pub async fn start_upload(
    session: State<'_, Session>,
    project_id: i64,
    file_name: String,
    priority: i32,
) -> Result<u64> {
    session
        .start_upload(project_id, &file_name, priority)
        .map_err(to_ui)
}

/// One chunk of an upload's file: the raw bytes are the request's body (not a JSON array of
/// numbers), the upload's id is in its `tessera-upload` header.
#[tauri::command]
pub async fn upload_chunk(
    session: State<'_, Session>,
    request: tauri::ipc::Request<'_>,
) -> Result<bool> {
    let id = request
        .headers()
        .get("tessera-upload")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            to_ui(SessionError::Invalid(
                "a chunk without its upload id".into(),
            ))
        })?;
    let tauri::ipc::InvokeBody::Raw(chunk) = request.body() else {
        return Err(to_ui(SessionError::Invalid(
            "an upload chunk must be raw bytes".into(),
        )));
    };
    session.upload_chunk(id, chunk.clone()).await.map_err(to_ui)
}

#[tauri::command]
pub async fn finish_upload(session: State<'_, Session>, upload_id: u64) -> Result<UploadReport> {
    session.finish_upload(upload_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn browse_tasks(
    session: State<'_, Session>,
    project_id: i64,
    filter: TaskFilterView,
    cursor: Option<String>,
) -> Result<TaskPageView> {
    session
        .browse_tasks(project_id, filter, cursor)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn task_detail(
    session: State<'_, Session>,
    project_id: i64,
    task_id: i64,
) -> Result<TaskDetailView> {
    session
        .task_detail(project_id, task_id)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn send_to_review(
    session: State<'_, Session>,
    project_id: i64,
    task_ids: Vec<i64>,
) -> Result<u64> {
    session
        .send_to_review(project_id, task_ids)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn set_batch_priority(
    session: State<'_, Session>,
    project_id: i64,
    batch_id: i64,
    priority: i32,
) -> Result<Batch> {
    session
        .set_batch_priority(project_id, batch_id, priority)
        .await
        .map_err(to_ui)
}

/// Writes the export into `TESSERA_EXPORT_DIR` when set, else the user's Downloads folder.
#[tauri::command]
pub async fn export_project(
    session: State<'_, Session>,
    project_id: i64,
    format: String,
    label: Option<String>,
) -> Result<String> {
    let dir = std::env::var_os("TESSERA_EXPORT_DIR").map(std::path::PathBuf::from);
    session
        .export_project(project_id, &format, label.as_deref(), dir)
        .await
        .map_err(to_ui)
}

#[tauri::command(async)]
pub fn sync_status(session: State<'_, Session>) -> Result<SyncStatus> {
    session.sync_status().map_err(to_ui)
}

#[tauri::command(async)]
pub fn refused_answers(session: State<'_, Session>) -> Result<Vec<RefusedView>> {
    session.refused_answers().map_err(to_ui)
}

#[tauri::command]
pub fn sync_now(session: State<'_, Session>) {
    session.sync_now();
}
