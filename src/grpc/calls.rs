//! Each gRPC call as the connection limits and the metrics see it: its request's read clock
//! and the connection's busy state (`limits.rs`), then its time, bytes and outcome in the same
//! series as REST calls, with `transport="grpc"`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::Service;

use super::limits::{ConnectionActivity, Reading};
use crate::metrics::{Metrics, Transport};

#[derive(Clone)]
pub struct CallsLayer {
    pub metrics: Arc<Metrics>,
}

impl<S> tower_layer::Layer<S> for CallsLayer {
    type Service = Calls<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Calls { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone)]
pub struct Calls<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request<Body>> for Calls<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let activity = request.extensions().get::<ConnectionActivity>().cloned();
        let (in_flight, reading) = match activity {
            Some(ConnectionActivity(activity)) => {
                let (in_flight, reading) = activity.begin();
                (Some(in_flight), Some(reading))
            }
            None => (None, None),
        };
        let metrics = self.metrics.enabled().then(|| self.metrics.clone());
        let counted = metrics.clone();
        let request = request.map(|body| Body::new(Counted { body, reading, sent: false, bytes: 0, metrics: counted }));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(in_flight);
            let metrics = match (metrics, &answer) {
                (Some(metrics), Ok(_)) => metrics,
                _ => return answer,
            };
            let Ok(response) = answer else { return answer };
            metrics.api_call(Transport::Grpc, started.elapsed(), failed(response.headers()), 0, 0);
            let counted = metrics.clone();
            Ok(response
                .map(|body| Body::new(Counted { body, reading: None, sent: true, bytes: 0, metrics: Some(counted) })))
        })
    }
}

/// A trailers-only answer with a status other than OK (how tonic answers every error; an OK
/// answer sends its status in the trailers, after the message).
fn failed(headers: &HeaderMap) -> bool {
    headers.get("grpc-status").is_some_and(|status| status.as_bytes() != b"0")
}

/// A body whose bytes count as received (a request) or sent (an answer) once it is dropped; a
/// request's also stops its read clock at its end, or when dropped.
struct Counted {
    body: Body,
    reading: Option<Reading>,
    /// An answer's bytes (sent), or a request's (received).
    sent: bool,
    bytes: u64,
    metrics: Option<Arc<Metrics>>,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.as_mut().get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame {
            this.bytes += frame.data_ref().map_or(0, |data| data.len() as u64);
        }
        if matches!(frame, Poll::Ready(None)) || this.body.is_end_stream() {
            this.reading = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(metrics) = &self.metrics {
            let series = if self.sent { &metrics.overall_sent_bytes } else { &metrics.overall_recv_bytes };
            metrics.add(series, self.bytes);
        }
    }
}
