//! A local stand-in for the social providers, started inside each test on 127.0.0.1: it
//! answers JWKS, Graph, Steam and Game Center key requests as the test sets them, counts
//! hits, and can be slow or down. Plus the keys and signatures the tests need.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hearth::config::Config;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};

pub const APPLE_KEYS: &str = "/apple/auth/keys";
pub const FACEBOOK_KEYS: &str = "/facebook/jwks";
pub const GOOGLE_KEYS: &str = "/google/certs";
pub const GRAPH: &str = "/graph";
pub const STEAM: &str = "/steam";
pub const STEAM_TICKET: &str = "/steam/ISteamUserAuth/AuthenticateUserTicket/v1/";
pub const STEAM_FRIENDS: &str = "/steam/ISteamUser/GetFriendList/v0001/";

pub const BUNDLE_ID: &str = "com.example.hearth";
pub const FACEBOOK_APP_ID: &str = "1234567890";
pub const GOOGLE_CLIENT_ID: &str = "hearth-client.apps.googleusercontent.com";
pub const INSTANT_GAME_SECRET: &str = "instant-game-app-secret";
pub const STEAM_KEY: &str = "steam-publisher-key";
pub const STEAM_APP_ID: u32 = 480;

/// Runs a test on both backends with a provider stand-in the app is pointed at:
/// `provider_test!(name);` for `async fn name(app: TestApp, provider: Provider)`, or
/// `provider_test!(name, |c, p| ...);` to adjust the config further.
#[macro_export]
macro_rules! provider_test {
    ($name:ident) => {
        $crate::provider_test!($name, |_c: &mut hearth::config::Config, _p: &$crate::provider::Provider| {});
    };
    ($name:ident, $tweak:expr) => {
        mod $name {
            #[actix_rt::test]
            async fn sqlite() {
                $crate::provider::run($crate::helpers::Backend::Sqlite, $tweak, super::$name).await;
            }
            #[actix_rt::test]
            async fn postgres() {
                $crate::provider::run($crate::helpers::Backend::Postgres, $tweak, super::$name).await;
            }
        }
    };
}

pub async fn run<T, F>(backend: Backend, tweak: impl FnOnce(&mut Config, &Provider), test: T)
where
    T: FnOnce(TestApp, Provider) -> F,
    F: Future<Output = ()>,
{
    let provider = Provider::start().await;
    let app = spawn_app(backend, |c| {
        provider.configure(c);
        tweak(c, &provider)
    })
    .await;
    if let Some(app) = app {
        test(app, provider).await;
    }
}

/// One canned answer.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Canned {
    pub fn json(value: Value) -> Canned {
        Canned { status: 200, body: value.to_string().into_bytes(), delay: None }
    }
    pub fn bytes(body: Vec<u8>) -> Canned {
        Canned { status: 200, body, delay: None }
    }
    pub fn status(status: u16, body: &str) -> Canned {
        Canned { status, body: body.as_bytes().to_vec(), delay: None }
    }
    pub fn garbage() -> Canned {
        Canned { status: 200, body: b"<html>surprise</html>".to_vec(), delay: None }
    }
    pub fn slow(mut self, delay: Duration) -> Canned {
        self.delay = Some(delay);
        self
    }
}

type Answerer = Arc<dyn Fn(&HashMap<String, String>) -> Canned + Send + Sync>;

#[derive(Default)]
struct Routes {
    answers: HashMap<String, Answerer>,
    hits: HashMap<String, usize>,
}

#[derive(Clone)]
pub struct Provider {
    pub base: String,
    routes: Arc<Mutex<Routes>>,
    handle: ServerHandle,
}

async fn answer(req: HttpRequest, routes: web::Data<Arc<Mutex<Routes>>>) -> HttpResponse {
    let query: HashMap<String, String> = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let answerer = {
        let mut routes = routes.lock().unwrap();
        *routes.hits.entry(req.path().to_string()).or_default() += 1;
        routes.answers.get(req.path()).cloned()
    };
    let Some(answerer) = answerer else {
        return HttpResponse::NotFound().body("no such route");
    };
    let canned = answerer(&query);
    if let Some(delay) = canned.delay {
        actix_rt::time::sleep(delay).await;
    }
    let status = actix_web::http::StatusCode::from_u16(canned.status).unwrap();
    HttpResponse::build(status).content_type("application/json").body(canned.body)
}

