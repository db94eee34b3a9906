//! A client call taken apart in the gateway's order: the JSON body, then the query, then
//! the server key or session (http-conventions.md; authenticate.md's order of checks).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::auth::Authenticate;
use super::query::FromQuery;
use crate::error::{ApiError, ApiResult};

/// What a client call needs, checked in this order whatever the timing: `body` (e.g.
/// `JsonBody<T>`), then `query`, then `auth` (`ServerKey` or `Caller`). One extractor,
/// because actix answers the first extractor error that becomes ready, not the first in
/// argument order: as separate arguments a header check would beat a body still arriving.
pub struct Call<A, B = NoBody, Q = NoQuery> {
    pub auth: A,
    pub body: B,
    pub query: Q,
}

/// A call that does not read its body (GET, DELETE): whatever was sent is left unread.
pub struct NoBody;

/// A call that reads no query parameter: the query string is not looked at.
pub struct NoQuery;

impl FromRequest for NoBody {
    type Error = ApiError;
    type Future = Ready<ApiResult<Self>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(NoBody))
    }
}

impl FromQuery for NoQuery {
    fn from_query(_: &str) -> ApiResult<Self> {
        Ok(NoQuery)
    }
}

impl<A, B, Q> FromRequest for Call<A, B, Q>
where
    A: Authenticate + 'static,
    B: FromRequest + 'static,
    B::Error: Into<ApiError>,
    B::Future: 'static,
    Q: FromQuery + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, ApiResult<Self>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = B::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await.map_err(Into::into)?;
            let query = Q::from_query(req.query_string())?;
            let auth = A::authenticate(&req)?;
            Ok(Call { auth, body, query })
        })
    }
}
