//! The requester's side of the desktop app: projects with their progress, the charts'
//! figures and annotators' records, new projects, uploads and exports. All online, straight
//! to the server: requesters have nothing to keep on the device.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use futures_util::{StreamExt, TryStreamExt};
use tessera_api::desktop::{
    ProjectDashboard, ProjectSummary, TaskAnswerView, TaskDetailView, TaskFilterView, TaskPageView,
    TaskRowView, UploadReport,
};
use tessera_api::{
    Batch, CancelTasksRequest, Project, ProjectStatus, TaskListQuery, TaskOrder, TaskStatus,
    UploadResponse,
};
use tessera_core::{LabelSchema, UploadFormat};
use tokio::sync::mpsc;

use crate::api::{ApiClient, ClientError};
use crate::session::{Session, SessionError};

type Result<T> = std::result::Result<T, SessionError>;

/// Project status requests the dashboard keeps in flight at once.
const STATUS_REQUESTS_AT_ONCE: usize = 8;
/// Upload chunks queued toward the server before `upload_chunk` waits.
const QUEUED_UPLOAD_CHUNKS: usize = 4;

/// A batch upload under way: its chunks so far feed one streamed request body.
pub(crate) struct UploadInProgress {
    chunks: mpsc::Sender<std::io::Result<Vec<u8>>>,
    response: tokio::task::JoinHandle<std::result::Result<UploadResponse, ClientError>>,
}

fn no_upload(id: u64) -> SessionError {
    SessionError::Invalid(format!("no upload {id} is under way"))
}

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
        gold: status.gold_tasks,
        stuck: status.stuck,
        stuck_because: status.stuck_because,
        archived: project.archived_at.is_some(),
    }
}

