//! One typed `Config`, merged from built-in defaults, `config.toml` (or `--config`),
//! `HEARTH_*` environment variables and `--section.key` flags, later sources winning.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

pub mod declare;

use declare::{section, Section};
pub use declare::{Kind, Setting};

pub const DEFAULT_CONSOLE_USERNAME: &str = "admin";
pub const DEFAULT_CONSOLE_PASSWORD: &str = "password";
pub const DEFAULT_SIGNING_KEY: &str = "defaultsigningkey";
pub const DEFAULT_SERVER_KEY: &str = "defaultkey";
pub const DEFAULT_ENCRYPTION_KEY: &str = "defaultencryptionkey";
pub const DEFAULT_REFRESH_ENCRYPTION_KEY: &str = "defaultrefreshencryptionkey";

fn text(s: &str) -> String {
    s.to_string()
}

// Every setting Hearth reads, once: `config.toml` and the README's table must list the same
// (tests check both).
section! {
    pub struct Config {
        name: String = text("hearth"), "Node name, 1-16 characters", chars(1, 16);
    }
    sections {
        socket: SocketConfig,
        session: SessionConfig,
        database: DatabaseConfig,
        password: PasswordConfig,
        logger: LoggerConfig,
        social: SocialConfig,
        console: ConsoleConfig,
        metrics: MetricsConfig,
    }
}

section! {
    pub struct SocketConfig {
        address: String = text("127.0.0.1"), "Client API and gRPC listen address";
        port: u16 = 7350, "Client API port; gRPC listens on this port minus 1";
        server_key: String = text(DEFAULT_SERVER_KEY), "Server key clients send with HTTP Basic", not_empty, secret,
            warn_default;
        max_request_size_bytes: usize = 262_144, "Largest request body in bytes", at_least(1);
        max_message_size_bytes: usize = 4096, "Largest realtime message in bytes; larger closes 1009", at_least(1);
        ping_period_ms: u64 = 15_000, "Silence before the server pings a socket", at_least(1);
        pong_wait_ms: u64 = 25_000, "Silence before a socket is dropped; more than the ping period";
        ping_backoff_threshold: u32 = 20, "Every Nth inbound message counts as proof of life", at_least(1);
        write_wait_ms: u64 = 5000, "Deadline of each socket write", at_least(1);
        outgoing_queue_size: usize = 64, "Frames queued per socket before it is closed as slow", at_least(1);
        workers: usize = 0, "Client API worker threads; 0 = one per core";
        read_timeout_ms: u64 = 10_000, "Deadline for reading a whole request, head and body (gRPC: from its headers)", at_least(1);
        idle_timeout_ms: u64 = 60_000, "Keep-alive idle timeout (gRPC: a connection with no call)", at_least(1);
        max_connections: usize = 50_000, "Open client API and gRPC connections, sockets included; more are refused",
            at_least(1);
    }
}

section! {
    pub struct SessionConfig {
        encryption_key: String = text(DEFAULT_ENCRYPTION_KEY), "HMAC key of access tokens", not_empty, secret,
            warn_default;
        refresh_encryption_key: String = text(DEFAULT_REFRESH_ENCRYPTION_KEY),
            "HMAC key of refresh tokens; must differ", not_empty, secret, warn_default;
        token_expiry_sec: i64 = 60, "Access token lifetime in seconds", at_least(1);
        refresh_token_expiry_sec: i64 = 3600, "Refresh token lifetime in seconds", at_least(1);
        single_session: bool = false, "A new login revokes the user's older tokens";
        single_socket: bool = false, "A new socket closes the user's older sockets";
        max_failed_logins: u32 = 10, "Wrong passwords per account before 429; 0 = off";
        failed_login_window_sec: i64 = 600, "Window of the failed-login count in seconds", at_least(1);
        max_live_sessions: usize = 1_000_000, "Live sessions listed for the console, in all";
    }
}

