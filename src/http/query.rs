//! Query strings as the gateway parses them (http-conventions.md §4): proto or camelCase
//! names, case-sensitive, Go `strconv.ParseBool`, one value per single-valued field.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use percent_encoding::percent_decode_str;

use crate::error::{ApiError, ApiResult, ErrorKind};

/// The query parameters a handler reads, parsed (and their values checked) in one go.
pub trait FromQuery: Sized {
    fn from_query(query: &str) -> ApiResult<Self>;
}

/// A parsed query as an extractor of its own, for the console: it authenticates staff
/// first, so it takes `Result<Query<Q>, ApiError>` and answers a query error when it reads
/// it. Client calls name their query inside `Call` instead.
pub struct Query<Q = QueryString>(pub Q);

impl<Q: FromQuery> FromRequest for Query<Q> {
    type Error = ApiError;
    type Future = Ready<ApiResult<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Q::from_query(req.query_string()).map(Query))
    }
}

impl FromQuery for QueryString {
    fn from_query(query: &str) -> ApiResult<Self> {
        QueryString::parse(query)
    }
}

impl FromQuery for AuthQuery {
    fn from_query(query: &str) -> ApiResult<Self> {
        AuthQuery::parse(query)
    }
}

pub struct QueryString {
    pairs: Vec<(String, String)>,
}

impl QueryString {
    pub fn parse(query: &str) -> ApiResult<Self> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((unescape(key)?, unescape(value)?));
        }
        Ok(Self { pairs })
    }

    /// Like `parse`, skipping pairs that cannot be decoded instead of failing.
    pub fn parse_lenient(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|part| {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                Some((unescape(key).ok()?, unescape(value).ok()?))
            })
            .collect();
        Self { pairs }
    }

    /// Every decoded pair, in query order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Every value given under the proto name or the camelCase name.
    pub fn all(&self, name: &str, camel: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name || k == camel).map(|(_, v)| v.clone()).collect()
    }

    fn single(&self, name: &str, camel: &str) -> ApiResult<Option<String>> {
        let values = self.all(name, camel);
        match values.len() {
            0 => Ok(None),
            1 => Ok(values.into_iter().next()),
            _ => Err(ErrorKind::QueryRepeated { field: name.to_string(), values }.into()),
        }
    }

    /// A string parameter; empty is the same as absent.
    pub fn string(&self, name: &str, camel: &str) -> ApiResult<String> {
        Ok(self.single(name, camel)?.unwrap_or_default())
    }

    pub fn bool(&self, name: &str, camel: &str, default: bool) -> ApiResult<bool> {
        match self.single(name, camel)? {
            None => Ok(default),
            Some(v) => match go_parse_bool(&v) {
                Some(value) => Ok(value),
                None => Err(ErrorKind::QueryNotBool { field: name.to_string(), value: v }.into()),
            },
        }
    }
}

impl QueryString {
    /// An `Int32Value` parameter: absent is `None`.
    pub fn int32(&self, name: &str, camel: &str) -> ApiResult<Option<i32>> {
        match self.single(name, camel)? {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(value) => Ok(Some(value)),
                Err(_) => Err(ErrorKind::QueryNotInt { field: name.to_string(), value: v }.into()),
            },
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn go_parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn unescape(s: &str) -> ApiResult<String> {
    let plus = s.replace('+', " ");
    if let Some(bad) = invalid_escape(&plus) {
        return Err(ErrorKind::QueryEscape { escape: bad }.into());
    }
    percent_decode_str(&plus).decode_utf8().map(|c| c.into_owned()).map_err(|_| ErrorKind::QueryUtf8.into())
}

fn invalid_escape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return Some(String::from_utf8_lossy(&bytes[i..bytes.len().min(i + 3)]).into_owned());
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// `create` and `username` of the authenticate endpoints, and `sync` of facebook/steam.
pub struct AuthQuery {
    pub create: bool,
    pub username: String,
    pub sync: bool,
}

impl AuthQuery {
    pub fn parse(query: &str) -> ApiResult<Self> {
        let q = QueryString::parse(query)?;
        Ok(Self { create: q.bool("create", "create", true)?, username: q.string("username", "username")?, sync: false })
    }

    /// With `sync` (default false), read only by authenticate/facebook and /steam.
    pub fn parse_with_sync(query: &str) -> ApiResult<Self> {
        let q = QueryString::parse(query)?;
        Ok(Self {
            create: q.bool("create", "create", true)?,
            username: q.string("username", "username")?,
            sync: q.bool("sync", "sync", false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_parse_bool() {
        for v in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(AuthQuery::parse(&format!("create={v}")).unwrap().create);
        }
        for v in ["0", "f", "F", "FALSE", "false", "False"] {
            assert!(!AuthQuery::parse(&format!("create={v}")).unwrap().create);
        }
        let e = AuthQuery::parse("create=yes").err().unwrap();
        assert_eq!(e.message, "parsing field \"create\": strconv.ParseBool: parsing \"yes\": invalid syntax");
        assert!(AuthQuery::parse("create=").is_err());
        assert!(AuthQuery::parse("Create=maybe").unwrap().create);
    }

    #[test]
    fn repeated_single_field_is_refused() {
        let e = AuthQuery::parse("create=true&create=false").err().unwrap();
        assert_eq!(e.message, "too many values for field \"create\": true, false");
    }

    #[test]
    fn trailing_separators_are_fine() {
        let q = AuthQuery::parse("username=bob&").unwrap();
        assert_eq!(q.username, "bob");
        assert!(AuthQuery::parse("").unwrap().create);
    }
}