/// `name` as a file name: letters, digits, `-` and `_` kept, the rest `_`.
/// The export formats the app offers, with the end of the file name each is written to.
pub const EXPORT_FILES: &[(&str, &str)] = &[
    ("jsonl", "jsonl"),
    ("csv", "csv"),
    ("tsv", "tsv"),
    ("ls-json", "label-studio.json"),
    ("ls-json-min", "label-studio-min.json"),
    ("ls-config", "label-studio.xml"),
    ("crowdkit", "crowdkit.csv"),
    ("prodigy", "prodigy.jsonl"),
    ("toloka", "toloka.tsv"),
    ("conll", "conll"),
    ("spacy", "spacy.jsonl"),
    ("coco", "coco.json"),
    ("yolo", "yolo.zip"),
    ("voc", "voc.zip"),
];

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
    pub(crate) fn requester_api(&self) -> Result<ApiClient> {
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
        // Five independent requests: in flight together, not one after another.
        let (project, mut status, stats, annotators, batches) = tokio::try_join!(
            api.project(project_id),
            api.status(project_id),
            api.stats(project_id),
            api.annotators(project_id),
            api.batches(project_id),
        )?;
        let schema = serde_json::to_string_pretty(&project.schema)
            .map_err(|e| SessionError::Invalid(e.to_string()))?;
        Ok(ProjectDashboard {
            labels: project.schema.labels.clone(),
            skips_by_reason: std::mem::take(&mut status.skips_by_reason),
            consensus_by_method: std::mem::take(&mut status.consensus_by_method),
            schema,
            stats,
            annotators,
            batches,
            summary: summary(project, status),
        })
    }

    /// A page of the project's tasks for the task browser, narrowed and ordered by `filter`;
    /// `cursor` continues an earlier page.
    pub async fn browse_tasks(
        &self,
        project_id: i64,
        filter: TaskFilterView,
        cursor: Option<String>,
    ) -> Result<TaskPageView> {
        let status = filter
            .status
            .filter(|s| !s.is_empty())
            .map(|s| {
                TaskStatus::parse(&s)
                    .ok_or_else(|| SessionError::Invalid(format!("unknown task status {s:?}")))
            })
            .transpose()?;
        let query = TaskListQuery {
            status,
            search: filter.search.filter(|s| !s.trim().is_empty()),
            label: filter.label.filter(|l| !l.is_empty()),
            annotator: filter.annotator,
            batch: filter.batch,
            max_confidence: filter.max_confidence,
            order: filter
                .lowest_confidence_first
                .then_some(TaskOrder::Confidence),
            cursor,
            limit: Some(50),
        };
        let page = self.requester_api()?.tasks(project_id, &query).await?;
        Ok(TaskPageView {
            tasks: page
                .tasks
                .into_iter()
                .map(|t| TaskRowView {
                    task_id: t.task_id,
                    status: t.status.as_str().to_owned(),
                    preview: t.preview,
                    consensus: t.consensus,
                    confidence: t.confidence,
                    answers: t.answers,
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One task in full, for the task browser.
    pub async fn task_detail(&self, project_id: i64, task_id: i64) -> Result<TaskDetailView> {
        let t = self.requester_api()?.task(project_id, task_id).await?;
        let r = t.record;
        Ok(TaskDetailView {
            task_id: r.task_id,
            status: t.status.as_str().to_owned(),
            stuck_because: t.stuck_because,
            data: shortened(
                serde_json::to_string_pretty(&r.data)
                    .map_err(|e| SessionError::Invalid(e.to_string()))?,
            ),
            prediction: r.prediction.map(|p| p.labels).unwrap_or_default(),
            answers: r
                .answers
                .into_iter()
                .map(|a| TaskAnswerView {
                    annotator: a.annotator,
                    labels: a.labels,
                    answered_at: a.answered_at.to_rfc3339(),
                    unsure: a.unsure,
                    prediction_verdict: a.prediction_verdict.map(|v| v.as_str().to_owned()),
                })
                .collect(),
            skips: r
                .skips
                .into_iter()
                .map(|s| match s.reason {
                    Some(reason) => format!("{} ({reason})", s.annotator),
                    None => s.annotator,
                })
                .collect(),
            consensus: r
                .consensus
                .as_ref()
                .map(|c| c.labels.clone())
                .unwrap_or_default(),
            confidence: r.consensus.map(|c| c.confidence),
            review: r.review.map(|v| v.labels).unwrap_or_default(),
        })
    }

    /// Sends tasks to the review queue; returns how many went.
    pub async fn send_to_review(&self, project_id: i64, task_ids: Vec<i64>) -> Result<u64> {
        Ok(self
            .requester_api()?
            .review_tasks(project_id, task_ids)
            .await?
            .changed)
    }

    /// Cancels tasks: no one is asked to answer them any more; returns how many were.
    pub async fn cancel_tasks(&self, project_id: i64, task_ids: Vec<i64>) -> Result<u64> {
        let request = CancelTasksRequest {
            task_ids,
            external_ids: Vec::new(),
        };
        Ok(self
            .requester_api()?
            .cancel_tasks(project_id, &request)
            .await?
            .cancelled)
    }

    /// Sets tasks' priority (higher is leased sooner); returns how many changed.
    pub async fn prioritize_tasks(
        &self,
        project_id: i64,
        task_ids: Vec<i64>,
        priority: i32,
    ) -> Result<u64> {
        Ok(self
            .requester_api()?
            .prioritize_tasks(project_id, task_ids, priority)
            .await?
            .changed)
    }

    /// Sets a batch's priority: its open tasks are leased before those of lower-priority
    /// batches.
    pub async fn set_batch_priority(
        &self,
        project_id: i64,
        batch_id: i64,
        priority: i32,
    ) -> Result<Batch> {
        Ok(self
            .requester_api()?
            .set_batch_priority(project_id, batch_id, priority)
            .await?)
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

    /// Starts uploading a batch from `file_name` (its extension gives the format) with
    /// `priority`; returns the upload's id. The file follows in chunks (`upload_chunk`),
    /// which go to the server as one streamed request while the next is read, so the file is
    /// never held whole and the progress shown is bytes sent. `finish_upload` gives the
    /// server's answer.
    pub fn start_upload(&self, project_id: i64, file_name: &str, priority: i32) -> Result<u64> {
        let api = self.requester_api()?;
        let format = UploadFormat::from_file_name(file_name).ok_or_else(|| {
            SessionError::Invalid(format!(
                "{file_name}: upload a .jsonl, .json (Label Studio) or .csv file"
            ))
        })?;
        let (chunks, queue) = mpsc::channel(QUEUED_UPLOAD_CHUNKS);
        let body = futures_util::stream::unfold(queue, |mut queue| async move {
            queue.recv().await.map(|chunk| (chunk, queue))
        });
        // Called outside a runtime (a synchronous caller), this is an error, not a panic.
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            SessionError::Invalid(format!("an upload needs the async runtime: {e}"))
        })?;
        let response = runtime.spawn(async move {
            api.upload_with_priority(
                project_id,
                format,
                priority,
                reqwest::Body::wrap_stream(body),
            )
            .await
        });
        let id = self.next_upload.fetch_add(1, Ordering::Relaxed);
        self.uploads_in_progress()
            .insert(id, UploadInProgress { chunks, response });
        Ok(id)
    }

    /// Sends the next chunk of upload `id`; waits while the server is behind. False when the
    /// server has already answered (it refused a line): stop sending, and `finish_upload`
    /// tells why. (The server reads on after a refusal so that its answer is not lost, so
    /// the answer, not a closed body, is what says to stop.)
    pub async fn upload_chunk(&self, id: u64, chunk: Vec<u8>) -> Result<bool> {
        let chunks = {
            let uploads = self.uploads_in_progress();
            let upload = uploads.get(&id).ok_or_else(|| no_upload(id))?;
            if upload.response.is_finished() {
                return Ok(false);
            }
            upload.chunks.clone()
        };
        Ok(chunks.send(Ok(chunk)).await.is_ok())
    }

    /// Ends upload `id`'s file and waits for the server's answer: the batch stored, or why
    /// it was refused (nothing stored).
    pub async fn finish_upload(&self, id: u64) -> Result<UploadReport> {
        let upload = self
            .uploads_in_progress()
            .remove(&id)
            .ok_or_else(|| no_upload(id))?;
        drop(upload.chunks);
        let uploaded = upload
            .response
            .await
            .map_err(|e| SessionError::Invalid(format!("the upload stopped: {e}")))??;
        Ok(UploadReport {
            batch_id: uploaded.batch_id,
            tasks_added: uploaded.tasks_added as u64,
        })
    }

    fn uploads_in_progress(&self) -> std::sync::MutexGuard<'_, HashMap<u64, UploadInProgress>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the project's export in `format` (one of [`EXPORT_FILES`]), its tasks labeled
    /// by `label` (`review`, `consensus` or `answers`; the final label when `None`), into
    /// `dir` (by default the user's Downloads folder) and returns the file's path.
    pub async fn export_project(
        &self,
        project_id: i64,
        format: &str,
        label: Option<&str>,
        dir: Option<PathBuf>,
    ) -> Result<String> {
        let api = self.requester_api()?;
        let Some(&(_, suffix)) = EXPORT_FILES.iter().find(|(f, _)| *f == format) else {
            return Err(SessionError::Invalid(format!(
                "unknown export format {format:?}"
            )));
        };
        let project = api.project(project_id).await?;
        let dir = dir
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Downloads")))
            .unwrap_or_else(|| PathBuf::from("."));
        let path = dir.join(format!(
            "{}-{project_id}.{suffix}",
            file_stem(&project.name)
        ));
        let file_error = |source| SessionError::File {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(file_error)?;
        let mut response = api.export_labels(project_id, format, label).await?;
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

/// A task's data as the task view shows it: at most 4,000 characters, then how many more.
fn shortened(text: String) -> String {
    const SHOWN: usize = 4_000;
    let total = text.chars().count();
    if total <= SHOWN {
        return text;
    }
    let mut out: String = text.chars().take(SHOWN).collect();
    out.push_str(&format!("… ({} more characters)", total - SHOWN));
    out
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