section! {
    pub struct DatabaseConfig {
        url: String = text("sqlite://data/hearth.sqlite3"), "sqlite://<file> or postgres://user@host/db",
            database_url;
        max_connections: u32 = 16, "Database pool size", at_least(1);
        acquire_timeout_ms: u64 = 1000, "PostgreSQL: wait for a pooled connection before a request fails",
            at_least(1);
    }
}

section! {
    pub struct PasswordConfig {
        hash_threads: usize = 0, "Threads hashing passwords; 0 = one per core";
    }
}

section! {
    pub struct LoggerConfig {
        level: String = text("info"), "debug, info, warn or error", log_level;
    }
}

section! {
    /// Social login providers: credentials, and every provider base URL so tests can point
    /// them at a local stand-in (defaults are the real providers).
    pub struct SocialConfig {
        timeout_ms: u64 = 5000, "Connect and total timeout of each provider request", at_least(1);
    }
    sections {
        apple: AppleConfig,
        facebook: FacebookConfig,
        facebook_limited_login: FacebookLimitedLoginConfig,
        facebook_instant_game: FacebookInstantGameConfig,
        google: GoogleConfig,
        gamecenter: GameCenterConfig,
        steam: SteamConfig,
    }
}

section! {
    pub struct AppleConfig {
        bundle_id: String = String::new(), "Apple bundle id; tokens must carry it as aud; empty = Apple off";
        jwks_url: String = text("https://appleid.apple.com/auth/keys"), "Apple's sign-in keys", http_url;
    }
}

section! {
    pub struct FacebookConfig {
        graph_url: String = text("https://graph.facebook.com/v22.0"), "Facebook Graph API base", http_url;
    }
}

section! {
    pub struct FacebookLimitedLoginConfig {
        app_id: String = String::new(), "Facebook app id; Limited Login tokens must carry it as aud";
        jwks_url: String = text("https://limited.facebook.com/.well-known/oauth/openid/jwks/"),
            "Facebook Limited Login keys (JWKS)", http_url;
    }
}

section! {
    pub struct FacebookInstantGameConfig {
        app_secret: String = String::new(), "Instant Games app secret; empty = refused", secret;
    }
}

section! {
    pub struct GoogleConfig {
        /// A TOML list, or one comma-separated string from the environment or a flag.
        #[serde(deserialize_with = "list_or_commas")]
        client_ids: Vec<String> = Vec::new(), "Accepted aud of Google ID tokens, comma-separated; empty = any";
        certs_url: String = text("https://www.googleapis.com/oauth2/v3/certs"), "Google's ID token keys (JWKS)",
            http_url;
    }
}

section! {
    pub struct GameCenterConfig {
        allow_insecure_key_url: bool = false, "Tests only: any http(s) Game Center key URL";
    }
}

section! {
    pub struct SteamConfig {
        publisher_key: String = String::new(), "Steam Web API publisher key", secret;
        app_id: u32 = 0, "Steam app id; 0 = Steam off";
        api_url: String = text("https://partner.steam-api.com"), "Steam Web API base", http_url;
    }
}

section! {
    pub struct ConsoleConfig {
        address: String = text("127.0.0.1"), "Console listen address";
        port: u16 = 7351, "Console port: staff API, web page, /metrics";
        username: String = text(DEFAULT_CONSOLE_USERNAME), "Console admin username", console_username,
            warn_default;
        password: String = text(DEFAULT_CONSOLE_PASSWORD), "Console admin password", not_empty, secret,
            warn_default;
        signing_key: String = text(DEFAULT_SIGNING_KEY), "HMAC key of console tokens", not_empty, secret,
            warn_default;
        token_expiry_sec: i64 = 86_400, "Console token lifetime in seconds", at_least(1);
        max_failed_logins: u32 = 5, "Failed console logins per username before 429; 0 = off";
        failed_login_window_sec: i64 = 900, "Window of the console failed-login count in seconds", at_least(1);
        audit_retention_days: u32 = 90, "Days the audit trail keeps a row; 0 = forever";
        audit_failed_logins_per_minute: u32 = 60, "Failed staff logins audited a minute; more are counted in one row";
        read_timeout_ms: u64 = 10_000, "Console deadline for reading a whole request", at_least(1);
        idle_timeout_ms: u64 = 300_000, "Console keep-alive idle timeout", at_least(1);
        max_connections: usize = 256, "Open console connections; more are refused", at_least(1);
    }
}

