//! The requester's side of the desktop app: projects with their progress, the charts'
//! figures and annotators' records, new projects, uploads and exports. All online, straight
//! to the server: requesters have nothing to keep on the device.

use std::io::Write;
use std::path::PathBuf;

use futures_util::{StreamExt, TryStreamExt};
use tessera_api::desktop::{ProjectDashboard, ProjectSummary, UploadReport};
use tessera_api::{Project, ProjectStatus};
use tessera_core::{LabelSchema, UploadFormat};

use crate::api::ApiClient;
use crate::session::{Session, SessionError};

type Result<T> = std::result::Result<T, SessionError>;

/// Project status requests the dashboard keeps in flight at once.
const STATUS_REQUESTS_AT_ONCE: usize = 8;

fn summary(project: Project, status: ProjectStatus) -> ProjectSummary {
    ProjectSummary {
        id: project.id,
        name: project.name,
        kind: project.schema.kind,
        tasks: status.tasks,
        complete: status.complete,
        answers: status.answers,
        annotators: status.annotators,
        needs_review: status.needs_review,
        cancelled: status.cancelled,
    }
}

/// `name` as a file name: letters, digits, `-` and `_` kept, the rest `_`.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "project".to_owned()
    } else {
        stem
    }
}

impl Session {
    /// The signed-in requester's server connection; annotators are refused.
    fn requester_api(&self) -> Result<ApiClient> {
        let (api, requester) = self
            .active(|a| a.as_ref().map(|a| (a.api.clone(), a.info.requester)))
            .ok_or(SessionError::NotSignedIn)?;
        if requester {
            Ok(api)
        } else {
            Err(SessionError::WrongRole("annotator"))
        }
    }

    /// Every project with its progress.
    /// The projects' status requests run several at a time (in list order), not one after
    /// another: a requester with many projects waits for the slowest few, not for their sum.
    pub async fn dashboard_projects(&self) -> Result<Vec<ProjectSummary>> {
        let api = self.requester_api()?;
        let api = &api;
        futures_util::stream::iter(api.projects().await?)
            .map(|project| async move {
                let status = api.status(project.id).await?;
                Ok::<_, SessionError>(summary(project, status))
            })
            .buffered(STATUS_REQUESTS_AT_ONCE)
            .try_collect()
            .await
    }

    /// One project in detail: progress, charts, annotators.
    pub async fn project_dashboard(&self, project_id: i64) -> Result<ProjectDashboard> {
        let api = self.requester_api()?;
        let project = api.project(project_id).await?;
        let schema = serde_json::to_string_pretty(&project.schema)
            .map_err(|e| SessionError::Invalid(e.to_string()))?;
        let mut status = api.status(project_id).await?;
        Ok(ProjectDashboard {
            skips_by_reason: std::mem::take(&mut status.skips_by_reason),
            schema,
            stats: api.stats(project_id).await?,
            annotators: api.annotators(project_id).await?,
            summary: summary(project, status),
        })
    }

    /// Creates a project from the schema editor's JSON; a schema that does not hold is
    /// refused here with the reason, before the server sees it.
    pub async fn create_project(&self, name: &str, schema: &str) -> Result<ProjectSummary> {
        let api = self.requester_api()?;
        let schema = LabelSchema::from_json(schema)
            .map_err(|e| SessionError::Invalid(format!("schema: {e}")))?;
        let project = api.create_project(name.trim(), schema).await?;
        let status = api.status(project.id).await?;
        Ok(summary(project, status))
    }

    /// Uploads a batch read from a `.jsonl` or `.csv` file; a rejected file's error names
    /// the line (and column) the server stopped at, and nothing of it is stored.
    pub async fn upload_batch(
        &self,
        project_id: i64,
        file_name: &str,
        text: String,
    ) -> Result<UploadReport> {
        let api = self.requester_api()?;
        let lower = file_name.to_lowercase();
        let format = if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            UploadFormat::Jsonl
        } else if lower.ends_with(".csv") {
            UploadFormat::Csv
        } else {
            return Err(SessionError::Invalid(format!(
                "{file_name}: upload a .jsonl or .csv file"
            )));
        };
        let uploaded = api.upload(project_id, format, text).await?;
        Ok(UploadReport {
            batch_id: uploaded.batch_id,
            tasks_added: uploaded.tasks_added as u64,
        })
    }

    /// Writes the project's export (`jsonl` or `csv`) into `dir` (by default the user's
    /// Downloads folder) and returns the file's path.
    pub async fn export_project(
        &self,
        project_id: i64,
        format: &str,
        dir: Option<PathBuf>,
    ) -> Result<String> {
        let api = self.requester_api()?;
        if !matches!(format, "jsonl" | "csv") {
            return Err(SessionError::Invalid(format!(
                "unknown export format {format:?} (jsonl or csv)"
            )));
        }
        let project = api.project(project_id).await?;
        let dir = dir
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Downloads")))
            .unwrap_or_else(|| PathBuf::from("."));
        let path = dir.join(format!(
            "{}-{project_id}.{format}",
            file_stem(&project.name)
        ));
        let file_error = |source| SessionError::File {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(file_error)?;
        let mut response = api.export(project_id, format).await?;
        let mut file = std::fs::File::create(&path).map_err(file_error)?;
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            SessionError::Server(crate::api::ClientError::Unreachable(e.to_string()))
        })? {
            file.write_all(&chunk).map_err(file_error)?;
        }
        file.sync_all().map_err(file_error)?;
        Ok(path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_become_safe_file_names() {
        assert_eq!(file_stem("Reviews: Q3/EU"), "Reviews__Q3_EU");
        assert_eq!(file_stem("état-1_b"), "état-1_b");
        assert_eq!(file_stem(""), "project");
    }
}
