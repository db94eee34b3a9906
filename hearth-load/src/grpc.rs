//! `--transport grpc`: the measured requests of the auth scenarios as Nakama's native gRPC
//! calls (`nakama.api.Nakama` on the server's gRPC port), with a tonic client generated from
//! `../proto/api.proto` by this crate's own build.rs. Setup and token refreshes stay on REST:
//! they are not measured.

use rand::rngs::StdRng;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::args::Scenario;
use crate::scenario::{Outcome, Plan};

/// The whole of `nakama.api`: the tool uses a few of its messages (the socket's
/// notifications, for one, are the server's and not sent here).
#[allow(dead_code)]
pub mod proto {
    tonic::include_proto!("nakama.api");
}

pub type Client = proto::nakama_client::NakamaClient<Channel>;
type Ascii = MetadataValue<tonic::metadata::Ascii>;

/// One HTTP/2 connection (a worker's, as a REST worker has its own keep-alive connection).
pub async fn connect(url: &str, timeout: std::time::Duration) -> Result<Client, String> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("bad gRPC URL {url}: {e}"))?
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.map_err(|e| format!("gRPC server unreachable at {url}: {e}"))?;
    Ok(proto::nakama_client::NakamaClient::new(channel))
}

/// The messages of a group's requests, made once from its REST plan.
pub enum Messages {
    DeviceNew,
    Device(Vec<proto::AuthenticateDeviceRequest>),
    Email(Vec<proto::AuthenticateEmailRequest>),
    AccountGet,
}

