//! Files in and out of a project: batch uploads (tasks, with the answers and predictions
//! other tools' files bring), answers imported from crowd-kit files, and exports in every
//! format — streamed both ways.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tessera_api::{ErrorBody, ExportRecord, ImportAnswersResponse, UploadResponse};
use tessera_core::upload::MAX_DOCUMENT_BYTES;
use tessera_core::{UploadError, UploadFormat, parse_answers_csv};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath, ApiQuery};
use crate::export::{ExportWriter, LabelChoice, unsized_boxes};
use crate::handlers::{Shared, require_project_requester};
use crate::metrics::Metrics;
use crate::store::{EXPORT_PAGE, ExportPage, StoreError};
use crate::upload::parse_body;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    priority: Option<i32>,
    #[serde(default)]
    lenient: bool,
}

#[utoipa::path(post, path = "/api/projects/{id}/batches", tag = "projects", params(("id" = i64, Path, description = "project id"), ("priority" = Option<i32>, Query, description = "the batch's priority: its tasks are leased before those of lower-priority batches (default 0)"), ("lenient" = Option<bool>, Query, description = "leave out what cannot be kept (a region of a kind the project lacks, an imported answer or prediction with a label it lacks) and list it in the reply, instead of refusing the upload")), request_body(content = String, description = "the batch file: JSONL (application/x-ndjson), a JSON array of tasks as Label Studio exports it (application/json) or CSV (text/csv)", content_type = "application/x-ndjson"), responses((status = 200, body = UploadResponse), (status = 422, description = "a bad line, named with its line and column", body = ErrorBody), (status = 413, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn upload_batch(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<tessera_api::UploadResponse>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let project = state.store.project(id).await?;
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = UploadFormat::from_media_type(media_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "upload as {} (JSONL), {} (a JSON array of tasks, as Label Studio exports) or {} (CSV), not {media_type:?}",
            UploadFormat::Jsonl.media_type(),
            UploadFormat::Json.media_type(),
            UploadFormat::Csv.media_type()
        ))
    })?;
    let started = Instant::now();
    let parsed = parse_body(
        body,
        format,
        project.schema.clone(),
        q.lenient,
        state.config.max_upload_bytes,
        &state.metrics,
    )
    .await?;
    let mut response = state
        .store
        .insert_batch(
            id,
            parsed.tasks,
            q.priority.unwrap_or(0),
            state.clock.now(),
            Arc::clone(&state.consensus),
        )
        .await?;
    response.ignored_keys = parsed.report.ignored_keys;
    response.clamped_boxes = parsed.report.clamped_boxes;
    response.empty_answers = parsed.report.empty_answers;
    response.left_out = parsed.report.left_out.into_iter().map(Into::into).collect();
    Metrics::add(&state.metrics.tasks_uploaded, response.tasks_added as u64);
    state.metrics.upload_seconds.observe(started.elapsed());
    tracing::info!(
        project_id = id,
        tasks = response.tasks_added,
        "batch uploaded"
    );
    Ok(Json(response))
}

