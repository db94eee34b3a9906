//! Request bodies as the Nakama gateway reads them (http-conventions.md §3): any
//! Content-Type, JSON object at the top, unknown fields ignored, trailing data ignored,
//! empty body = empty message, raw size limit, gzip/deflate decoded.

use std::future::Future;
use std::io::Read;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};
use crate::AppState;

/// A decoded JSON body.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit =
            req.app_data::<web::Data<AppState>>().map(|s| s.config.socket.max_request_size_bytes).unwrap_or(262_144);
        let encoding = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let mut payload = payload.take();
        Box::pin(async move {
            let mut raw = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::from(ErrorKind::BodyUnreadable(e.to_string())))?;
                if raw.len() + chunk.len() > limit {
                    return Err(ErrorKind::BodyTooLarge.into());
                }
                raw.extend_from_slice(&chunk);
            }
            let decoded = decode(&raw, encoding.as_deref(), limit)?;
            parse(&decoded).map(JsonBody)
        })
    }
}

/// Undoes a gzip/deflate Content-Encoding. A body labelled so that is not, ends up empty
/// (as in Nakama); a decoded body over the limit is `429`.
pub fn decode(raw: &[u8], encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    // Read one byte past the limit to learn that it is exceeded, and a bounded amount
    // more to report a size, without inflating a zip bomb.
    let cap = (limit as u64).saturating_mul(4);
    let result = match encoding {
        Some("gzip") | Some("x-gzip") => flate2::read::GzDecoder::new(raw).take(cap).read_to_end(&mut out),
        Some("deflate") => flate2::read::ZlibDecoder::new(raw).take(cap).read_to_end(&mut out),
        _ => return Ok(raw.to_vec()),
    };
    if result.is_err() {
        return Ok(Vec::new());
    }
    if out.len() > limit {
        return Err(ErrorKind::MessageTooLarge { size: out.len(), limit }.into());
    }
    Ok(out)
}

/// The JSON token a body starts with, as Go's decoder names it in errors.
fn first_token(rest: &[u8]) -> String {
    let end = match rest[0] {
        b'[' | b']' | b'}' | b',' | b':' => 1,
        b'"' => rest.iter().skip(1).position(|b| *b == b'"').map(|p| p + 2).unwrap_or(rest.len()),
        _ => rest.iter().position(|b| !(b.is_ascii_alphanumeric() || b"-+.".contains(b))).unwrap_or(rest.len()).max(1),
    };
    String::from_utf8_lossy(&rest[..end.min(64)]).into_owned()
}

/// Parses the first JSON value of `bytes` as `T`; whitespace only is the empty message.
pub fn parse<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Ok(T::default());
    };
    if bytes[start] != b'{' {
        return Err(ErrorKind::BodyNotObject { column: start + 1, token: first_token(&bytes[start..]) }.into());
    }
    let mut values = serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<T>();
    match values.next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(ErrorKind::BodySyntax(e.to_string()).into()),
        None => Ok(T::default()),
    }
}

/// A proto `int64` field: a JSON number or a decimal string; `null` is 0.
pub fn proto_int64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    use serde::Deserialize;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(0),
        serde_json::Value::Number(n) => {
            n.as_i64().ok_or_else(|| D::Error::custom(format!("invalid value for int64 field: {n}")))
        }
        serde_json::Value::String(s) => {
            s.parse().map_err(|_| D::Error::custom(format!("invalid value for int64 field: \"{s}\"")))
        }
        other => Err(D::Error::custom(format!("invalid value for int64 field: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug)]
    struct Device {
        id: Option<String>,
    }

    #[test]
    fn trailing_data_is_ignored() {
        let d: Device = parse(br#"{"id":"abc"} trailing"#).unwrap();
        assert_eq!(d.id.as_deref(), Some("abc"));
        let d: Device = parse(br#"{"id":"abc"}{"id":"x"}"#).unwrap();
        assert_eq!(d.id.as_deref(), Some("abc"));
    }

    #[test]
    fn top_level_must_be_an_object() {
        let e = parse::<Device>(b"[1]").unwrap_err();
        assert_eq!(e.message, "proto: syntax error (line 1:1): unexpected token [");
        let e = parse::<Device>(b"null").unwrap_err();
        assert_eq!(e.message, "proto: syntax error (line 1:1): unexpected token null");
        let e = parse::<Device>(br#""str""#).unwrap_err();
        assert_eq!(e.message, "proto: syntax error (line 1:1): unexpected token \"str\"");
    }

    #[test]
    fn whitespace_is_an_empty_message() {
        let d: Device = parse(b" \n ").unwrap();
        assert!(d.id.is_none());
    }
}
