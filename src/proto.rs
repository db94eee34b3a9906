//! The code build.rs generates from `proto/`: Nakama's API messages (and the gRPC service)
//! and the realtime envelope. Siblings, because the envelope refers to `super::api` types.

pub mod api {
    tonic::include_proto!("nakama.api");
}

pub mod realtime {
    tonic::include_proto!("nakama.realtime");
}