/// Answers made elsewhere to the project's tasks: a crowd-kit CSV (`task,worker,label`, also
/// `performer`/`output` and `question,worker,answer`), tasks named by their external ids,
/// stored as answers of imported annotators named by their worker ids — all or none.
#[utoipa::path(post, path = "/api/projects/{id}/answers/import", tag = "projects", params(("id" = i64, Path, description = "project id")), request_body(content = String, description = "a crowd-kit answers CSV: task,worker,label", content_type = "text/csv"), responses((status = 200, body = ImportAnswersResponse), (status = 422, description = "a bad row, or a task id the project lacks, named with its line", body = ErrorBody), (status = 413, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn import_answers(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Body,
) -> Result<Json<ImportAnswersResponse>, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let schema = state.store.project(id).await?.schema;
    // Read whole: capped like the other formats read whole.
    let limit = usize::try_from(state.config.max_upload_bytes.min(MAX_DOCUMENT_BYTES))
        .unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "an import may hold at most {limit} bytes; split the file"
        ))
    })?;
    let answers = tokio::task::spawn_blocking(move || parse_answers_csv(bytes.as_ref(), &schema))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::InvalidUpload)?;
    let lines: HashMap<String, usize> = answers
        .iter()
        .rev()
        .map(|a| (a.task.clone(), a.line))
        .collect();
    let stored = state
        .store
        .import_answers(
            id,
            answers.into_iter().map(|a| (a.task, a.answer)).collect(),
            state.clock.now(),
            Arc::clone(&state.consensus),
        )
        .await
        .map_err(|e| match e {
            StoreError::UnknownExternalId { external_id, .. } => {
                ApiError::InvalidUpload(UploadError {
                    line: lines.get(&external_id).copied().unwrap_or(1),
                    column: None,
                    message: format!("the project has no task {external_id:?}"),
                    read_failed: false,
                })
            }
            other => other.into(),
        })?;
    tracing::info!(project_id = id, answers = stored, "answers imported");
    Ok(Json(ImportAnswersResponse {
        answers_added: stored,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<String>,
    label: Option<String>,
}

/// Where a streamed export is: the pass over the project, and the page read next.
struct Step {
    writer: ExportWriter,
    pass: usize,
    page: Option<ExportPage>,
    state: Arc<AppState>,
}

#[utoipa::path(get, path = "/api/projects/{id}/export", tag = "projects", params(("id" = i64, Path, description = "project id"), ("format" = Option<String>, Query, description = "jsonl (default: Tessera's records, which upload back as they are), csv, tsv, ls-json (a Label Studio JSON export), ls-json-min, ls-config (the Label Studio labeling config), crowdkit, prodigy, toloka, conll, spacy, coco, yolo or voc (zips of label files)"), ("label" = Option<String>, Query, description = "for formats with one label a task: review (default: the reviewer's verdict, else the gold answer, else the consensus), consensus, or answers (every annotator's answer)")), responses((status = 200, description = "the export in the format asked for", body = [ExportRecord], content_type = "application/x-ndjson"), (status = 400, description = "bad request: an unknown format, or one the project's kind or the label choice does not fit", body = ErrorBody), (status = 422, description = "the format gives boxes in pixels and some images have no known size", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
pub async fn export_project(
    State(state): Shared,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    require_project_requester(&state, &caller, id).await?;
    let format = q.format.as_deref().unwrap_or("jsonl");
    let label = match q.label.as_deref() {
        None => LabelChoice::default(),
        Some(name) => LabelChoice::from_name(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown label choice {name:?}: use {}",
                LabelChoice::NAMES
            ))
        })?,
    };
    let schema = state.store.project(id).await?.schema;
    let mut writer = ExportWriter::new(format, schema, label).map_err(ApiError::BadRequest)?;
    let media_type = writer.media_type();
    if writer.needs_image_sizes() {
        // Pixels need the image's size: found missing before the reply starts, it is a
        // status, not a broken file.
        let mut after = 0;
        let mut without_size = 0;
        loop {
            let page = state.store.export_page(id, after, EXPORT_PAGE).await?;
            without_size += unsized_boxes(&page.records);
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        if without_size > 0 {
            return Err(ApiError::ImageSizesUnknown(format!(
                "{without_size} labeled images have no known size, and {format} gives boxes in pixels: upload them with their size (Label Studio's original_width/height, COCO, YOLO or VOC files, or a dataset folder with its images), or export yolo or ls-json"
            )));
        }
    }
    // The first page is read before the reply starts, so a failure there is still a status;
    // the rest stream a page at a time, and memory stays flat with the project's size.
    let first = if writer.wants_records() {
        Some(state.store.export_page(id, 0, EXPORT_PAGE).await?)
    } else {
        None
    };
    let head = writer
        .start()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let step = Step {
        writer,
        pass: 0,
        page: first,
        state: Arc::clone(&state),
    };
    let pages = futures_util::stream::unfold(Some(step), move |step| async move {
        let Step {
            mut writer,
            pass,
            page,
            state,
        } = step?;
        let failed = |e: String| Some((Err(std::io::Error::other(e)), None));
        let Some(page) = page else {
            // The pass is over: on to the next, or the end.
            let mut chunk = writer.end_pass(pass);
            if pass + 1 < writer.passes() {
                let next = match state.store.export_page(id, 0, EXPORT_PAGE).await {
                    Ok(next) => next,
                    Err(e) => return failed(e.to_string()),
                };
                let step = Step {
                    writer,
                    pass: pass + 1,
                    page: Some(next),
                    state,
                };
                return Some((Ok(Bytes::from(chunk)), Some(step)));
            }
            return match writer.finish() {
                Ok(end) => {
                    chunk.extend(end);
                    Some((Ok(Bytes::from(chunk)), None))
                }
                Err(e) => failed(e.to_string()),
            };
        };
        let chunk = match writer.page(&page.records, pass) {
            Ok(chunk) => chunk,
            Err(e) => return failed(e.to_string()),
        };
        let next = match page.next {
            None => None,
            Some(after) => match state.store.export_page(id, after, EXPORT_PAGE).await {
                Ok(next) => Some(next),
                // Cut off mid-body: the client sees a broken transfer, never a short file
                // that looks whole.
                Err(e) => {
                    tracing::error!(project_id = id, error = %e, "export page failed");
                    return failed(e.to_string());
                }
            },
        };
        let step = Step {
            writer,
            pass,
            page: next,
            state,
        };
        Some((Ok(Bytes::from(chunk)), Some(step)))
    });
    let body = Body::from_stream(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
            .chain(pages),
    );
    Ok(([(CONTENT_TYPE, HeaderValue::from_static(media_type))], body).into_response())
}
