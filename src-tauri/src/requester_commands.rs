//! Tauri commands of the requester's People screen and project settings (ML backends too):
//! adapters over [`Session`], nothing more.

use tauri::State;
use tessera_api::desktop::{InviteView, PersonView};
use tessera_client::session::Session;

use crate::commands::{Result, to_ui};

#[tauri::command]
pub async fn project_people(
    session: State<'_, Session>,
    project_id: i64,
) -> Result<Vec<PersonView>> {
    session.project_people(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn invite_person(
    session: State<'_, Session>,
    project_id: i64,
    name: String,
    role: String,
) -> Result<InviteView> {
    session
        .invite_person(project_id, &name, &role)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn add_member(
    session: State<'_, Session>,
    project_id: i64,
    user_id: i64,
    name: String,
    role: String,
) -> Result<()> {
    session
        .add_member(project_id, user_id, &name, &role)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn remove_member(
    session: State<'_, Session>,
    project_id: i64,
    user_id: i64,
) -> Result<()> {
    session
        .remove_member(project_id, user_id)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn revoke_person(session: State<'_, Session>, user_id: i64) -> Result<()> {
    session.revoke_person(user_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn unsuspend(session: State<'_, Session>, project_id: i64, user_id: i64) -> Result<()> {
    session.unsuspend(project_id, user_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn edit_schema(
    session: State<'_, Session>,
    project_id: i64,
    schema: String,
) -> Result<()> {
    session
        .edit_schema(project_id, &schema)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn refit(session: State<'_, Session>, project_id: i64) -> Result<String> {
    session.refit(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn set_archived(
    session: State<'_, Session>,
    project_id: i64,
    archived: bool,
) -> Result<()> {
    session
        .set_archived(project_id, archived)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn delete_project(session: State<'_, Session>, project_id: i64) -> Result<String> {
    session.delete_project(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn cancel_tasks(
    session: State<'_, Session>,
    project_id: i64,
    task_ids: Vec<i64>,
) -> Result<u64> {
    session
        .cancel_tasks(project_id, task_ids)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn prioritize_tasks(
    session: State<'_, Session>,
    project_id: i64,
    task_ids: Vec<i64>,
    priority: i32,
) -> Result<u64> {
    session
        .prioritize_tasks(project_id, task_ids, priority)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn ml_backends(
    session: State<'_, Session>,
    project_id: i64,
) -> Result<Vec<tessera_api::MlBackend>> {
    session.ml_backends(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn connect_ml_backend(
    session: State<'_, Session>,
    project_id: i64,
    url: String,
    name: String,
) -> Result<String> {
    session
        .connect_ml_backend(project_id, &url, &name)
        .await
        .map_err(to_ui)
}

#[tauri::command]
pub async fn train_ml_backends(session: State<'_, Session>, project_id: i64) -> Result<String> {
    session.train_ml_backends(project_id).await.map_err(to_ui)
}

#[tauri::command]
pub async fn disconnect_ml_backend(
    session: State<'_, Session>,
    project_id: i64,
    backend_id: i64,
) -> Result<()> {
    session
        .disconnect_ml_backend(project_id, backend_id)
        .await
        .map_err(to_ui)
}
