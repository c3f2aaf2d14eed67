//! Tessera desktop: a thin Tauri v2 shell. Every command is an adapter over `tessera-client`
//! (local SQLite store + sync engine); the API token never leaves the Rust side.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod requester_commands;

use std::path::PathBuf;

use tauri::Manager;
use tessera_client::session::Session;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = tauri::Builder::default()
        .setup(|app| {
            let home = match std::env::var_os("TESSERA_HOME") {
                Some(dir) => PathBuf::from(dir),
                None => app.path().app_data_dir()?,
            };
            let session = Session::open(home)?;
            app.manage(session);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::restore_session,
            commands::default_server,
            commands::sign_in,
            commands::sign_out,
            commands::choose_project,
            commands::next_task,
            commands::submit_answer,
            commands::skip_task,
            commands::upcoming_tasks,
            commands::previous_task,
            commands::review_queue,
            commands::submit_review,
            commands::dashboard_projects,
            commands::project_dashboard,
            commands::create_project,
            commands::start_upload,
            commands::upload_chunk,
            commands::finish_upload,
            commands::set_batch_priority,
            commands::browse_tasks,
            commands::task_detail,
            commands::send_to_review,
            commands::export_project,
            commands::sync_status,
            commands::sync_now,
            commands::refused_answers,
            requester_commands::project_people,
            requester_commands::invite_person,
            requester_commands::add_member,
            requester_commands::remove_member,
            requester_commands::revoke_person,
            requester_commands::unsuspend,
            requester_commands::edit_schema,
            requester_commands::refit,
            requester_commands::set_archived,
            requester_commands::delete_project,
            requester_commands::ml_backends,
            requester_commands::connect_ml_backend,
            requester_commands::train_ml_backends,
            requester_commands::disconnect_ml_backend,
            requester_commands::cancel_tasks,
            requester_commands::prioritize_tasks,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: the desktop app failed: {e}");
        std::process::exit(1);
    }
}
