//! http-conventions.md: server key, bearer, error body, routing, bodies, CORS.

use crate::helpers::{TestApp, SERVER_KEY};
use crate::storage_free;

const DEVICE: &str = "/v2/account/authenticate/device";

async fn post_with_auth(app: &TestApp, path: &str, auth: Option<&str>, body: &str) -> crate::helpers::Reply {
    let mut req = app.client.post(app.url(path)).body(body.to_string());
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    crate::helpers::Reply::from(req.send().await.unwrap()).await
}

storage_free!(server_key_rules);
async fn server_key_rules(app: TestApp) {
    let body = r#"{"id":"server-key-device"}"#;
    post_with_auth(&app, DEVICE, None, body).await.assert_error(401, 16, "Server key required");
    post_with_auth(&app, DEVICE, Some("Basic d3Jvbmc6"), body).await.assert_error(401, 16, "Server key invalid");
    post_with_auth(&app, DEVICE, Some("basic ZGVmYXVsdGtleTo="), body).await.assert_error(
        401,
        16,
        "Server key invalid",
    );
    post_with_auth(&app, DEVICE, Some("Basic ZGVmYXVsdGtleQ=="), body).await.assert_error(
        401,
        16,
        "Server key invalid",
    );
    let reply = post_with_auth(&app, DEVICE, Some("Basic ZGVmYXVsdGtleTo="), body).await;
    assert_eq!(reply.status, 200);
    // The password part is ignored.
    let with_password = format!("Basic {}", base64_encode(&format!("{SERVER_KEY}:anything")));
    assert_eq!(post_with_auth(&app, DEVICE, Some(&with_password), body).await.status, 200);
    let unauth = post_with_auth(&app, DEVICE, Some("Basic d3Jvbmc6"), body).await;
    assert_eq!(unauth.headers.get("www-authenticate").unwrap(), "Server key invalid");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

storage_free!(bearer_rules);
async fn bearer_rules(app: TestApp) {
    app.get_bearer("/v2/account", "garbage").await.assert_error(401, 16, "Auth token invalid");
    let res = app.client.get(app.url("/v2/account")).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(401, 16, "Auth token required");
    let login = app.device("bearer-device-1").await;
    app.get_bearer("/v2/account", &login.refresh_token()).await.assert_error(401, 16, "Auth token invalid");
    let res = app
        .client
        .get(app.url("/v2/account"))
        .header("Authorization", format!("bearer {}", login.token()))
        .send()
        .await
        .unwrap();
    crate::helpers::Reply::from(res).await.assert_error(401, 16, "Auth token invalid");
}

storage_free!(token_with_non_uuid_uid_is_refused);
async fn token_with_non_uuid_uid_is_refused(app: TestApp) {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let exp = hearth::clock::unix_now() + 60;
    let payload = engine.encode(format!(r#"{{"tid":"x","uid":"not-a-uuid","exp":{exp}}}"#));
    let signing = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}");
    let key = jsonwebtoken::EncodingKey::from_secret(b"defaultencryptionkey");
    let sig = jsonwebtoken::crypto::sign(signing.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    app.get_bearer("/v2/account", &format!("{signing}.{sig}")).await.assert_error(401, 16, "Auth token invalid");
}

storage_free!(unknown_route_and_wrong_method);
async fn unknown_route_and_wrong_method(app: TestApp) {
    let res = app.client.get(app.url("/v2/nothing")).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(404, 5, "Not Found");
    let res = app.client.get(app.url(DEVICE)).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(501, 12, "Method Not Allowed");
    let res = app.client.post(app.url("/v2/account/authenticate/device/")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let head = app.client.head(app.url(DEVICE)).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 501);
    let health = app.client.get(app.url("/healthcheck")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "{}");
}

storage_free!(body_errors_come_before_auth);
async fn body_errors_come_before_auth(app: TestApp) {
    let reply = post_with_auth(&app, DEVICE, None, "{bad").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["code"], 3);
    let reply = post_with_auth(&app, &format!("{DEVICE}?create=maybe"), None, "{}").await;
    reply.assert_error(400, 3, "parsing field \"create\": strconv.ParseBool: parsing \"maybe\": invalid syntax");
    let reply = app.post_key(DEVICE, "[1]").await;
    reply.assert_error(400, 3, "proto: syntax error (line 1:1): unexpected token [");
    assert_eq!(app.post_key(DEVICE, r#"{"id":123}"#).await.status, 400);
    assert_eq!(app.post_key(DEVICE, r#"{"id":"dup-device-1","id":"dup-device-2"}"#).await.status, 400);
    assert_eq!(app.post_key(DEVICE, r#"{"id":"x","vars":{"a":null}}"#).await.status, 400);
    // Unknown fields and trailing data are ignored; Content-Type is not looked at.
    assert_eq!(app.post_key(DEVICE, r#"{"id":"lenient-device","ID":"x","nested":{"a":1}} trailing"#).await.status, 200);
}

storage_free!(body_limit_is_262144_bytes);
async fn body_limit_is_262144_bytes(app: TestApp) {
    let prefix = r#"{"id":"limit-device-1","pad":""#;
    let exact = format!("{prefix}{}\"}}", "x".repeat(262_144 - prefix.len() - 2));
    assert_eq!(exact.len(), 262_144);
    assert_eq!(app.post_key(DEVICE, &exact).await.status, 200);
    let over = format!("{prefix}{}\"}}", "x".repeat(262_145 - prefix.len() - 2));
    app.post_key(DEVICE, &over).await.assert_error(400, 3, "http: request body too large");
}

storage_free!(gzip_bodies_are_decoded);
async fn gzip_bodies_are_decoded(app: TestApp) {
    assert_eq!(post_gzip(&app, DEVICE, br#"{"id":"gzip-device-1"}"#).await.status, 200);
}

storage_free!(cors_preflight_and_origin);
async fn cors_preflight_and_origin(app: TestApp) {
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v2/account"))
        .header("Origin", "http://game.example")
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["access-control-allow-methods"], "PUT");
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v2/account"))
        .header("Origin", "http://game.example")
        .header("Access-Control-Request-Method", "PATCH")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 405);
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v2/account"))
        .header("Origin", "http://game.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = app.client.get(app.url("/healthcheck")).header("Origin", "http://game.example").send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

fn signed(payload: &str, alg: jsonwebtoken::Algorithm, header: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing = format!("{}.{}", engine.encode(header), engine.encode(payload));
    let key = jsonwebtoken::EncodingKey::from_secret(b"defaultencryptionkey");
    let sig = jsonwebtoken::crypto::sign(signing.as_bytes(), &key, alg).unwrap();
    format!("{signing}.{sig}")
}

storage_free!(tokens_without_integer_future_exp_or_not_hs256_are_invalid);
async fn tokens_without_integer_future_exp_or_not_hs256_are_invalid(app: TestApp) {
    let login = app.device("exp-rules-device").await;
    let uid = crate::helpers::claims(&login.token())["uid"].as_str().unwrap().to_string();
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
    let now = hearth::clock::unix_now();
    let cases = [
        (format!(r#"{{"tid":"{uid}","uid":"{uid}"}}"#), jsonwebtoken::Algorithm::HS256, hs256),
        (format!(r#"{{"uid":"{uid}","exp":{}.5}}"#, now + 60), jsonwebtoken::Algorithm::HS256, hs256),
        (format!(r#"{{"uid":"{uid}","exp":"{}"}}"#, now + 60), jsonwebtoken::Algorithm::HS256, hs256),
        (format!(r#"{{"uid":"{uid}","exp":{}}}"#, now - 1), jsonwebtoken::Algorithm::HS256, hs256),
        (
            format!(r#"{{"uid":"{uid}","exp":{}}}"#, now + 60),
            jsonwebtoken::Algorithm::HS384,
            r#"{"alg":"HS384","typ":"JWT"}"#,
        ),
    ];
    for (payload, alg, header) in cases {
        let token = signed(&payload, alg, header);
        app.get_bearer("/v2/account", &token).await.assert_error(401, 16, "Auth token invalid");
    }
    // iat, tid and usn may be missing, and a future iat is fine.
    let token = signed(
        &format!(r#"{{"uid":"{uid}","exp":{},"iat":{}}}"#, now + 60, now + 1000),
        jsonwebtoken::Algorithm::HS256,
        hs256,
    );
    assert_eq!(app.get_bearer("/v2/account", &token).await.status, 200);
}

storage_free!(bearer_given_twice_is_invalid);
async fn bearer_given_twice_is_invalid(app: TestApp) {
    let token = app.new_device_token().await;
    let res = app
        .client
        .get(app.url("/v2/account"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    crate::helpers::Reply::from(res).await.assert_error(401, 16, "Auth token invalid");
}

storage_free!(repeated_single_query_field_is_invalid_argument);
async fn repeated_single_query_field_is_invalid_argument(app: TestApp) {
    app.post_key(&format!("{DEVICE}?create=true&create=false"), r#"{"id":"repeat-device-1"}"#).await.assert_error(
        400,
        3,
        "too many values for field \"create\": true, false",
    );
    app.post_key(&format!("{DEVICE}?username=a&username=b"), r#"{"id":"repeat-device-1"}"#).await.assert_error(
        400,
        3,
        "too many values for field \"username\": a, b",
    );
    // An empty username is the same as none: one is generated.
    let reply = app.post_key(&format!("{DEVICE}?username=&"), r#"{"id":"repeat-device-2"}"#).await;
    assert_eq!(crate::helpers::claims(&reply.token())["usn"].as_str().unwrap().len(), 10);
}

storage_free!(gzip_body_decoding_to_more_than_the_limit_is_resource_exhausted);
async fn gzip_body_decoding_to_more_than_the_limit_is_resource_exhausted(app: TestApp) {
    let body = format!(r#"{{"id":"gzip-big-device","vars":{{"pad":"{}"}}}}"#, "x".repeat(300_000));
    assert!(gzip(body.as_bytes()).len() < 262_144);
    let reply = post_gzip(&app, DEVICE, body.as_bytes()).await;
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(reply.body["code"], 8);
    assert!(reply.body["message"].as_str().unwrap().starts_with("trying to send message larger than max ("));
}

storage_free!(responses_are_gzipped_when_asked);
async fn responses_are_gzipped_when_asked(app: TestApp) {
    let token = app.new_device_token().await;
    // A client without transparent decompression sees the encoding header.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let res =
        raw.get(app.url("/v2/account")).bearer_auth(&token).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.headers()["cache-control"], "no-store, no-cache, must-revalidate");
    let bytes = res.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text).unwrap();
    assert!(text.starts_with(r#"{"user":{"id":""#), "{text}");
}

/// Sends raw HTTP/1.1 and reads until the server closes.
async fn raw_http(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.addr.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

storage_free!(upgrade_headers_on_rest_paths_are_answered_as_plain_requests);
async fn upgrade_headers_on_rest_paths_are_answered_as_plain_requests(app: TestApp) {
    // curl --http2 on plain http sends an h2c upgrade; the request must still be served.
    let body = r#"{"id":"h2c-upgrade-device"}"#;
    let answer = raw_http(
        &app,
        &format!(
            "POST /v2/account/authenticate/device HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAuthorization: Basic ZGVmYXVsdGtleTo=\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"created\":true"), "{answer}");
    let answer = raw_http(
        &app,
        "GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("{}"), "{answer}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// POSTs a gzip-encoded body with the server key.
async fn post_gzip(app: &TestApp, path: &str, body: &[u8]) -> crate::helpers::Reply {
    let res = app
        .client
        .post(app.url(path))
        .basic_auth(SERVER_KEY, Some(""))
        .header("Content-Encoding", "gzip")
        .body(gzip(body))
        .send()
        .await
        .unwrap();
    crate::helpers::Reply::from(res).await
}

/// Sends `method path` without any Authorization, its head first and its body 200 ms later,
/// so that a header check is decided long before the body is: the order of checks must not
/// depend on which one finishes first. Returns the status and the JSON body.
async fn late_body_without_auth(app: &TestApp, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use tokio::io::AsyncWriteExt;
    let mut stream = crate::raw::connect(&app.addr).await;
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let (head, body) = crate::raw::read_response(&mut stream).await;
    (head[9..12].parse().unwrap(), serde_json::from_slice(&body).unwrap())
}

const NOT_AN_OBJECT: &str = "proto: syntax error (line 1:1): unexpected token [";

storage_free!(body_errors_come_before_the_session);
async fn body_errors_come_before_the_session(app: TestApp) {
    let res = app.client.put(app.url("/v2/account")).body("[1]").send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(400, 3, NOT_AN_OBJECT);
    post_with_auth(&app, "/v2/session/logout", None, "[1]").await.assert_error(400, 3, NOT_AN_OBJECT);
    let late = late_body_without_auth(&app, "PUT", "/v2/account", "[1]").await;
    assert_eq!(late, (400, serde_json::json!({"code": 3, "message": NOT_AN_OBJECT})));
    let late = late_body_without_auth(&app, "POST", "/v2/session/logout", "[1]").await;
    assert_eq!(late, (400, serde_json::json!({"code": 3, "message": NOT_AN_OBJECT})));
}

storage_free!(body_errors_come_before_the_server_key);
async fn body_errors_come_before_the_server_key(app: TestApp) {
    post_with_auth(&app, "/v2/account/session/refresh", None, "[1]").await.assert_error(400, 3, NOT_AN_OBJECT);
    let late = late_body_without_auth(&app, "POST", "/v2/account/session/refresh", "[1]").await;
    assert_eq!(late, (400, serde_json::json!({"code": 3, "message": NOT_AN_OBJECT})));
    let late = late_body_without_auth(&app, "POST", DEVICE, "[1]").await;
    assert_eq!(late, (400, serde_json::json!({"code": 3, "message": NOT_AN_OBJECT})));
}

storage_free!(query_errors_come_before_the_session);
async fn query_errors_come_before_the_session(app: TestApp) {
    let res = app.client.get(app.url("/v2/friend?limit=ten")).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(
        400,
        3,
        "parsing field \"limit\": strconv.ParseInt: parsing \"ten\": invalid syntax",
    );
    let res = app.client.get(app.url("/v2/user?ids=%zz")).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(400, 3, "invalid URL escape \"%zz\"");
    // A late body with a bad query: the query is read after the body, before the key.
    let late = late_body_without_auth(&app, "POST", &format!("{DEVICE}?create=maybe"), "{}").await;
    let message = "parsing field \"create\": strconv.ParseBool: parsing \"maybe\": invalid syntax";
    assert_eq!(late, (400, serde_json::json!({"code": 3, "message": message})));
}

storage_free!(a_good_body_and_query_still_need_the_session);
async fn a_good_body_and_query_still_need_the_session(app: TestApp) {
    let late = late_body_without_auth(&app, "PUT", "/v2/account", "{}").await;
    assert_eq!(late, (401, serde_json::json!({"code": 16, "message": "Auth token required"})));
    let res = app.client.get(app.url("/v2/friend?limit=10")).send().await.unwrap();
    crate::helpers::Reply::from(res).await.assert_error(401, 16, "Auth token required");
    let late = late_body_without_auth(&app, "POST", "/v2/account/session/refresh", "{}").await;
    assert_eq!(late, (401, serde_json::json!({"code": 16, "message": "Server key required"})));
}