impl Messages {
    /// The login bodies of `plan` (JSON made during setup) as gRPC requests.
    pub fn of(scenario: Scenario, plan: &Plan) -> Result<Messages, String> {
        let json = |body: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(body).map_err(|e| format!("setup body is not JSON: {e}"))
        };
        let text = |v: &serde_json::Value, field: &str| v[field].as_str().unwrap_or_default().to_string();
        Ok(match (scenario, plan) {
            (_, Plan::DeviceNew { .. }) => Messages::DeviceNew,
            (_, Plan::AccountGet { .. }) => Messages::AccountGet,
            (Scenario::Email, Plan::Login { bodies, .. }) => Messages::Email(
                bodies
                    .iter()
                    .map(|b| {
                        let v = json(b)?;
                        let account = proto::AccountEmail {
                            email: text(&v, "email"),
                            password: text(&v, "password"),
                            ..Default::default()
                        };
                        Ok(proto::AuthenticateEmailRequest { account: Some(account), ..Default::default() })
                    })
                    .collect::<Result<_, String>>()?,
            ),
            (_, Plan::Login { bodies, .. }) => Messages::Device(
                bodies
                    .iter()
                    .map(|b| {
                        let account = proto::AccountDevice { id: text(&json(b)?, "id"), ..Default::default() };
                        Ok(proto::AuthenticateDeviceRequest { account: Some(account), ..Default::default() })
                    })
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// `Basic base64("<server key>:")` as metadata.
pub fn basic(header: &reqwest::header::HeaderValue) -> Result<Ascii, String> {
    Ascii::try_from(header.as_bytes()).map_err(|_| "--server-key cannot be sent as gRPC metadata".to_string())
}

fn with_authorization<T>(message: T, value: Ascii) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", value);
    request
}

/// One measured call.
pub async fn send(
    client: &mut Client,
    messages: &Messages,
    plan: &Plan,
    basic: &Ascii,
    user: usize,
    rng: &mut StdRng,
) -> Outcome {
    let answer = match (messages, plan) {
        (Messages::DeviceNew, _) => {
            let id = crate::scenario::new_device_id(rng);
            let account = proto::AccountDevice { id, ..Default::default() };
            let message =
                proto::AuthenticateDeviceRequest { account: Some(account), create: Some(true), ..Default::default() };
            match client.authenticate_device(with_authorization(message, basic.clone())).await {
                Ok(session) if !session.get_ref().created => return Outcome::NotCreated,
                answer => answer.map(|_| ()),
            }
        }
        (Messages::Device(all), _) => {
            let request = with_authorization(all[user].clone(), basic.clone());
            client.authenticate_device(request).await.map(|_| ())
        }
        (Messages::Email(all), _) => {
            let request = with_authorization(all[user].clone(), basic.clone());
            client.authenticate_email(request).await.map(|_| ())
        }
        (Messages::AccountGet, Plan::AccountGet { sessions, .. }) => {
            match Ascii::try_from(sessions.bearer(user).as_bytes()) {
                Ok(bearer) => client.get_account(with_authorization((), bearer)).await.map(|_| ()),
                Err(_) => return Outcome::Transport("grpc:bad token"),
            }
        }
        (Messages::AccountGet, _) => return Outcome::Transport("grpc:no sessions"),
    };
    match answer {
        Ok(()) => Outcome::Ok,
        Err(status) => Outcome::Transport(code_name(status.code())),
    }
}

/// A refused call in the report, by its gRPC code.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "grpc:OK",
        Code::Cancelled => "grpc:CANCELLED",
        Code::Unknown => "grpc:UNKNOWN",
        Code::InvalidArgument => "grpc:INVALID_ARGUMENT",
        Code::DeadlineExceeded => "grpc:DEADLINE_EXCEEDED",
        Code::NotFound => "grpc:NOT_FOUND",
        Code::AlreadyExists => "grpc:ALREADY_EXISTS",
        Code::PermissionDenied => "grpc:PERMISSION_DENIED",
        Code::ResourceExhausted => "grpc:RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "grpc:FAILED_PRECONDITION",
        Code::Aborted => "grpc:ABORTED",
        Code::OutOfRange => "grpc:OUT_OF_RANGE",
        Code::Unimplemented => "grpc:UNIMPLEMENTED",
        Code::Internal => "grpc:INTERNAL",
        Code::Unavailable => "grpc:UNAVAILABLE",
        Code::DataLoss => "grpc:DATA_LOSS",
        Code::Unauthenticated => "grpc:UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(bodies: &[&'static str]) -> Plan {
        let url = reqwest::Url::parse("http://127.0.0.1:7350/v2/account/authenticate/device").unwrap();
        Plan::Login { url, bodies: bodies.iter().map(|b| b.as_bytes()).collect() }
    }

    #[test]
    fn setup_bodies_become_the_same_credentials_as_messages() {
        let plan = login(&[r#"{"id":"load-1"}"#, r#"{"id":"load-2"}"#]);
        let Messages::Device(all) = Messages::of(Scenario::DeviceExisting, &plan).unwrap() else { panic!("device") };
        let ids: Vec<&str> = all.iter().map(|m| m.account.as_ref().unwrap().id.as_str()).collect();
        assert_eq!(ids, ["load-1", "load-2"]);
        assert_eq!(all[0].create, None, "a login: create left to the server's default");

        let plan = login(&[r#"{"email":"load-x@example.com","password":"password-0"}"#]);
        let Messages::Email(all) = Messages::of(Scenario::Email, &plan).unwrap() else { panic!("email") };
        let account = all[0].account.as_ref().unwrap();
        assert_eq!((account.email.as_str(), account.password.as_str()), ("load-x@example.com", "password-0"));

        assert!(Messages::of(Scenario::DeviceExisting, &login(&["not json"])).is_err());
    }

    #[test]
    fn refusals_are_reported_by_their_grpc_code() {
        assert_eq!(code_name(Code::NotFound), "grpc:NOT_FOUND");
        assert_eq!(code_name(Code::Unauthenticated), "grpc:UNAUTHENTICATED");
        let basic = basic(&reqwest::header::HeaderValue::from_static("Basic ZGVmYXVsdGtleTo=")).unwrap();
        assert_eq!(basic.to_str().unwrap(), "Basic ZGVmYXVsdGtleTo=");
    }
}