impl Provider {
    pub async fn start() -> Provider {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let data = web::Data::new(routes.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(answer)))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind the provider stand-in");
        let addr = server.addrs()[0];
        let server = server.disable_signals().shutdown_timeout(0).run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Provider { base: format!("http://{addr}"), routes, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Points every provider setting at this stand-in and configures every provider.
    pub fn configure(&self, c: &mut Config) {
        c.social.timeout_ms = 2000;
        c.social.apple.bundle_id = BUNDLE_ID.into();
        c.social.apple.jwks_url = self.url(APPLE_KEYS);
        c.social.facebook.graph_url = self.url(GRAPH);
        c.social.facebook_limited_login.app_id = FACEBOOK_APP_ID.into();
        c.social.facebook_limited_login.jwks_url = self.url(FACEBOOK_KEYS);
        c.social.facebook_instant_game.app_secret = INSTANT_GAME_SECRET.into();
        c.social.google.client_ids = vec![GOOGLE_CLIENT_ID.into()];
        c.social.google.certs_url = self.url(GOOGLE_KEYS);
        c.social.gamecenter.allow_insecure_key_url = true;
        c.social.steam.publisher_key = STEAM_KEY.into();
        c.social.steam.app_id = STEAM_APP_ID;
        c.social.steam.api_url = self.url(STEAM);
    }

    pub fn answer(&self, path: &str, canned: Canned) {
        self.answer_with(path, move |_| canned.clone());
    }

    /// Answers `path` according to its query parameters.
    pub fn answer_with(
        &self,
        path: &str,
        answerer: impl Fn(&HashMap<String, String>) -> Canned + Send + Sync + 'static,
    ) {
        self.routes.lock().unwrap().answers.insert(path.to_string(), Arc::new(answerer));
    }

    pub fn hits(&self, path: &str) -> usize {
        self.routes.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    /// Stops answering: from now on its port refuses connections.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// An RSA signing key made for this test, named by `kid`.
pub struct TestKey {
    pub kid: String,
    private: RsaPrivateKey,
    encoding: EncodingKey,
}

impl TestKey {
    pub fn generate(kid: &str) -> TestKey {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
        let der = private.to_pkcs1_der().expect("PKCS#1");
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        TestKey { kid: kid.to_string(), private, encoding }
    }

    /// The same key under another `kid`.
    pub fn renamed(&self, kid: &str) -> TestKey {
        TestKey { kid: kid.to_string(), private: self.private.clone(), encoding: self.encoding.clone() }
    }

    pub fn jwk(&self) -> Value {
        let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64(self.private.n().to_bytes_be()),
            "e": b64(self.private.e().to_bytes_be()),
        })
    }

    /// An RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    /// RSA PKCS#1 v1.5 SHA-256 over `message`, standard base64 (Game Center).
    pub fn sign_pkcs1_sha256(&self, message: &[u8]) -> String {
        let pkcs8 = self.private.to_pkcs8_der().expect("PKCS#8");
        let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).expect("ring key");
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), message, &mut signature)
            .expect("sign");
        STANDARD.encode(signature)
    }

    /// A self-signed certificate holding this key: (DER, PEM).
    pub fn certificate(&self) -> (Vec<u8>, String) {
        let pkcs8 = self.private.to_pkcs8_der().expect("PKCS#8");
        let pair = rcgen::KeyPair::try_from(pkcs8.as_bytes()).expect("rcgen key");
        let params = rcgen::CertificateParams::new(vec!["gc.example".to_string()]).expect("params");
        let cert = params.self_signed(&pair).expect("self-signed");
        (cert.der().to_vec(), cert.pem())
    }
}

pub fn jwks(keys: &[&TestKey]) -> Canned {
    Canned::json(json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }))
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `{"token": ...}` as a JSON body.
pub fn token_body(token: &str) -> String {
    json!({ "token": token }).to_string()
}

/// The user ids and metadata of the caller's friends, through `GET /v2/friend`.
pub async fn friend_ids(app: &TestApp, token: &str) -> Vec<(String, Value)> {
    let reply = app.get_bearer("/v2/friend", token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["friends"]
        .as_array()
        .map(|friends| friends.iter().map(|f| (f["user"]["id"].as_str().unwrap().to_string(), f.clone())).collect())
        .unwrap_or_default()
}

pub fn user_id(token: &str) -> String {
    crate::helpers::claims(token)["uid"].as_str().unwrap().to_string()
}
