//! The answers tonic gives before a method runs, in grpc-go's words as Nakama's clients see
//! them (grpc.md §2): unknown method or service, a message over the size limit, a request
//! that does not decode. tonic checks these itself; this layer only rewrites its status.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::Service;
use tonic::{Code, Status};

const SERVICE: &str = "nakama.api.Nakama";

#[derive(Clone, Copy)]
pub struct NakamaWordingLayer {
    /// `socket.max_request_size_bytes`, the limit tonic was given.
    pub limit: usize,
}

impl<S> tower_layer::Layer<S> for NakamaWordingLayer {
    type Service = NakamaWording<S>;
    fn layer(&self, inner: S) -> Self::Service {
        NakamaWording { inner, limit: self.limit }
    }
}

#[derive(Clone)]
pub struct NakamaWording<S> {
    inner: S,
    limit: usize,
}

impl<S, B, R> Service<Request<B>> for NakamaWording<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let limit = self.limit;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            reword(&path, limit, response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrites a trailers-only status answered by tonic itself; any other answer is left alone.
fn reword(path: &str, limit: usize, headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(message) = nakama_words(path, limit, &status) else {
        return;
    };
    let (code, message) = message;
    headers.remove("grpc-message");
    if Status::new(code, message).add_header(headers).is_err() {
        tracing::warn!(path, "cannot write a gRPC status");
    }
}

fn nakama_words(path: &str, limit: usize, status: &Status) -> Option<(Code, String)> {
    match status.code() {
        // The router's answer to a path it does not know carries no message.
        Code::Unimplemented if status.message().is_empty() => {
            let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
            Some(match service == SERVICE {
                true => (Code::Unimplemented, format!("unknown method {method} for service {SERVICE}")),
                false => (Code::Unimplemented, format!("unknown service {service}")),
            })
        }
        // Handlers never answer OUT_OF_RANGE (no error kind has it): this is tonic's size check,
        // "Error, decoded message length too large: found N bytes, the limit is: L bytes".
        Code::OutOfRange => {
            let found = status.message().split("found ").nth(1)?.split(' ').next()?;
            Some((Code::ResourceExhausted, format!("grpc: received message larger than max ({found} vs. {limit})")))
        }
        // prost's decoding error; the kinds' own internal messages never start like this.
        Code::Internal if status.message().starts_with("failed to decode Protobuf message") => {
            Some((Code::Internal, format!("grpc: error unmarshalling request: {}", status.message())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_method_and_service_are_named() {
        let status = Status::new(Code::Unimplemented, "");
        assert_eq!(
            nakama_words("/nakama.api.Nakama/NoSuchMethod", 10, &status),
            Some((Code::Unimplemented, "unknown method NoSuchMethod for service nakama.api.Nakama".into()))
        );
        assert_eq!(
            nakama_words("/foo.Bar/Baz", 10, &status),
            Some((Code::Unimplemented, "unknown service foo.Bar".into()))
        );
    }

    #[test]
    fn oversized_message_is_resource_exhausted_in_grpc_go_words() {
        let status = Status::new(
            Code::OutOfRange,
            "Error, decoded message length too large: found 303532 bytes, the limit is: 262144 bytes",
        );
        assert_eq!(
            nakama_words("/nakama.api.Nakama/AuthenticateDevice", 262_144, &status),
            Some((Code::ResourceExhausted, "grpc: received message larger than max (303532 vs. 262144)".into()))
        );
    }

    #[test]
    fn a_method_answer_is_left_alone() {
        let status = Status::new(Code::Unimplemented, "method AddFriends not implemented");
        assert_eq!(nakama_words("/nakama.api.Nakama/AddFriends", 10, &status), None);
        let status = Status::new(Code::Internal, "Error finding user account.");
        assert_eq!(nakama_words("/nakama.api.Nakama/AuthenticateDevice", 10, &status), None);
    }
}
