//! Shared fixtures of the integration tests: the real app on port 0 against a fresh
//! database (`helpers`), provider stand-ins with keys made per test (`provider`), raw TCP
//! and WebSocket clients that send what no library would (`raw`, `ws_frames`), and the
//! realtime test clients (`ws_client` for JSON, `pb_client` for protobuf).

pub mod auth_cases;
pub mod grpc_client;
pub mod helpers;
pub mod pb_client;
pub mod provider;
pub mod raw;
pub mod ws_client;
pub mod ws_frames;
