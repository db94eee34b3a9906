//! Integration tests of the client API: the real app on port 0, a fresh database per test,
//! every storage test on SQLite and on PostgreSQL.

#[path = "../common/mod.rs"]
mod common;
use common::{helpers, pb_client, provider, raw, ws_client, ws_frames};

mod account;
mod authenticate;
mod bcrypt_upgrade;
mod console;
mod friends;
mod gateway;
mod grpc;
mod grpc_limits;
mod import_nakama;
mod limits;
mod link;
mod lockout;
mod metrics;
mod migrations;
mod races;
mod readiness;
mod realtime;
mod realtime_protobuf;
mod revocation;
mod routes;
mod session;
mod social_answer_shapes;
mod social_apple;
mod social_facebook;
mod social_gamecenter;
mod social_google;
mod social_instant_game;
mod social_steam;
mod text_edges;