section! {
    pub struct MetricsConfig {
        enabled: bool = true, "Count metrics; false turns every counter off";
        prefix: String = text("hearth"), "Prefix of metric names; nakama gives Nakama's names", metric_prefix;
        prometheus_port: u16 = 0, "Extra Prometheus listener on all interfaces; 0 = off";
    }
}

/// Every setting, as declared, with its default.
pub fn settings() -> Vec<Setting> {
    Config::default().settings()
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
    ImportNakama(crate::import::ImportOptions),
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
        )
        .subcommand(
            clap::Command::new("import-nakama")
                .about("Import a Nakama database's accounts, devices, passwords, bans and friends")
                .arg(
                    clap::Arg::new("from")
                        .long("from")
                        .value_name("URL")
                        .required(true)
                        .help("The Nakama database, postgres://user:password@host:port/nakama"),
                )
                .arg(
                    clap::Arg::new("dry-run")
                        .long("dry-run")
                        .action(clap::ArgAction::SetTrue)
                        .help("Read and check everything, write nothing, print the report"),
                )
                .arg(
                    clap::Arg::new("batch")
                        .long("batch")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u64).range(1..=100_000))
                        .default_value(crate::import::DEFAULT_BATCH.to_string())
                        .help("Accounts or edges per batch, each batch one transaction"),
                )
                .arg(
                    clap::Arg::new("on-conflict")
                        .long("on-conflict")
                        .value_name("WHAT")
                        .value_parser(["stop", "skip"])
                        .default_value("stop")
                        .help("stop: report conflicts and write nothing; skip: leave those accounts out"),
                ),
        );
    for s in settings() {
        let help = if s.secret { format!("{} (secret)", s.help) } else { format!("{} (default {})", s.help, s.value) };
        let mut arg = clap::Arg::new(s.key.clone()).long(s.key).help(help).global(true);
        arg = match s.kind {
            Kind::Switch => arg.value_name("BOOL").num_args(0..=1).default_missing_value("true"),
            _ => arg.value_name("VALUE"),
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
        Some(("import-nakama", sub)) => Command::ImportNakama(crate::import::ImportOptions {
            from: sub.get_one::<String>("from").cloned().unwrap_or_default(),
            dry_run: sub.get_flag("dry-run"),
            batch: sub.get_one::<u64>("batch").copied().unwrap_or(crate::import::DEFAULT_BATCH),
            on_conflict: match sub.get_one::<String>("on-conflict").map(String::as_str) {
                Some("skip") => crate::import::OnConflict::Skip,
                _ => crate::import::OnConflict::Stop,
            },
            progress: true,
        }),
        _ => Command::Serve,
    };
    let mut flags = BTreeMap::new();
    for s in settings() {
        // Global args are visible on the subcommand's matches too; merge both.
        let sub = matches.subcommand().map(|(_, m)| m);
        let value = sub.and_then(|m| m.get_one::<String>(&s.key)).or_else(|| matches.get_one::<String>(&s.key));
        if let Some(v) = value {
            flags.insert(s.key, v.clone());
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
    let known = settings();
    let kind = |key: &str| known.iter().find(|s| s.key == key).map(|s| s.kind);
    let mut from_env = BTreeMap::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("HEARTH_") else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace("__", ".");
        if kind(&key).is_some() {
            from_env.insert(key, value);
        }
    }
    for (source, values) in [("environment", &from_env), ("flag", flags)] {
        for (key, raw) in values {
            let value: figment::value::Value =
                raw.parse().map_err(|_| ConfigError::new(key, format!("unreadable {source} value")))?;
            // Strings that look like numbers stay strings for text settings.
            let value = match kind(key) {
                Some(Kind::Text | Kind::List) => raw.clone().into(),
                _ => value,
            };
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

impl Config {
    /// Every setting with its current value.
    pub fn settings(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        self.describe("", &mut out);
        out
    }

    /// Each setting's own rules (as declared), then the rules between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check("")?;
        if self.socket.pong_wait_ms <= self.socket.ping_period_ms {
            return Err(ConfigError::new("socket.pong_wait_ms", "must be greater than socket.ping_period_ms"));
        }
        if self.session.refresh_encryption_key == self.session.encryption_key {
            return Err(ConfigError::new("session.refresh_encryption_key", "must differ from session.encryption_key"));
        }
        Ok(())
    }

    /// The insecure defaults still in use, by setting name (config.md §3).
    pub fn insecure_defaults(&self) -> Vec<String> {
        let shipped = settings();
        self.settings()
            .into_iter()
            .zip(shipped)
            .filter(|(now, shipped)| now.warn_default && now.value == shipped.value)
            .map(|(now, _)| now.key)
            .collect()
    }

    /// The running settings as JSON with every secret replaced by `"<redacted>"`, and the
    /// password of a database URL hidden.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        for setting in self.settings().into_iter().filter(|s| s.secret) {
            let key = setting.key;
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
        let mut known: Vec<String> = settings().into_iter().map(|s| s.key).collect();
        known.sort();
        assert_eq!(keys, known);
        // SECRET in the comment exactly on the secret settings.
        let mut marked: Vec<String> = table.secret_keys();
        marked.sort();
        let mut secret: Vec<String> = settings().into_iter().filter(|s| s.secret).map(|s| s.key).collect();
        secret.sort();
        assert_eq!(marked, secret);
        let from_file = load_with(&[], &[]).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
    }

    /// The README's settings table: every declared setting in declaration order, with its
    /// default, and "**secret**" exactly on the secret ones.
    #[test]
    fn readme_settings_table_matches_the_declarations() {
        let readme = include_str!("../README.md");
        let table = readme.split("\n## Settings").nth(1).and_then(|t| t.split("\n## ").next()).unwrap_or_default();
        let rows: Vec<(String, String, bool)> = table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                let unquote = |c: &str| c.trim_start_matches("| ").trim_matches('`').to_string();
                (unquote(cells[0]), unquote(cells[1]), cells[2].contains("**secret**"))
            })
            .collect();
        let declared: Vec<(String, String, bool)> =
            settings().into_iter().map(|s| (s.key, s.value, s.secret)).collect();
        assert_eq!(rows, declared);
    }

    #[test]
    fn every_secret_is_redacted_and_declared_once() {
        let secrets: Vec<String> = settings().into_iter().filter(|s| s.secret).map(|s| s.key).collect();
        assert_eq!(
            secrets,
            [
                "socket.server_key",
                "session.encryption_key",
                "session.refresh_encryption_key",
                "social.facebook_instant_game.app_secret",
                "social.steam.publisher_key",
                "console.password",
                "console.signing_key"
            ]
        );
        let mut c = Config::default();
        c.social.facebook_instant_game.app_secret = "instant-secret".into();
        c.social.steam.publisher_key = "steam-secret".into();
        let text = c.redacted_json().to_string();
        assert!(!text.contains("instant-secret") && !text.contains("steam-secret"), "{text}");
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
        pub struct Table(Vec<(String, bool)>);
        impl Table {
            pub fn keys(&self) -> Vec<String> {
                self.0.iter().map(|(k, _)| k.clone()).collect()
            }
            /// Keys whose line is marked `# SECRET`.
            pub fn secret_keys(&self) -> Vec<String> {
                self.0.iter().filter(|(_, secret)| *secret).map(|(k, _)| k.clone()).collect()
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
                    keys.push((format!("{section}{}", key.trim()), line.contains("# SECRET")));
                }
            }
            Table(keys)
        }
    }
}
