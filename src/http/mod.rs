//! What both HTTP listeners (the client API and the console) share: the extractors a
//! handler names in its signature (server key, caller, staff, JSON body, query) and limits.

pub mod auth;
pub mod body;
pub mod call;
pub mod error;
pub mod limits;
pub mod query;
pub mod staff;
pub mod users;

pub use auth::{Caller, ServerKey};
pub use body::JsonBody;
pub use call::{Call, NoBody, NoQuery};
pub use query::{FromQuery, Query, QueryString};
pub use staff::Staff;

use actix_web::HttpRequest;

/// The client's address, as the console's audit trail keeps it.
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
}
