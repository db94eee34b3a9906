//! One typed `Config`, merged from built-in defaults, `config.toml` (or `--config`),
//! `HEARTH_*` environment variables and `--section.key` flags, later sources winning.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// One documented setting: the single list that drives `--help`, flags and env names.
pub struct Setting {
    pub key: &'static str,
    pub help: &'static str,
    pub flag_bool: bool,
}

const fn setting(key: &'static str, help: &'static str) -> Setting {
    Setting { key, help, flag_bool: false }
}

const fn switch(key: &'static str, help: &'static str) -> Setting {
    Setting { key, help, flag_bool: true }
}

/// Every setting Hearth reads. Keep in step with `config.toml` (a test checks it).
pub const SETTINGS: &[Setting] = &[
    setting("name", "Node name, 1-16 characters (default hearth)"),
    setting("socket.address", "Client API listen address (default 127.0.0.1)"),
    setting("socket.port", "Client API port (default 7350)"),
    setting("socket.server_key", "Server key clients send with HTTP Basic (default defaultkey; secret)"),
    setting("socket.max_request_size_bytes", "Largest request body in bytes (default 262144)"),
    setting("socket.max_message_size_bytes", "Largest realtime message in bytes; larger closes 1009 (default 4096)"),
    setting("socket.ping_period_ms", "Silence before the server pings a socket (default 15000)"),
    setting("socket.pong_wait_ms", "Silence before a socket is dropped; > ping period (default 25000)"),
    setting("socket.ping_backoff_threshold", "Every Nth inbound message counts as proof of life (default 20)"),
    setting("socket.write_wait_ms", "Deadline of each socket write (default 5000)"),
    setting("socket.outgoing_queue_size", "Frames queued per socket before it is closed as slow (default 64)"),
    setting("socket.workers", "Client API worker threads; 0 = one per core (default 0)"),
    setting("socket.read_timeout_ms", "Deadline for reading a whole request, head and body (default 10000)"),
    setting("socket.idle_timeout_ms", "Keep-alive connection idle timeout (default 60000)"),
    setting(
        "socket.max_connections",
        "Open client API connections, sockets included; more are refused (default 50000)",
    ),
    setting("session.encryption_key", "HMAC key of access tokens (secret)"),
    setting("session.refresh_encryption_key", "HMAC key of refresh tokens; must differ (secret)"),
    setting("session.token_expiry_sec", "Access token lifetime in seconds (default 60)"),
    setting("session.refresh_token_expiry_sec", "Refresh token lifetime in seconds (default 3600)"),
    switch("session.single_session", "A new login revokes the user's older tokens (default false)"),
    switch("session.single_socket", "A new socket closes the user's older sockets (default false)"),
    setting("session.max_failed_logins", "Wrong passwords per account before 429; 0 = off (default 10)"),
    setting("session.failed_login_window_sec", "Window of the failed-login count in seconds (default 600)"),
    setting("session.max_live_sessions", "Live sessions listed for the console, in all (default 1000000)"),
    setting("database.url", "sqlite://<file> (default data/hearth.sqlite3) or postgres://user@host/db"),
    setting("database.max_connections", "Database pool size (default 16)"),
    setting(
        "database.acquire_timeout_ms",
        "PostgreSQL: wait for a pooled connection before a request fails (default 1000)",
    ),
    setting("password.hash_threads", "Threads hashing passwords; 0 = one per core (default 0)"),
    setting("logger.level", "debug, info, warn or error (default info)"),
    setting("social.timeout_ms", "Connect and total timeout of each provider request (default 5000)"),
    setting("social.apple.bundle_id", "Apple bundle id; tokens must carry it as aud; empty = Apple off"),
    setting("social.apple.jwks_url", "Apple's sign-in keys (default https://appleid.apple.com/auth/keys)"),
    setting("social.facebook.graph_url", "Facebook Graph API base (default https://graph.facebook.com/v22.0)"),
    setting("social.facebook_limited_login.app_id", "Facebook app id; Limited Login tokens must carry it as aud"),
    setting("social.facebook_limited_login.jwks_url", "Facebook Limited Login keys (JWKS)"),
    setting("social.facebook_instant_game.app_secret", "Instant Games app secret; empty = refused (secret)"),
    setting("social.google.client_ids", "Accepted aud of Google ID tokens, comma-separated; empty = any"),
    setting("social.google.certs_url", "Google's ID token keys (default https://www.googleapis.com/oauth2/v3/certs)"),
    switch("social.gamecenter.allow_insecure_key_url", "Tests only: any http(s) Game Center key URL (default false)"),
    setting("social.steam.publisher_key", "Steam Web API publisher key (secret)"),
    setting("social.steam.app_id", "Steam app id; 0 = Steam off (default 0)"),
    setting("social.steam.api_url", "Steam Web API base (default https://partner.steam-api.com)"),
    setting("console.address", "Console listen address (default 127.0.0.1)"),
    setting("console.port", "Console port: staff API, web page, /metrics (default 7351)"),
    setting("console.username", "Console admin username (default admin; secret)"),
    setting("console.password", "Console admin password (default password; secret)"),
    setting("console.signing_key", "HMAC key of console tokens (default defaultsigningkey; secret)"),
    setting("console.token_expiry_sec", "Console token lifetime in seconds (default 86400)"),
    setting("console.max_failed_logins", "Failed console logins per username before 429; 0 = off (default 5)"),
    setting("console.failed_login_window_sec", "Window of the console failed-login count in seconds (default 900)"),
    setting("console.read_timeout_ms", "Console deadline for reading a whole request (default 10000)"),
    setting("console.idle_timeout_ms", "Console keep-alive idle timeout (default 300000)"),
    setting("console.max_connections", "Open console connections; more are refused (default 256)"),
    switch("metrics.enabled", "Count metrics; false turns every counter off (default true)"),
    setting("metrics.prefix", "Prefix of metric names; nakama gives Nakama's names (default hearth)"),
    setting("metrics.prometheus_port", "Extra Prometheus listener on all interfaces; 0 = off (default 0)"),
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub name: String,
    pub socket: SocketConfig,
    pub session: SessionConfig,
    pub database: DatabaseConfig,
    pub password: PasswordConfig,
    pub logger: LoggerConfig,
    pub social: SocialConfig,
    pub console: ConsoleConfig,
    pub metrics: MetricsConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocketConfig {
    pub address: String,
    pub port: u16,
    pub server_key: String,
    pub max_request_size_bytes: usize,
    pub max_message_size_bytes: usize,
    pub ping_period_ms: u64,
    pub pong_wait_ms: u64,
    pub ping_backoff_threshold: u32,
    pub write_wait_ms: u64,
    pub outgoing_queue_size: usize,
    pub workers: usize,
    pub read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_connections: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub encryption_key: String,
    pub refresh_encryption_key: String,
    pub token_expiry_sec: i64,
    pub refresh_token_expiry_sec: i64,
    pub single_session: bool,
    pub single_socket: bool,
    pub max_failed_logins: u32,
    pub failed_login_window_sec: i64,
    pub max_live_sessions: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub hash_threads: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggerConfig {
    pub level: String,
}

/// Social login providers: credentials, and every provider base URL so tests can point
/// them at a local stand-in (defaults are the real providers).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocialConfig {
    pub timeout_ms: u64,
    pub apple: AppleConfig,
    pub facebook: FacebookConfig,
    pub facebook_limited_login: FacebookLimitedLoginConfig,
    pub facebook_instant_game: FacebookInstantGameConfig,
    pub google: GoogleConfig,
    pub gamecenter: GameCenterConfig,
    pub steam: SteamConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub address: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub signing_key: String,
    pub token_expiry_sec: i64,
    pub max_failed_logins: u32,
    pub failed_login_window_sec: i64,
    pub read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_connections: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppleConfig {
    pub bundle_id: String,
    pub jwks_url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacebookConfig {
    pub graph_url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacebookLimitedLoginConfig {
    pub app_id: String,
    pub jwks_url: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacebookInstantGameConfig {
    pub app_secret: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleConfig {
    /// A TOML list, or one comma-separated string from the environment or a flag.
    #[serde(deserialize_with = "list_or_commas")]
    pub client_ids: Vec<String>,
    pub certs_url: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GameCenterConfig {
    pub allow_insecure_key_url: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SteamConfig {
    pub publisher_key: String,
    pub app_id: u32,
    pub api_url: String,
}

impl Default for SocialConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5000,
            apple: AppleConfig::default(),
            facebook: FacebookConfig::default(),
            facebook_limited_login: FacebookLimitedLoginConfig::default(),
            facebook_instant_game: FacebookInstantGameConfig::default(),
            google: GoogleConfig::default(),
            gamecenter: GameCenterConfig::default(),
            steam: SteamConfig::default(),
        }
    }
}

impl Default for AppleConfig {
    fn default() -> Self {
        Self { bundle_id: String::new(), jwks_url: "https://appleid.apple.com/auth/keys".into() }
    }
}

impl Default for FacebookConfig {
    fn default() -> Self {
        Self { graph_url: "https://graph.facebook.com/v22.0".into() }
    }
}

impl Default for FacebookLimitedLoginConfig {
    fn default() -> Self {
        Self { app_id: String::new(), jwks_url: "https://limited.facebook.com/.well-known/oauth/openid/jwks/".into() }
    }
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self { client_ids: Vec::new(), certs_url: "https://www.googleapis.com/oauth2/v3/certs".into() }
    }
}

impl Default for SteamConfig {
    fn default() -> Self {
        Self { publisher_key: String::new(), app_id: 0, api_url: "https://partner.steam-api.com".into() }
    }
}

/// A list setting: a sequence of strings, or one string of comma-separated values.
fn list_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct ListOrCommas;
    impl<'de> serde::de::Visitor<'de> for ListOrCommas {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(ListOrCommas)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub prefix: String,
    pub prometheus_port: u16,
}

pub const DEFAULT_CONSOLE_USERNAME: &str = "admin";
pub const DEFAULT_CONSOLE_PASSWORD: &str = "password";
pub const DEFAULT_SIGNING_KEY: &str = "defaultsigningkey";

pub const DEFAULT_SERVER_KEY: &str = "defaultkey";
pub const DEFAULT_ENCRYPTION_KEY: &str = "defaultencryptionkey";
pub const DEFAULT_REFRESH_ENCRYPTION_KEY: &str = "defaultrefreshencryptionkey";

impl Default for Config {
    fn default() -> Self {
        Self {
            name: "hearth".into(),
            socket: SocketConfig::default(),
            session: SessionConfig::default(),
            database: DatabaseConfig::default(),
            password: PasswordConfig::default(),
            logger: LoggerConfig::default(),
            social: SocialConfig::default(),
            console: ConsoleConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 7351,
            username: DEFAULT_CONSOLE_USERNAME.into(),
            password: DEFAULT_CONSOLE_PASSWORD.into(),
            signing_key: DEFAULT_SIGNING_KEY.into(),
            token_expiry_sec: 86_400,
            max_failed_logins: 5,
            failed_login_window_sec: 900,
            read_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            max_connections: 256,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, prefix: "hearth".into(), prometheus_port: 0 }
    }
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 7350,
            server_key: DEFAULT_SERVER_KEY.into(),
            max_request_size_bytes: 262_144,
            max_message_size_bytes: 4096,
            ping_period_ms: 15_000,
            pong_wait_ms: 25_000,
            ping_backoff_threshold: 20,
            write_wait_ms: 5000,
            outgoing_queue_size: 64,
            workers: 0,
            read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 50_000,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            encryption_key: DEFAULT_ENCRYPTION_KEY.into(),
            refresh_encryption_key: DEFAULT_REFRESH_ENCRYPTION_KEY.into(),
            token_expiry_sec: 60,
            refresh_token_expiry_sec: 3600,
            single_session: false,
            single_socket: false,
            max_failed_logins: 10,
            failed_login_window_sec: 600,
            max_live_sessions: 1_000_000,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://data/hearth.sqlite3".into(), max_connections: 16, acquire_timeout_ms: 1000 }
    }
}

impl Default for LoggerConfig {
    fn default() -> Self {
        Self { level: "info".into() }
    }
}

/// Cores available to this process (the default thread counts).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A configuration problem, reported as one line naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }
}

/// What the command line asked for.
pub enum Command {
    Serve,
    Migrate(MigrateAction),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateAction {
    Up,
    Down,
    Status,
}

pub fn cli() -> clap::Command {
    let mut cmd = clap::Command::new("hearth")
        .about("Hearth: Nakama's client API for accounts, sessions and presence")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(
            clap::Arg::new("config")
                .long("config")
                .value_name("FILE")
                .global(true)
                .help("Config file (default ./config.toml when it exists)"),
        )
        .subcommand(
            clap::Command::new("migrate").about("Run database migrations").arg(
                clap::Arg::new("action")
                    .value_parser(["up", "down", "status"])
                    .required(true)
                    .help("up: apply all pending; down: revert the newest; status: list"),
            ),
        );
    for s in SETTINGS {
        let mut arg = clap::Arg::new(s.key).long(s.key).help(s.help).global(true);
        arg = if s.flag_bool {
            arg.value_name("BOOL").num_args(0..=1).default_missing_value("true")
        } else {
            arg.value_name("VALUE")
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

/// Parses the command line (exits on `--help` or a usage error) and loads the config.
pub fn from_args<I, T>(args: I) -> Result<(Command, Config), ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = cli().get_matches_from(args);
    let command = match matches.subcommand() {
        Some(("migrate", sub)) => {
            let action = match sub.get_one::<String>("action").map(String::as_str) {
                Some("down") => MigrateAction::Down,
                Some("status") => MigrateAction::Status,
                _ => MigrateAction::Up,
            };
            Command::Migrate(action)
        }
        _ => Command::Serve,
    };
    let mut flags = BTreeMap::new();
    for s in SETTINGS {
        // Global args are visible on the subcommand's matches too; merge both.
        let sub = matches.subcommand().map(|(_, m)| m);
        let value = sub.and_then(|m| m.get_one::<String>(s.key)).or_else(|| matches.get_one::<String>(s.key));
        if let Some(v) = value {
            flags.insert(s.key.to_string(), v.clone());
        }
    }
    let file = matches.get_one::<String>("config").map(PathBuf::from);
    let config = load(file, &flags, std::env::vars())?;
    Ok((command, config))
}

/// Merges defaults, the config file, environment and flags, then validates.
pub fn load(
    file: Option<PathBuf>,
    flags: &BTreeMap<String, String>,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match file {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::new("config", format!("file {} not found", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        None => figment = figment.merge(Toml::file("config.toml")),
    }
    // Only the known HEARTH_<SECTION>__<KEY> names are settings; other HEARTH_* variables
    // (test knobs, for instance) are not ours to reject.
    let env: Vec<(String, String)> = env.collect();
    let mut from_env = BTreeMap::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("HEARTH_") else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace("__", ".");
        if SETTINGS.iter().any(|s| s.key == key) {
            from_env.insert(key, value);
        }
    }
    for (source, values) in [("environment", &from_env), ("flag", flags)] {
        for (key, raw) in values {
            let value: figment::value::Value =
                raw.parse().map_err(|_| ConfigError::new(key, format!("unreadable {source} value")))?;
            // Strings that look like numbers stay strings for string settings.
            let value = if is_string_setting(key) { raw.clone().into() } else { value };
            figment = figment.merge(Serialized::default(key, value));
        }
    }
    let config: Config = figment.extract().map_err(|e| {
        let key = e.path.join(".");
        let key = if key.is_empty() { "config".to_string() } else { key };
        ConfigError::new(&key, e.kind.to_string())
    })?;
    config.validate()?;
    Ok(config)
}

/// Settings never shown by the console (config.md §3 plus the console's own secrets).
pub const SECRET_SETTINGS: [&str; 5] = [
    "socket.server_key",
    "session.encryption_key",
    "session.refresh_encryption_key",
    "console.password",
    "console.signing_key",
];

pub const REDACTED: &str = "<redacted>";

/// `postgres://user:secret@host/db` -> `postgres://user:<redacted>@host/db`.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
        None => url.to_string(),
    }
}

fn is_string_setting(key: &str) -> bool {
    matches!(
        key,
        "name"
            | "socket.address"
            | "socket.server_key"
            | "session.encryption_key"
            | "session.refresh_encryption_key"
            | "database.url"
            | "logger.level"
            | "social.apple.bundle_id"
            | "social.apple.jwks_url"
            | "social.facebook.graph_url"
            | "social.facebook_limited_login.app_id"
            | "social.facebook_limited_login.jwks_url"
            | "social.facebook_instant_game.app_secret"
            | "social.google.client_ids"
            | "social.google.certs_url"
            | "social.steam.publisher_key"
            | "social.steam.api_url"
            | "console.address"
            | "console.username"
            | "console.password"
            | "console.signing_key"
            | "metrics.prefix"
    )
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let len = self.name.chars().count();
        if !(1..=16).contains(&len) {
            return Err(ConfigError::new("name", "must be 1-16 characters"));
        }
        if self.socket.server_key.is_empty() {
            return Err(ConfigError::new("socket.server_key", "must not be empty"));
        }
        if self.socket.max_request_size_bytes == 0 {
            return Err(ConfigError::new("socket.max_request_size_bytes", "must be at least 1"));
        }
        if self.socket.max_message_size_bytes == 0 {
            return Err(ConfigError::new("socket.max_message_size_bytes", "must be at least 1"));
        }
        if self.socket.ping_period_ms == 0 {
            return Err(ConfigError::new("socket.ping_period_ms", "must be at least 1"));
        }
        if self.socket.pong_wait_ms <= self.socket.ping_period_ms {
            return Err(ConfigError::new("socket.pong_wait_ms", "must be greater than socket.ping_period_ms"));
        }
        if self.socket.ping_backoff_threshold == 0 {
            return Err(ConfigError::new("socket.ping_backoff_threshold", "must be at least 1"));
        }
        if self.socket.write_wait_ms == 0 {
            return Err(ConfigError::new("socket.write_wait_ms", "must be at least 1"));
        }
        if self.socket.outgoing_queue_size == 0 {
            return Err(ConfigError::new("socket.outgoing_queue_size", "must be at least 1"));
        }
        for (key, value) in [
            ("socket.read_timeout_ms", self.socket.read_timeout_ms),
            ("socket.idle_timeout_ms", self.socket.idle_timeout_ms),
            ("socket.max_connections", self.socket.max_connections as u64),
            ("console.read_timeout_ms", self.console.read_timeout_ms),
            ("console.idle_timeout_ms", self.console.idle_timeout_ms),
            ("console.max_connections", self.console.max_connections as u64),
            ("database.acquire_timeout_ms", self.database.acquire_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if self.session.encryption_key.is_empty() {
            return Err(ConfigError::new("session.encryption_key", "must not be empty"));
        }
        if self.session.refresh_encryption_key.is_empty() {
            return Err(ConfigError::new("session.refresh_encryption_key", "must not be empty"));
        }
        if self.session.refresh_encryption_key == self.session.encryption_key {
            return Err(ConfigError::new("session.refresh_encryption_key", "must differ from session.encryption_key"));
        }
        if self.session.token_expiry_sec < 1 {
            return Err(ConfigError::new("session.token_expiry_sec", "must be at least 1"));
        }
        if self.session.refresh_token_expiry_sec < 1 {
            return Err(ConfigError::new("session.refresh_token_expiry_sec", "must be at least 1"));
        }
        if self.session.failed_login_window_sec < 1 {
            return Err(ConfigError::new("session.failed_login_window_sec", "must be at least 1"));
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new("database.url", "must start with sqlite: or postgres://"));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new("database.max_connections", "must be at least 1"));
        }
        if !matches!(self.logger.level.to_ascii_lowercase().as_str(), "debug" | "info" | "warn" | "error") {
            return Err(ConfigError::new("logger.level", "must be debug, info, warn or error"));
        }
        if self.social.timeout_ms == 0 {
            return Err(ConfigError::new("social.timeout_ms", "must be at least 1"));
        }
        for (key, url) in [
            ("social.apple.jwks_url", &self.social.apple.jwks_url),
            ("social.facebook.graph_url", &self.social.facebook.graph_url),
            ("social.facebook_limited_login.jwks_url", &self.social.facebook_limited_login.jwks_url),
            ("social.google.certs_url", &self.social.google.certs_url),
            ("social.steam.api_url", &self.social.steam.api_url),
        ] {
            let parsed = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
            if parsed.is_none() {
                return Err(ConfigError::new(key, "must be an http(s) URL"));
            }
        }
        self.validate_console()
    }

    fn validate_console(&self) -> Result<(), ConfigError> {
        let c = &self.console;
        let username_ok = |u: &str| {
            let b = u.as_bytes();
            b.len() >= 3
                && b[0].is_ascii_alphanumeric()
                && (b[1].is_ascii_alphanumeric() || b[1] == b'.' || b[1] == b'_')
                && b[b.len() - 1].is_ascii_alphanumeric()
        };
        if !username_ok(&c.username) {
            return Err(ConfigError::new("console.username", "must match ^[a-zA-Z0-9][a-zA-Z0-9._].*[a-zA-Z0-9]$"));
        }
        if c.password.is_empty() {
            return Err(ConfigError::new("console.password", "must not be empty"));
        }
        if c.signing_key.is_empty() {
            return Err(ConfigError::new("console.signing_key", "must not be empty"));
        }
        if c.token_expiry_sec < 1 {
            return Err(ConfigError::new("console.token_expiry_sec", "must be at least 1"));
        }
        if c.failed_login_window_sec < 1 {
            return Err(ConfigError::new("console.failed_login_window_sec", "must be at least 1"));
        }
        let prefix = self.metrics.prefix.as_bytes();
        let prefix_ok = prefix.is_empty()
            || (!prefix[0].is_ascii_digit() && prefix.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'));
        if !prefix_ok {
            return Err(ConfigError::new("metrics.prefix", "must be empty or letters, digits and _"));
        }
        Ok(())
    }

    /// The insecure defaults still in use, by setting name.
    pub fn insecure_defaults(&self) -> Vec<&'static str> {
        let mut found = Vec::new();
        if self.socket.server_key == DEFAULT_SERVER_KEY {
            found.push("socket.server_key");
        }
        if self.session.encryption_key == DEFAULT_ENCRYPTION_KEY {
            found.push("session.encryption_key");
        }
        if self.session.refresh_encryption_key == DEFAULT_REFRESH_ENCRYPTION_KEY {
            found.push("session.refresh_encryption_key");
        }
        if self.console.username == DEFAULT_CONSOLE_USERNAME {
            found.push("console.username");
        }
        if self.console.password == DEFAULT_CONSOLE_PASSWORD {
            found.push("console.password");
        }
        if self.console.signing_key == DEFAULT_SIGNING_KEY {
            found.push("console.signing_key");
        }
        found
    }

    /// The running settings as JSON with every secret replaced by `"<redacted>"`, and the
    /// password of a database URL hidden.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        for key in SECRET_SETTINGS {
            let mut slot = Some(&mut value);
            for part in key.split('.') {
                slot = slot.and_then(|v| v.get_mut(part));
            }
            if let Some(slot) = slot {
                *slot = serde_json::Value::String(REDACTED.into());
            }
        }
        if let Some(url) = value.pointer_mut("/database/url") {
            *url = serde_json::Value::String(redact_url_password(&self.database.url));
        }
        value
    }

    pub fn hash_threads(&self) -> usize {
        match self.password.hash_threads {
            0 => cores(),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(flags: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let flags = flags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        load(Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))), &flags, env.into_iter())
    }

    #[test]
    fn config_toml_documents_every_setting_with_its_default() {
        let text = include_str!("../config.toml");
        let table: toml_table::Table = toml_table::parse(text);
        let mut keys: Vec<String> = table.keys();
        keys.sort();
        let mut known: Vec<String> = SETTINGS.iter().map(|s| s.key.to_string()).collect();
        known.sort();
        assert_eq!(keys, known);
        let from_file = load_with(&[], &[]).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn flags_win_over_environment() {
        let c =
            load_with(&[("session.token_expiry_sec", "120")], &[("HEARTH_SESSION__TOKEN_EXPIRY_SEC", "90")]).unwrap();
        assert_eq!(c.session.token_expiry_sec, 120);
        let c = load_with(&[], &[("HEARTH_SESSION__TOKEN_EXPIRY_SEC", "90"), ("HEARTH_SOCKET__SERVER_KEY", "123")])
            .unwrap();
        assert_eq!(c.session.token_expiry_sec, 90);
        assert_eq!(c.socket.server_key, "123");
        // Unrelated HEARTH_ variables are not settings.
        assert!(load_with(&[], &[("HEARTH_TEST_POSTGRES_URL", "x")]).is_ok());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = load_with(&[("socket.port", "abc")], &[]).unwrap_err();
        assert_eq!(e.key, "socket.port");
        let e = load_with(&[], &[("HEARTH_SESSION__REFRESH_ENCRYPTION_KEY", "defaultencryptionkey")]).unwrap_err();
        assert_eq!(e.key, "session.refresh_encryption_key");
        let e = load_with(&[("name", "a-name-longer-than-16")], &[]).unwrap_err();
        assert_eq!(e.key, "name");
        assert!(e.to_string().starts_with("invalid setting `name`"));
        for key in [
            "socket.read_timeout_ms",
            "socket.idle_timeout_ms",
            "socket.max_connections",
            "console.read_timeout_ms",
            "console.idle_timeout_ms",
            "console.max_connections",
            "database.acquire_timeout_ms",
        ] {
            let e = load_with(&[(key, "0")], &[]).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid setting `{key}`: must be at least 1"));
        }
    }

    #[test]
    fn list_settings_take_commas_from_environment_and_flags() {
        let c = load_with(&[], &[("HEARTH_SOCIAL__GOOGLE__CLIENT_IDS", "a.apps, b.apps")]).unwrap();
        assert_eq!(c.social.google.client_ids, ["a.apps", "b.apps"]);
        let c = load_with(&[("social.google.client_ids", "only.apps")], &[]).unwrap();
        assert_eq!(c.social.google.client_ids, ["only.apps"]);
        let c = load_with(&[("social.steam.app_id", "480"), ("social.gamecenter.allow_insecure_key_url", "true")], &[])
            .unwrap();
        assert_eq!(c.social.steam.app_id, 480);
        assert!(c.social.gamecenter.allow_insecure_key_url);
        let e = load_with(&[("social.steam.api_url", "ftp://x")], &[]).unwrap_err();
        assert_eq!(e.key, "social.steam.api_url");
    }

    #[test]
    fn insecure_defaults_are_listed() {
        let c = Config::default();
        assert_eq!(
            c.insecure_defaults(),
            [
                "socket.server_key",
                "session.encryption_key",
                "session.refresh_encryption_key",
                "console.username",
                "console.password",
                "console.signing_key"
            ]
        );
    }

    #[test]
    fn redacted_config_hides_every_secret() {
        let mut c = Config::default();
        c.database.url = "postgres://hearth:hunter2@db:5432/hearth".into();
        let text = c.redacted_json().to_string();
        for secret in ["defaultkey", "defaultencryptionkey", "defaultsigningkey", ":\"password\"", "hunter2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(c.redacted_json()["database"]["url"], "postgres://hearth:<redacted>@db:5432/hearth");
        assert_eq!(c.redacted_json()["console"]["username"], "admin");
    }

    #[test]
    fn console_username_follows_nakamas_pattern() {
        assert!(load_with(&[("console.username", "ops.team")], &[]).is_ok());
        assert_eq!(load_with(&[("console.username", "-ops")], &[]).unwrap_err().key, "console.username");
        assert_eq!(load_with(&[("console.username", "a")], &[]).unwrap_err().key, "console.username");
        assert_eq!(load_with(&[("metrics.prefix", "9x")], &[]).unwrap_err().key, "metrics.prefix");
    }

    /// Just enough TOML reading to list a file's dotted keys.
    mod toml_table {
        pub struct Table(Vec<String>);
        impl Table {
            pub fn keys(&self) -> Vec<String> {
                self.0.clone()
            }
        }
        pub fn parse(text: &str) -> Table {
            let mut section = String::new();
            let mut keys = Vec::new();
            for line in text.lines().map(str::trim) {
                if line.starts_with('#') || line.is_empty() {
                    continue;
                }
                if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    section = format!("{name}.");
                } else if let Some((key, _)) = line.split_once('=') {
                    keys.push(format!("{section}{}", key.trim()));
                }
            }
            Table(keys)
        }
    }
}
