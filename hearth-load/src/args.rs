//! Command line: the clap definition and the checks that clap cannot express (URL shape,
//! durations, flags that only make sense together).

use std::ffi::OsString;
use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use reqwest::Url;

/// One kind of request the tool can send in a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `POST /v2/account/authenticate/device?create=true` with a fresh id each time.
    DeviceNew,
    /// `POST /v2/account/authenticate/device` for accounts created during setup.
    DeviceExisting,
    /// `POST /v2/account/authenticate/email` with the right password (argon2id on the server).
    Email,
    /// `GET /v2/account` with a bearer token obtained during setup.
    AccountGet,
}

impl Scenario {
    pub const NAMES: [&'static str; 4] = ["device-new", "device-existing", "email", "account-get"];

    pub fn from_name(name: &str) -> Option<Scenario> {
        match name {
            "device-new" => Some(Scenario::DeviceNew),
            "device-existing" => Some(Scenario::DeviceExisting),
            "email" => Some(Scenario::Email),
            "account-get" => Some(Scenario::AccountGet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::DeviceNew => "device-new",
            Scenario::DeviceExisting => "device-existing",
            Scenario::Email => "email",
            Scenario::AccountGet => "account-get",
        }
    }

    /// Whether the scenario works on accounts made during a setup phase.
    pub fn uses_accounts(self) -> bool {
        self != Scenario::DeviceNew
    }
}

/// How the measured requests travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// JSON over HTTP/1.1 keep-alive connections (`--url`).
    Rest,
    /// Nakama's native gRPC, one HTTP/2 connection per worker (`--grpc-url`).
    Grpc,
}

impl Transport {
    pub const NAMES: [&'static str; 2] = ["rest", "grpc"];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Rest => "rest",
            Transport::Grpc => "grpc",
        }
    }
}

/// One scenario with its own workers; the tool runs one or two of them at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub scenario: Scenario,
    pub concurrency: usize,
    /// Accounts made during setup (unused by `device-new`).
    pub users: usize,
    /// Measured requests after which the group stops; `None` = only the clock stops it.
    pub requests: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Server root without a trailing slash, e.g. `http://127.0.0.1:7350`.
    pub base_url: String,
    pub server_key: String,
    pub transport: Transport,
    /// The gRPC listener's root, e.g. `http://127.0.0.1:7349` (used with `Transport::Grpc`).
    pub grpc_url: String,
    pub primary: Group,
    /// Second scenario running at the same time (`--also`); it stops when the primary does.
    pub also: Option<Group>,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    pub json: bool,
}

/// Why the command line was refused.
#[derive(Debug)]
pub enum ArgError {
    /// Parsing, `--help` and `--version`: clap prints these itself and picks the exit code.
    Clap(clap::Error),
    /// A value clap accepted but that makes no sense; one line, exit code 2.
    Invalid(String),
}

const MAX_CONCURRENCY: u64 = 10_000;
const MAX_SECS: f64 = 7.0 * 24.0 * 3600.0;

