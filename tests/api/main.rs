//! Integration tests of the client API: the real app on port 0, a fresh database per test,
//! every storage test on SQLite and on PostgreSQL.

mod helpers;

mod account;
mod authenticate;
mod console;
mod gateway;
mod link;
mod metrics;
mod realtime;
mod session;
mod ws_client;
