//! A typed reqwest client for the queue server's `/api`.

use std::time::Duration;

use reqwest::{Body, Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_api::{
    AddMemberRequest, AnnotatorSkill, AnswerPush, Batch, BatchUpdate, CancelTasksRequest,
    CancelTasksResponse, ChangesPage, CreateProjectRequest, CreateTokenRequest,
    CreateTokenResponse, ErrorBody, ExportRecord, ImportAnswersResponse, InviteRequest,
    InviteResponse, LeaseRequest, LeaseResponse, Me, Member, Project, ProjectDeleted, ProjectRole,
    ProjectStats, ProjectStatus, PushAnswersRequest, PushAnswersResponse, RefitResponse,
    ReviewRequest, Role, TaskDetail, TaskIdsRequest, TaskListQuery, TaskPage, TaskPriorityRequest,
    TasksChanged, TokenInfo, UpdateProjectRequest, UploadResponse,
};
use tessera_core::{LabelSchema, UploadFormat};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{} ({status}): {}", body.code, body.message)]
    Api { status: u16, body: ErrorBody },
    /// The server could not be reached or the connection broke: offline, retry later.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    #[error("unexpected response from the server: {0}")]
    Protocol(String),
    #[error("invalid server URL {0:?}")]
    BadUrl(String),
}

impl ClientError {
    /// Whether retrying later may succeed (network trouble or a server-side failure).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) => true,
            ClientError::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() {
            ClientError::Protocol(e.to_string())
        } else {
            ClientError::Unreachable(e.to_string())
        }
    }
}

