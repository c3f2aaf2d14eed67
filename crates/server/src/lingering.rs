//! Refusing a request whose body is still arriving without losing the refusal.
//!
//! A handler may answer before it has read the whole body: an upload with a bad line, a body
//! over its limit, a bad token on a big request. Closing a socket with unread bytes in it
//! makes the kernel reset the connection, and the reset can break the client's writes and
//! destroy the answer before the client has read it ("error sending request" instead of
//! "line 2: …"). So a body dropped before its end is drained in the background for up to
//! [`LINGER`], and the response says `Connection: close`, since a connection with unread body
//! bytes cannot carry another request.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::{Stream, StreamExt};

/// How long a connection keeps reading (and discarding) the rest of a body its handler left.
const LINGER: Duration = Duration::from_secs(10);

/// Middleware for the whole router: see the module's documentation. Requests without a body
/// (most of them) pass untouched.
pub async fn finish_unread_bodies(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::from_stream(LingeringBody {
            inner: Some(body.into_data_stream()),
            ended: Arc::clone(&ended),
        })
    });
    let mut response = next.run(request).await;
    if !ended.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that, dropped before its end, hands the rest to a task that reads and
/// discards it until it ends or [`LINGER`] passes.
struct LingeringBody {
    inner: Option<BodyDataStream>,
    ended: Arc<AtomicBool>,
}

impl Stream for LingeringBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let next = inner.poll_next_unpin(cx);
        match next {
            Poll::Ready(None) => self.ended.store(true, Ordering::Release),
            // A body that broke off (or stopped coming in time) leaves the connection unfit
            // for another request; there is nothing more to drain.
            Poll::Ready(Some(Err(_))) => self.inner = None,
            _ => {}
        }
        next
    }
}

impl Drop for LingeringBody {
    fn drop(&mut self) {
        let Some(mut rest) = self.inner.take() else {
            return;
        };
        if self.ended.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let drained = tokio::time::timeout(LINGER, async {
                let mut bytes = 0usize;
                while let Some(Ok(chunk)) = rest.next().await {
                    bytes += chunk.len();
                }
                bytes
            })
            .await;
            tracing::debug!(?drained, "drained a refused request's body");
        });
    }
}