pub fn command() -> Command {
    let scenarios = || clap::builder::PossibleValuesParser::new(Scenario::NAMES);
    let count = |max: u64| value_parser!(u64).range(1..=max);
    Command::new("hearth-load")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Load generator for Hearth (and any server speaking Nakama's client REST API)")
        .after_help(
            "Each run stops at whichever comes first: --requests measured requests or --duration-secs.\n\
             Setup (creating the accounts a scenario logs into) and --warmup-secs are not measured.\n\
             Exit codes: 0 run completed, 1 more than 1% of requests failed, 2 bad arguments or\n\
             server unreachable / setup failed.",
        )
        .arg(
            Arg::new("url")
                .long("url")
                .value_name("URL")
                .default_value("http://127.0.0.1:7350")
                .help("Server root URL"),
        )
        .arg(
            Arg::new("scenario")
                .long("scenario")
                .value_name("SCENARIO")
                .required(true)
                .value_parser(scenarios())
                .help("What every request does"),
        )
        .arg(
            Arg::new("concurrency")
                .long("concurrency")
                .value_name("N")
                .default_value("64")
                .value_parser(count(MAX_CONCURRENCY))
                .help("Requests in flight at once (one connection each)"),
        )
        .arg(
            Arg::new("requests")
                .long("requests")
                .value_name("N")
                .default_value("50000")
                .value_parser(count(u64::MAX))
                .help("Stop after this many measured requests"),
        )
        .arg(
            Arg::new("duration-secs")
                .long("duration-secs")
                .value_name("SECS")
                .default_value("30")
                .value_parser(value_parser!(f64))
                .allow_negative_numbers(true)
                .help("Stop after this much measured time"),
        )
        .arg(
            Arg::new("warmup-secs")
                .long("warmup-secs")
                .value_name("SECS")
                .default_value("2")
                .value_parser(value_parser!(f64))
                .allow_negative_numbers(true)
                .help("Run unmeasured for this long first"),
        )
        .arg(
            Arg::new("server-key")
                .long("server-key")
                .value_name("KEY")
                .default_value("defaultkey")
                .help("Server key, sent as HTTP Basic user"),
        )
        .arg(
            Arg::new("users")
                .long("users")
                .value_name("N")
                .value_parser(count(u64::from(u32::MAX)))
                .help("Accounts created during setup [default: --concurrency; ignored by device-new]"),
        )
        .arg(
            Arg::new("also")
                .long("also")
                .value_name("SCENARIO")
                .value_parser(scenarios())
                .help("Run a second scenario at the same time, reported separately"),
        )
        .arg(
            Arg::new("also-concurrency")
                .long("also-concurrency")
                .value_name("N")
                .value_parser(count(MAX_CONCURRENCY))
                .help("Concurrency of --also [default: --concurrency]"),
        )
        .arg(
            Arg::new("also-users")
                .long("also-users")
                .value_name("N")
                .value_parser(count(u64::from(u32::MAX)))
                .help("Accounts of --also [default: --also-concurrency]"),
        )
        .arg(
            Arg::new("also-requests")
                .long("also-requests")
                .value_name("N")
                .value_parser(count(u64::MAX))
                .help("Stop --also after this many measured requests [default: when the primary stops]"),
        )
        .arg(
            Arg::new("timeout-secs")
                .long("timeout-secs")
                .value_name("SECS")
                .default_value("10")
                .value_parser(value_parser!(f64))
                .allow_negative_numbers(true)
                .help("Per-request timeout (a timed-out request counts as a transport error)"),
        )
        .arg(
            Arg::new("transport")
                .long("transport")
                .value_name("TRANSPORT")
                .default_value("rest")
                .value_parser(clap::builder::PossibleValuesParser::new(Transport::NAMES))
                .help("How the measured requests travel (setup and token refreshes always use REST)"),
        )
        .arg(
            Arg::new("grpc-url")
                .long("grpc-url")
                .value_name("URL")
                .help("gRPC listener root [default: --url with its port minus one, as Nakama derives it]"),
        )
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print the final report as JSON"))
}

pub fn parse<I, T>(args: I) -> Result<Options, ArgError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = command().try_get_matches_from(args).map_err(ArgError::Clap)?;
    from_matches(&matches).map_err(ArgError::Invalid)
}

fn from_matches(m: &ArgMatches) -> Result<Options, String> {
    let base_url = check_url("--url", m.get_one::<String>("url").expect("has a default"))?;
    let server_key = m.get_one::<String>("server-key").expect("has a default").clone();
    if server_key.contains(['\r', '\n']) {
        return Err("--server-key must not contain line breaks".into());
    }
    let transport = match m.get_one::<String>("transport").map(String::as_str) {
        Some("grpc") => Transport::Grpc,
        _ => Transport::Rest,
    };
    let grpc_url = match m.get_one::<String>("grpc-url") {
        Some(url) => check_url("--grpc-url", url)?,
        None => grpc_url_of(&base_url)?,
    };
    if transport == Transport::Rest && m.contains_id("grpc-url") {
        return Err("--grpc-url needs --transport grpc".into());
    }
    let scenario = scenario_of(m, "scenario").expect("required");
    let concurrency = usize_of(m, "concurrency").expect("has a default");
    let primary = Group {
        scenario,
        concurrency,
        users: usize_of(m, "users").unwrap_or(concurrency),
        requests: m.get_one::<u64>("requests").copied(),
    };

    let also = match scenario_of(m, "also") {
        Some(scenario) => {
            let concurrency = usize_of(m, "also-concurrency").unwrap_or(primary.concurrency);
            Some(Group {
                scenario,
                concurrency,
                users: usize_of(m, "also-users").unwrap_or(concurrency),
                requests: m.get_one::<u64>("also-requests").copied(),
            })
        }
        None => {
            for flag in ["also-concurrency", "also-users", "also-requests"] {
                if m.contains_id(flag) {
                    return Err(format!("--{flag} needs --also <SCENARIO>"));
                }
            }
            None
        }
    };

    Ok(Options {
        base_url,
        server_key,
        transport,
        grpc_url,
        primary,
        also,
        duration: secs_of(m, "duration-secs", false)?,
        warmup: secs_of(m, "warmup-secs", true)?,
        timeout: secs_of(m, "timeout-secs", false)?,
        json: m.get_flag("json"),
    })
}