/// Plain `http://` to a host other than this machine (`localhost`, 127.0.0.0/8, `[::1]`).
pub fn in_clear_to_another_host(url: &str) -> bool {
    let Some(rest) = url.trim().strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7450`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // Shorter than the server's 30 s for a silent connection: a pooled connection is
            // dropped here before the server closes it under a new request.
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Self { base, token, http })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether requests would carry the token in the clear to another machine: plain HTTP to
    /// a host that is not this one. Callers warn before they send.
    pub fn sends_token_in_clear(&self) -> bool {
        self.token.is_some() && in_clear_to_another_host(&self.base)
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    pub(crate) async fn send(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        let resp = req.send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await?;
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            code: status_code_name(status),
            message: text.chars().take(500).collect(),
            line: None,
            column: None,
        });
        Err(ClientError::Api {
            status: status.as_u16(),
            body,
        })
    }

    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        req: RequestBuilder,
    ) -> Result<T, ClientError> {
        // A body cut off in transit is the network's fault (retry later), not the server's:
        // only a complete body that does not parse is a protocol error.
        let body = self
            .send(req)
            .await?
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(format!("response cut off: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.json(
            self.request(Method::POST, path)
                .json(body)
                .timeout(Duration::from_secs(60)),
        )
        .await
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(
            self.request(Method::GET, path)
                .timeout(Duration::from_secs(60)),
        )
        .await
    }

    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get("/api/me").await
    }

    /// Every token holder (admin).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        self.get("/api/tokens").await
    }

    /// Revokes user `user_id`'s token (admin).
    pub async fn revoke_token(&self, user_id: i64) -> Result<TokenInfo, ClientError> {
        self.json(
            self.request(Method::DELETE, &format!("/api/tokens/{user_id}"))
                .timeout(Duration::from_secs(60)),
        )
        .await
    }

    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
    ) -> Result<CreateTokenResponse, ClientError> {
        self.post(
            "/api/tokens",
            &CreateTokenRequest {
                name: name.to_owned(),
                role,
                projects: Vec::new(),
                project_role: None,
            },
        )
        .await
    }

    /// Creates an annotator whose token works only in `projects`, as `role` there (a
    /// requester's projects, or any for an admin).
    pub async fn create_project_token(
        &self,
        name: &str,
        projects: &[i64],
        role: ProjectRole,
    ) -> Result<CreateTokenResponse, ClientError> {
        self.post(
            "/api/tokens",
            &CreateTokenRequest {
                name: name.to_owned(),
                role: Role::Annotator,
                projects: projects.to_vec(),
                project_role: Some(role),
            },
        )
        .await
    }

    pub async fn create_project(
        &self,
        name: &str,
        schema: LabelSchema,
    ) -> Result<Project, ClientError> {
        self.post(
            "/api/projects",
            &CreateProjectRequest {
                name: name.to_owned(),
                schema,
            },
        )
        .await
    }

    pub async fn projects(&self) -> Result<Vec<Project>, ClientError> {
        self.get("/api/projects").await
    }

    pub async fn project(&self, id: i64) -> Result<Project, ClientError> {
        self.get(&format!("/api/projects/{id}")).await
    }

    /// Uploads a batch; `body` may be a stream (the CLI wraps the file with a progress bar).
    pub async fn upload(
        &self,
        project: i64,
        format: UploadFormat,
        body: impl Into<Body>,
    ) -> Result<UploadResponse, ClientError> {
        self.upload_with_priority(project, format, 0, body).await
    }

    /// Uploads a batch whose tasks are leased before those of lower-`priority` batches.
    pub async fn upload_with_priority(
        &self,
        project: i64,
        format: UploadFormat,
        priority: i32,
        body: impl Into<Body>,
    ) -> Result<UploadResponse, ClientError> {
        self.upload_batch(project, format, priority, false, body)
            .await
    }

    /// Uploads a batch; `lenient` leaves out what the project cannot keep, listed in the
    /// reply, instead of refusing the file.
    pub async fn upload_batch(
        &self,
        project: i64,
        format: UploadFormat,
        priority: i32,
        lenient: bool,
        body: impl Into<Body>,
    ) -> Result<UploadResponse, ClientError> {
        let req = self
            .request(
                Method::POST,
                &format!("/api/projects/{project}/batches?priority={priority}&lenient={lenient}"),
            )
            .header(reqwest::header::CONTENT_TYPE, format.media_type())
            .body(body);
        self.json(req).await
    }

    /// Imports answers made elsewhere to the project's tasks: a crowd-kit CSV
    /// (`task,worker,label`), tasks named by their external ids.
    pub async fn import_answers(
        &self,
        project: i64,
        body: impl Into<Body>,
    ) -> Result<ImportAnswersResponse, ClientError> {
        let req = self
            .request(
                Method::POST,
                &format!("/api/projects/{project}/answers/import"),
            )
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(body);
        self.json(req).await
    }

    /// The project's batches, oldest first.
    pub async fn batches(&self, project: i64) -> Result<Vec<Batch>, ClientError> {
        self.get(&format!("/api/projects/{project}/batches")).await
    }

    /// Changes a batch's priority.
    pub async fn set_batch_priority(
        &self,
        project: i64,
        batch: i64,
        priority: i32,
    ) -> Result<Batch, ClientError> {
        let req = self
            .request(
                Method::PATCH,
                &format!("/api/projects/{project}/batches/{batch}"),
            )
            .json(&BatchUpdate { priority });
        self.json(req).await
    }

    /// Leases up to `limit` tasks for online work.
    pub async fn lease(
        &self,
        project: i64,
        limit: u32,
        ttl_seconds: Option<u32>,
    ) -> Result<LeaseResponse, ClientError> {
        let request = LeaseRequest {
            limit,
            ttl_seconds,
            offline: false,
        };
        self.lease_with(project, &request).await
    }

    /// Leases with every option of the request (offline checkout).
    pub async fn lease_with(
        &self,
        project: i64,
        request: &LeaseRequest,
    ) -> Result<LeaseResponse, ClientError> {
        self.post(&format!("/api/projects/{project}/leases"), request)
            .await
    }

    pub async fn cancel_tasks(
        &self,
        project: i64,
        request: &CancelTasksRequest,
    ) -> Result<CancelTasksResponse, ClientError> {
        self.post(&format!("/api/projects/{project}/tasks/cancel"), request)
            .await
    }

    pub async fn push(&self, answers: Vec<AnswerPush>) -> Result<PushAnswersResponse, ClientError> {
        self.post("/api/answers", &PushAnswersRequest { answers })
            .await
    }

    pub async fn changes(&self, since: i64, limit: u32) -> Result<ChangesPage, ClientError> {
        self.get(&format!("/api/changes?since={since}&limit={limit}"))
            .await
    }

    /// Re-fits the project's consensus with the aggregator's default method (requester).
    pub async fn refit(&self, project: i64) -> Result<RefitResponse, ClientError> {
        self.post(
            &format!("/api/projects/{project}/consensus/refit"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Gives a user a role in the project (requester); returns the members.
    /// Gives user `user_id`, named `name` (requesters must name them), `role` in `project`.
    pub async fn add_member(
        &self,
        project: i64,
        user_id: i64,
        name: Option<&str>,
        role: ProjectRole,
    ) -> Result<Vec<Member>, ClientError> {
        self.post(
            &format!("/api/projects/{project}/members"),
            &AddMemberRequest {
                user_id,
                name: name.map(str::to_owned),
                role,
            },
        )
        .await
    }

    /// Invites a new person into `project` as `role` (requester); their token, once.
    pub async fn invite(
        &self,
        project: i64,
        name: &str,
        role: ProjectRole,
    ) -> Result<InviteResponse, ClientError> {
        self.post(
            &format!("/api/projects/{project}/invites"),
            &InviteRequest {
                name: name.to_owned(),
                role,
            },
        )
        .await
    }

    /// Takes `user_id` out of `project` (requester); returns the members left.
    pub async fn remove_member(
        &self,
        project: i64,
        user_id: i64,
    ) -> Result<Vec<Member>, ClientError> {
        self.json(
            self.request(
                Method::DELETE,
                &format!("/api/projects/{project}/members/{user_id}"),
            )
            .timeout(Duration::from_secs(60)),
        )
        .await
    }

    pub async fn members(&self, project: i64) -> Result<Vec<Member>, ClientError> {
        self.get(&format!("/api/projects/{project}/members")).await
    }

    /// Each annotator's answers and accuracy on gold (requester).
    pub async fn annotators(&self, project: i64) -> Result<Vec<AnnotatorSkill>, ClientError> {
        self.get(&format!("/api/projects/{project}/annotators"))
            .await
    }

    /// Renames a project or replaces its schema (requester).
    pub async fn update_project(
        &self,
        project: i64,
        request: &UpdateProjectRequest,
    ) -> Result<Project, ClientError> {
        self.json(
            self.request(Method::PATCH, &format!("/api/projects/{project}"))
                .json(request)
                .timeout(Duration::from_secs(600)),
        )
        .await
    }

    /// Archives a project (requester).
    pub async fn archive_project(&self, project: i64) -> Result<Project, ClientError> {
        self.post(
            &format!("/api/projects/{project}/archive"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Restores an archived project (requester).
    pub async fn restore_project(&self, project: i64) -> Result<Project, ClientError> {
        self.post(
            &format!("/api/projects/{project}/restore"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Deletes a project and all its work, for good (requester).
    pub async fn delete_project(&self, project: i64) -> Result<ProjectDeleted, ClientError> {
        self.json(
            self.request(Method::DELETE, &format!("/api/projects/{project}"))
                .query(&[("confirm", "true")])
                .timeout(Duration::from_secs(600)),
        )
        .await
    }

    /// A page of the project's tasks (requester): see [`TaskListQuery`].
    pub async fn tasks(
        &self,
        project: i64,
        query: &TaskListQuery,
    ) -> Result<TaskPage, ClientError> {
        self.json(
            self.request(Method::GET, &format!("/api/projects/{project}/tasks"))
                .query(query)
                .timeout(Duration::from_secs(60)),
        )
        .await
    }

    /// One task in full (requester).
    pub async fn task(&self, project: i64, task_id: i64) -> Result<TaskDetail, ClientError> {
        self.get(&format!("/api/projects/{project}/tasks/{task_id}"))
            .await
    }

    /// Sends tasks to the review queue (requester).
    pub async fn review_tasks(
        &self,
        project: i64,
        task_ids: Vec<i64>,
    ) -> Result<TasksChanged, ClientError> {
        self.post(
            &format!("/api/projects/{project}/tasks/review"),
            &TaskIdsRequest { task_ids },
        )
        .await
    }

    /// Sets tasks' priority (requester).
    pub async fn prioritize_tasks(
        &self,
        project: i64,
        task_ids: Vec<i64>,
        priority: i32,
    ) -> Result<TasksChanged, ClientError> {
        self.post(
            &format!("/api/projects/{project}/tasks/priority"),
            &TaskPriorityRequest { task_ids, priority },
        )
        .await
    }

    /// Lifts annotator `user_id`'s suspension from `project` (requester).
    pub async fn unsuspend(
        &self,
        project: i64,
        user_id: i64,
    ) -> Result<AnnotatorSkill, ClientError> {
        self.post(
            &format!("/api/projects/{project}/annotators/{user_id}/unsuspend"),
            &serde_json::json!({}),
        )
        .await
    }

    /// The dashboard's figures: answers per hour, completion, time per answer, agreement.
    pub async fn stats(&self, project: i64) -> Result<ProjectStats, ClientError> {
        self.get(&format!("/api/projects/{project}/stats")).await
    }

    /// The project's review queue: tasks waiting for a reviewer's verdict.
    pub async fn review_queue(
        &self,
        project: i64,
        limit: u32,
    ) -> Result<Vec<ExportRecord>, ClientError> {
        self.get(&format!("/api/projects/{project}/review?limit={limit}"))
            .await
    }

    /// Records a reviewer's verdict on a task: its final label.
    pub async fn review(
        &self,
        project: i64,
        review: &ReviewRequest,
    ) -> Result<serde_json::Value, ClientError> {
        self.post(&format!("/api/projects/{project}/review"), review)
            .await
    }

    pub async fn status(&self, project: i64) -> Result<ProjectStatus, ClientError> {
        self.get(&format!("/api/projects/{project}/status")).await
    }

    /// The export as a response whose body the caller streams where it wants.
    pub async fn export(&self, project: i64, format: &str) -> Result<Response, ClientError> {
        self.export_labels(project, format, None).await
    }

    /// An export whose tasks carry `label` (`review`, `consensus` or `answers`; the server's
    /// default, the final label, when `None`).
    pub async fn export_labels(
        &self,
        project: i64,
        format: &str,
        label: Option<&str>,
    ) -> Result<Response, ClientError> {
        let mut query = vec![("format", format)];
        if let Some(label) = label {
            query.push(("label", label));
        }
        self.send(
            self.request(Method::GET, &format!("/api/projects/{project}/export"))
                .query(&query),
        )
        .await
    }
}

fn status_code_name(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("http_error")
        .to_ascii_lowercase()
        .replace(' ', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_beyond_this_machine_is_told_apart() {
        for clear in [
            "http://labels.example.org",
            "http://10.0.0.5:7450/",
            "http://[2001:db8::1]:7450",
            "http://user@example.org:80/api",
        ] {
            assert!(in_clear_to_another_host(clear), "{clear}");
        }
        for safe in [
            "https://labels.example.org",
            "http://127.0.0.1:7450",
            "http://127.8.9.10",
            "http://localhost:7450",
            "http://LOCALHOST",
            "http://[::1]:7450",
            "http://app.localhost",
        ] {
            assert!(!in_clear_to_another_host(safe), "{safe}");
        }
        let client = ApiClient::new("http://example.org", Some("t".into())).expect("client");
        assert!(client.sends_token_in_clear());
        let anonymous = ApiClient::new("http://example.org", None).expect("client");
        assert!(!anonymous.sends_token_in_clear());
    }
}
