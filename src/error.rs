//! One error type for the API: a gRPC code and a client-facing message. The HTTP status
//! of each code and the gateway body `{"code":N,"message":"..."}` are written here only.

use std::borrow::Cow;
use std::fmt::Display;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

/// gRPC status codes used by the client API (http-conventions.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidArgument = 3,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Unimplemented = 12,
    Internal = 13,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    pub fn http_status(self) -> StatusCode {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists => StatusCode::CONFLICT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: Code,
    pub message: Cow<'static, str>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self { code, message: message.into() }
    }
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::NotFound, message)
    }
    pub fn already_exists(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::AlreadyExists, message)
    }
    pub fn permission_denied(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::PermissionDenied, message)
    }
    pub fn unauthenticated(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }
    /// An internal failure: the cause goes to the log, the client sees only `message`.
    /// A database error among the causes is counted (metric `db_query_errors`).
    pub fn internal<E: Display + 'static>(message: &'static str, cause: E) -> Self {
        if (&cause as &dyn std::any::Any).is::<sea_orm::DbErr>() {
            crate::metrics::DB_QUERY_ERRORS.inc();
        }
        tracing::error!(error = %cause, "{message}");
        Self::new(Code::Internal, message)
    }
    /// Adapter for `map_err`: `.map_err(ApiError::internal_with("Error finding user account."))`.
    pub fn internal_with<E: Display + 'static>(message: &'static str) -> impl FnOnce(E) -> ApiError {
        move |cause| ApiError::internal(message, cause)
    }
}

#[derive(serde::Serialize)]
struct GatewayBody<'a> {
    code: i32,
    message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.http_status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.code == Code::Unauthenticated {
            // Nakama repeats the message in Www-Authenticate on every 401.
            if let Ok(value) = header::HeaderValue::from_str(&self.message) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        response.json(GatewayBody { code: self.code as i32, message: &self.message })
    }
}
