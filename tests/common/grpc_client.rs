//! A client of the gRPC API generated from Hearth's own `proto/api.proto`, with the
//! metadata the SDKs send: `Basic base64("<server key>:")` or `Bearer <token>`.

use base64::Engine;
use hearth::grpc::proto::nakama_client::NakamaClient;
use tonic::transport::Channel;

use crate::common::helpers::TestApp;

pub type Client = NakamaClient<Channel>;

impl TestApp {
    /// A connected client; each call opens its own HTTP/2 connection.
    pub async fn grpc_client(&self) -> Client {
        NakamaClient::connect(self.grpc.clone()).await.expect("connect to the gRPC listener")
    }

    /// `message` with the server key, as the SDKs send it.
    pub fn with_key<T>(&self, message: T) -> tonic::Request<T> {
        with_authorization(message, &basic(&self.config.socket.server_key))
    }
}

pub fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

pub fn with_bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    with_authorization(message, &format!("Bearer {token}"))
}

pub fn with_authorization<T>(message: T, value: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", value.parse().expect("an ASCII metadata value"));
    request
}

/// Asserts a refusal: its gRPC code and message.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    answer: Result<tonic::Response<T>, tonic::Status>,
    code: tonic::Code,
    message: &str,
) {
    match answer {
        Ok(response) => panic!("expected {code:?} {message:?}, got {:?}", response.into_inner()),
        Err(status) => {
            assert_eq!(status.code(), code, "code of {status:?}");
            assert_eq!(status.message(), message, "message of {status:?}");
        }
    }
}