fn scenario_of(m: &ArgMatches, id: &str) -> Option<Scenario> {
    m.get_one::<String>(id).map(|name| Scenario::from_name(name).expect("clap checked the name"))
}

fn usize_of(m: &ArgMatches, id: &str) -> Option<usize> {
    m.get_one::<u64>(id).map(|&n| usize::try_from(n).unwrap_or(usize::MAX))
}

fn secs_of(m: &ArgMatches, id: &str, zero_ok: bool) -> Result<Duration, String> {
    let secs = *m.get_one::<f64>(id).expect("has a default");
    let low_ok = if zero_ok { secs >= 0.0 } else { secs > 0.0 };
    if !secs.is_finite() || !low_ok || secs > MAX_SECS {
        let low = if zero_ok { "0 or more" } else { "more than 0" };
        return Err(format!("--{id} must be {low} and at most {MAX_SECS} (got {secs})"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The gRPC root Nakama derives from the client API's: same host, port minus one, no prefix.
fn grpc_url_of(base_url: &str) -> Result<String, String> {
    let url = Url::parse(base_url).map_err(|e| format!("--url {base_url:?} is not a URL: {e}"))?;
    let port = url.port_or_known_default().unwrap_or(7350);
    let Some(port) = port.checked_sub(1).filter(|p| *p > 0) else {
        return Err(format!("--url {base_url:?} has no port below it for gRPC; give --grpc-url"));
    };
    let host = url.host_str().unwrap_or("127.0.0.1");
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    Ok(format!("{}://{host}:{port}", url.scheme()))
}

/// Accepts `http(s)://host[:port][/prefix]` and returns it without a trailing slash.
fn check_url(flag: &str, raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("{flag} {raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{flag} {raw:?} must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{flag} {raw:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{flag} {raw:?} must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Options {
        let mut all = vec!["hearth-load"];
        all.extend_from_slice(args);
        match parse(all) {
            Ok(options) => options,
            Err(e) => panic!("{args:?} refused: {e:?}"),
        }
    }

    fn parse_err(args: &[&str]) -> String {
        let mut all = vec!["hearth-load"];
        all.extend_from_slice(args);
        match parse(all) {
            Ok(options) => panic!("{args:?} accepted: {options:?}"),
            Err(ArgError::Clap(e)) => {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            }
            Err(ArgError::Invalid(msg)) => msg,
        }
    }

    #[test]
    fn defaults() {
        let o = parse_ok(&["--scenario", "device-new"]);
        assert_eq!(o.base_url, "http://127.0.0.1:7350");
        assert_eq!(o.server_key, "defaultkey");
        assert_eq!(
            o.primary,
            Group { scenario: Scenario::DeviceNew, concurrency: 64, users: 64, requests: Some(50_000) }
        );
        assert_eq!(o.also, None);
        assert_eq!(o.duration, Duration::from_secs(30));
        assert_eq!(o.warmup, Duration::from_secs(2));
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert!(!o.json);
        assert_eq!(o.transport, Transport::Rest);
        assert_eq!(o.grpc_url, "http://127.0.0.1:7349");
    }

    #[test]
    fn grpc_transport_and_its_url() {
        let o = parse_ok(&["--scenario", "device-existing", "--transport", "grpc"]);
        assert_eq!((o.transport, o.grpc_url.as_str()), (Transport::Grpc, "http://127.0.0.1:7349"));
        let o = parse_ok(&["--scenario", "email", "--transport", "grpc", "--url", "http://10.0.0.5:17350/prefix/"]);
        assert_eq!(o.grpc_url, "http://10.0.0.5:17349", "port minus one, no prefix");
        let o = parse_ok(&["--scenario", "account-get", "--transport", "grpc", "--grpc-url", "http://h:9000/"]);
        assert_eq!(o.grpc_url, "http://h:9000");
        let o = parse_ok(&["--scenario", "device-new", "--transport", "rest"]);
        assert_eq!(o.transport, Transport::Rest);
        for name in Transport::NAMES {
            assert_eq!(parse_ok(&["--scenario", "device-new", "--transport", name]).transport.name(), name);
        }
        parse_err(&["--scenario", "device-new", "--transport", "websocket"]);
        let msg = parse_err(&["--scenario", "device-new", "--grpc-url", "http://h:9000"]);
        assert_eq!(msg, "--grpc-url needs --transport grpc");
        let msg = parse_err(&["--scenario", "device-new", "--transport", "grpc", "--grpc-url", "h:9000"]);
        assert!(msg.starts_with("--grpc-url \"h:9000\""), "{msg}");
    }

    #[test]
    fn every_scenario_name_round_trips() {
        for name in Scenario::NAMES {
            let o = parse_ok(&["--scenario", name]);
            assert_eq!(o.primary.scenario.name(), name);
        }
    }

    #[test]
    fn full_command_line() {
        let o = parse_ok(&[
            "--url",
            "http://localhost:17399/",
            "--scenario",
            "email",
            "--concurrency",
            "8",
            "--requests",
            "100000",
            "--duration-secs",
            "5.5",
            "--warmup-secs",
            "0",
            "--users",
            "20",
            "--server-key",
            "k",
            "--json",
        ]);
        assert_eq!(o.base_url, "http://localhost:17399");
        assert_eq!(o.primary, Group { scenario: Scenario::Email, concurrency: 8, users: 20, requests: Some(100_000) });
        assert_eq!(o.duration, Duration::from_millis(5500));
        assert_eq!(o.warmup, Duration::ZERO);
        assert_eq!(o.server_key, "k");
        assert!(o.json);
    }

    #[test]
    fn users_default_to_concurrency() {
        let o = parse_ok(&["--scenario", "account-get", "--concurrency", "3"]);
        assert_eq!(o.primary.users, 3);
    }

    #[test]
    fn also_group_and_its_defaults() {
        let o = parse_ok(&["--scenario", "device-existing", "--concurrency", "16", "--also", "email"]);
        assert_eq!(o.also, Some(Group { scenario: Scenario::Email, concurrency: 16, users: 16, requests: None }));

        let o = parse_ok(&[
            "--scenario",
            "device-existing",
            "--also",
            "email",
            "--also-concurrency",
            "4",
            "--also-users",
            "9",
            "--also-requests",
            "100",
        ]);
        assert_eq!(o.also, Some(Group { scenario: Scenario::Email, concurrency: 4, users: 9, requests: Some(100) }));
    }

    #[test]
    fn also_flags_need_also() {
        for flag in ["--also-concurrency", "--also-users", "--also-requests"] {
            let msg = parse_err(&["--scenario", "device-new", flag, "4"]);
            assert!(msg.contains("needs --also"), "{msg}");
        }
    }

    #[test]
    fn scenario_is_required_and_checked() {
        parse_err(&[]);
        parse_err(&["--scenario", "device"]);
        parse_err(&["--scenario", "device-new", "--also", "nope"]);
    }

    #[test]
    fn counts_must_be_positive_integers() {
        parse_err(&["--scenario", "device-new", "--concurrency", "0"]);
        parse_err(&["--scenario", "device-new", "--concurrency", "10001"]);
        parse_err(&["--scenario", "device-new", "--concurrency", "-1"]);
        parse_err(&["--scenario", "device-new", "--requests", "0"]);
        parse_err(&["--scenario", "device-new", "--requests", "many"]);
        parse_err(&["--scenario", "device-new", "--users", "0"]);
        parse_err(&["--scenario", "device-new", "--also", "email", "--also-concurrency", "0"]);
    }

    #[test]
    fn durations_are_checked() {
        for bad in ["0", "-1", "NaN", "inf", "1e9"] {
            let msg = parse_err(&["--scenario", "device-new", "--duration-secs", bad]);
            assert!(msg.contains("--duration-secs"), "{msg}");
        }
        let msg = parse_err(&["--scenario", "device-new", "--warmup-secs", "-0.5"]);
        assert!(msg.contains("--warmup-secs"), "{msg}");
        let msg = parse_err(&["--scenario", "device-new", "--timeout-secs", "0"]);
        assert!(msg.contains("--timeout-secs"), "{msg}");
        parse_err(&["--scenario", "device-new", "--duration-secs", "ten"]);
    }

    #[test]
    fn urls_are_checked() {
        for bad in ["127.0.0.1:7350", "ftp://host", "http://", "not a url", "http://host/?q=1", "http://host/#x"] {
            let msg = parse_err(&["--scenario", "device-new", "--url", bad]);
            assert!(msg.contains("--url"), "{bad}: {msg}");
        }
        let o = parse_ok(&["--scenario", "device-new", "--url", "https://example.com/nakama/"]);
        assert_eq!(o.base_url, "https://example.com/nakama");
    }

    #[test]
    fn help_and_version_are_not_errors() {
        for flag in ["--help", "--version"] {
            match parse(["hearth-load", flag]) {
                Err(ArgError::Clap(e)) => assert_eq!(e.exit_code(), 0),
                other => panic!("{flag}: {other:?}"),
            }
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }
}
