//! A batch upload parsed while its request body arrives: the body is never held whole, a bad
//! line is refused while the rest is still on the wire, and nothing is stored until every
//! line parsed (the store then inserts the batch all-or-nothing).

use std::io::Read;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tessera_core::{EncodedTask, LabelSchema, Parsed, UploadFormat, parse_upload_with};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Body chunks (hyper hands out up to a few hundred KB each) queued for the parser before
/// the network read waits for it.
const QUEUED_CHUNKS: usize = 16;

/// Parses `body` as `format` on a blocking thread, fed chunk by chunk as they arrive, into
/// tasks encoded for the store. More than `limit` bytes is 413; a bad line is 422 naming it;
/// a body cut off is 400.
pub async fn parse_body(
    body: Body,
    format: UploadFormat,
    schema: LabelSchema,
    lenient: bool,
    limit: u64,
    metrics: &Metrics,
) -> Result<Parsed<EncodedTask>, ApiError> {
    let (chunks, queue) = mpsc::channel(QUEUED_CHUNKS);
    let parser = tokio::task::spawn_blocking(move || {
        parse_upload_with(BodyReader::new(queue), format, &schema, lenient)
    });
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let mut refusal = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                refusal = Some(ApiError::BadRequest(format!(
                    "the upload was cut off after {received} bytes: {e}"
                )));
                break;
            }
        };
        received += chunk.len() as u64;
        Metrics::add(&metrics.upload_bytes, chunk.len() as u64);
        if received > limit {
            refusal = Some(ApiError::PayloadTooLarge(format!(
                "an upload may hold at most {limit} bytes; split the batch"
            )));
            break;
        }
        // A send fails only when the parser stopped early, at a bad line.
        if chunks.send(Ok(chunk)).await.is_err() {
            break;
        }
    }
    if refusal.is_some() {
        // Stop the parser at once rather than let it finish a batch nobody will store.
        let _ = chunks.send(Err(())).await;
    }
    drop(chunks);
    let parsed = parser
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match (refusal, parsed) {
        // A bad line the parser found before the cut comes first in file order (JSONL pieces
        // are parsed while later ones are read, so the limit can trip before it is reported).
        (Some(_), Err(bad_line)) if !bad_line.read_failed => Err(ApiError::InvalidUpload(bad_line)),
        (Some(refusal), _) => Err(refusal),
        (None, parsed) => parsed.map_err(ApiError::InvalidUpload),
    }
}

/// A blocking [`Read`] over the body chunks the request handler forwards; an `Err` in the
/// queue aborts the read.
struct BodyReader {
    queue: mpsc::Receiver<Result<Bytes, ()>>,
    current: Bytes,
}

impl BodyReader {
    fn new(queue: mpsc::Receiver<Result<Bytes, ()>>) -> Self {
        Self {
            queue,
            current: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.queue.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(())) => return Err(std::io::Error::other("the upload was refused")),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
