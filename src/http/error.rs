//! An error kind as the gateway renders it (http-conventions.md §6): the code's HTTP
//! status and `{"code":N,"message":"..."}`, with the message repeated in
//! `Www-Authenticate` on every 401, as Nakama does.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::error::{ApiError, Code};

/// The HTTP status of a code, from the table in `crate::error`.
pub fn status(code: Code) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[derive(serde::Serialize)]
struct GatewayBody<'a> {
    code: i32,
    message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status(self.code)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.code == Code::Unauthenticated {
            if let Ok(value) = header::HeaderValue::from_str(&self.message) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        response.json(GatewayBody { code: self.code as i32, message: &self.message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn every_code_has_a_valid_status() {
        for kind in crate::error::every_kind() {
            let error = ApiError::from(kind);
            assert_eq!(error.status_code().as_u16(), error.code.http_status());
        }
    }

    #[test]
    fn a_401_repeats_its_message_in_www_authenticate() {
        let response = ApiError::from(ErrorKind::AuthTokenInvalid).error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Auth token invalid");
        let response = ApiError::from(ErrorKind::UserNotFound).error_response();
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
