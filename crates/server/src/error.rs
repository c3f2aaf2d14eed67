//! `ApiError`: every failure a handler can return, rendered as a status code plus a JSON
//! [`ErrorBody`] with a stable `code`. Internal details are logged, never sent.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_api::ErrorBody;
use tessera_core::UploadError;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing bearer token")]
    Unauthenticated,
    #[error("unknown token")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(String),
    /// The annotator's accuracy on gold fell below the project's bar.
    #[error("{0}")]
    Suspended(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidUpload(UploadError),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Conflict(String),
    /// The project is archived: no tasks are given out.
    #[error("{0}")]
    Archived(String),
    /// An export that gives boxes in pixels, of images whose size is not known.
    #[error("{0}")]
    ImageSizesUnknown(String),
    #[error("method not allowed here")]
    MethodNotAllowed,
    /// A service the server called for the request (an ML backend) refused or did not answer.
    #[error("{0}")]
    BadGateway(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Suspended(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidUpload(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) | ApiError::Archived(_) => StatusCode::CONFLICT,
            ApiError::ImageSizesUnknown(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidToken => "invalid_token",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Suspended(_) => "suspended",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidUpload(_) => "invalid_upload",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Conflict(_) => "conflict",
            ApiError::Archived(_) => "archived",
            ApiError::ImageSizesUnknown(_) => "image_sizes_unknown",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::BadGateway(_) => "bad_gateway",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let (line, column) = match &self {
            ApiError::InvalidUpload(e) => (Some(e.line), e.column),
            _ => (None, None),
        };
        let body = ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
            line,
            column,
        };
        (self.status_code(), Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            e @ (StoreError::UnknownTask { .. } | StoreError::UnknownExternalId { .. }) => {
                ApiError::NotFound(e.to_string())
            }
            StoreError::Conflict(msg) => ApiError::Conflict(msg),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::UnsupportedMediaType("expected Content-Type: application/json".to_owned())
            }
            JsonRejection::BytesRejection(_) => {
                ApiError::PayloadTooLarge("request body too large or unreadable".to_owned())
            }
            other => ApiError::InvalidJson(other.body_text()),
        }
    }
}

/// `Json` whose rejections are rendered as [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(format!("bad path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// `Path` whose rejections are rendered as [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `Query` whose rejections are rendered as [`ApiError`]s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant; the match makes a new variant fail to compile until it is here.
    fn every_variant() -> Vec<ApiError> {
        let all = vec![
            ApiError::Unauthenticated,
            ApiError::InvalidToken,
            ApiError::Forbidden(String::new()),
            ApiError::Suspended(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::BadRequest(String::new()),
            ApiError::InvalidJson(String::new()),
            ApiError::InvalidUpload(UploadError {
                line: 1,
                column: None,
                message: String::new(),
                read_failed: false,
            }),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::PayloadTooLarge(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::Archived(String::new()),
            ApiError::ImageSizesUnknown(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::BadGateway(String::new()),
            ApiError::Internal(String::new()),
        ];
        for e in &all {
            match e {
                ApiError::Unauthenticated
                | ApiError::InvalidToken
                | ApiError::Forbidden(_)
                | ApiError::Suspended(_)
                | ApiError::NotFound(_)
                | ApiError::BadRequest(_)
                | ApiError::InvalidJson(_)
                | ApiError::InvalidUpload(_)
                | ApiError::UnsupportedMediaType(_)
                | ApiError::PayloadTooLarge(_)
                | ApiError::Conflict(_)
                | ApiError::Archived(_)
                | ApiError::ImageSizesUnknown(_)
                | ApiError::MethodNotAllowed
                | ApiError::BadGateway(_)
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    /// This crate's directory in the checkout being tested (cargo sets it at run time too; a
    /// test binary from a cache built elsewhere must read this checkout's docs).
    fn manifest_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
    }

    #[test]
    fn docs_api_md_lists_every_error_code_with_its_status() {
        let page = std::fs::read_to_string(manifest_dir().join("../../docs/api.md"))
            .expect("docs/api.md is readable");
        for e in every_variant() {
            let row = format!("| {} | `{}` |", e.status_code().as_u16(), e.code());
            assert!(page.contains(&row), "docs/api.md has no row starting {row}");
        }
    }
}
