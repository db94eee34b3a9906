//! grpc.md: the native gRPC API on `socket.port - 1`, through a tonic client generated
//! from Hearth's own proto. Cases that are the same over REST share its table.

use hearth::grpc::proto;
use tonic::Code;

use crate::both_backends;
use crate::common::auth_cases::{refusals, Login};
use crate::common::grpc_client::{assert_status, basic, with_authorization, with_bearer};
use crate::helpers::{claims, TestApp};
use crate::storage_free;

fn device(id: &str) -> proto::AuthenticateDeviceRequest {
    proto::AuthenticateDeviceRequest {
        account: Some(proto::AccountDevice { id: id.into(), ..Default::default() }),
        ..Default::default()
    }
}

/// A new device account's session over gRPC.
async fn sign_up(app: &TestApp, id: &str) -> proto::Session {
    let mut client = app.grpc_client().await;
    client.authenticate_device(app.with_key(device(id))).await.expect("device sign-up").into_inner()
}

storage_free!(healthcheck_needs_no_credentials);
async fn healthcheck_needs_no_credentials(app: TestApp) {
    let mut client = app.grpc_client().await;
    client.healthcheck(()).await.expect("healthcheck");
    client.healthcheck(with_authorization((), "Bearer garbage")).await.expect("metadata is ignored");
}

storage_free!(grpc_listens_one_port_below_the_client_api_by_default);
async fn grpc_listens_one_port_below_the_client_api_by_default(_app: TestApp) {
    assert_eq!(hearth::grpc::port(7350), 7349);
    assert_eq!(hearth::grpc::port(0), 0, "a free client API port gives a free gRPC port");
}

both_backends!(authenticate_refusals_over_grpc);
async fn authenticate_refusals_over_grpc(app: TestApp) {
    let mut client = app.grpc_client().await;
    for case in refusals() {
        let create = Some(case.create);
        let username = case.username.to_string();
        let answer = match case.login {
            Login::Device(id) => {
                let account = Some(proto::AccountDevice { id, ..Default::default() });
                let request = proto::AuthenticateDeviceRequest { account, create, username };
                client.authenticate_device(app.with_key(request)).await
            }
            Login::Custom(id) => {
                let account = Some(proto::AccountCustom { id, ..Default::default() });
                let request = proto::AuthenticateCustomRequest { account, create, username };
                client.authenticate_custom(app.with_key(request)).await
            }
            Login::Email { email, password } => {
                let account = Some(proto::AccountEmail { email, password, ..Default::default() });
                let request = proto::AuthenticateEmailRequest { account, create, username };
                client.authenticate_email(app.with_key(request)).await
            }
        };
        let status = answer.expect_err(case.name);
        assert_eq!(status.code() as i32, case.code, "{}: {status:?}", case.name);
        assert_eq!(status.message(), case.message, "{}: {status:?}", case.name);
    }
}

both_backends!(device_creates_then_logs_in_with_vars_in_the_token);
async fn device_creates_then_logs_in_with_vars_in_the_token(app: TestApp) {
    let mut client = app.grpc_client().await;
    let mut account = proto::AccountDevice { id: "grpc-device-0001".into(), ..Default::default() };
    account.vars.insert("k".into(), "v".into());
    let request =
        proto::AuthenticateDeviceRequest { account: Some(account), create: None, username: "grpcuser1".into() };
    let first = client.authenticate_device(app.with_key(request)).await.expect("sign-up").into_inner();
    assert!(first.created);
    let c = claims(&first.token);
    assert_eq!(c["usn"], "grpcuser1");
    assert_eq!(c["vrs"]["k"], "v");
    let second = client.authenticate_device(app.with_key(device("grpc-device-0001"))).await.expect("login");
    let second = second.into_inner();
    assert!(!second.created);
    assert_eq!(claims(&second.token)["uid"], c["uid"]);
    // The same account over REST: one domain under both transports.
    let rest = app.device("grpc-device-0001").await;
    assert_eq!(claims(&rest.token())["uid"], c["uid"]);
}

both_backends!(missing_account_answers_as_an_empty_credential);
async fn missing_account_answers_as_an_empty_credential(app: TestApp) {
    let mut client = app.grpc_client().await;
    let answer = client.authenticate_device(app.with_key(proto::AuthenticateDeviceRequest::default())).await;
    assert_status(answer, Code::InvalidArgument, "Device ID is required.");
    let answer = client.authenticate_email(app.with_key(proto::AuthenticateEmailRequest::default())).await;
    assert_status(answer, Code::InvalidArgument, "Email address and password is required.");
    let answer = client.authenticate_game_center(app.with_key(proto::AuthenticateGameCenterRequest::default())).await;
    assert_status(answer, Code::InvalidArgument, "GameCenter access credentials are required.");
}

storage_free!(authenticate_needs_the_server_key);
async fn authenticate_needs_the_server_key(app: TestApp) {
    let mut client = app.grpc_client().await;
    let answer = client.authenticate_device(device("no-key-device-1")).await;
    assert_status(answer, Code::Unauthenticated, "Server key required");
    let answer = client.authenticate_device(with_authorization(device("no-key-device-1"), &basic("wrongkey"))).await;
    assert_status(answer, Code::Unauthenticated, "Server key invalid");
    let answer = client.authenticate_device(with_bearer(device("no-key-device-1"), "a.b.c")).await;
    assert_status(answer, Code::Unauthenticated, "Server key invalid");
    let lower = basic(&app.config.socket.server_key).replacen("Basic", "basic", 1);
    let answer = client.authenticate_device(with_authorization(device("no-key-device-1"), &lower)).await;
    assert_status(answer, Code::Unauthenticated, "Server key invalid");
    // Two values count as none.
    let mut twice = app.with_key(device("no-key-device-1"));
    let key = basic(&app.config.socket.server_key).parse().expect("ASCII");
    twice.metadata_mut().append("authorization", key);
    assert_status(client.authenticate_device(twice).await, Code::Unauthenticated, "Server key required");
}

both_backends!(the_gateway_metadata_key_is_read_when_authorization_is_absent);
async fn the_gateway_metadata_key_is_read_when_authorization_is_absent(app: TestApp) {
    let mut client = app.grpc_client().await;
    let mut request = tonic::Request::new(device("gateway-device-1"));
    let key = basic(&app.config.socket.server_key).parse().expect("ASCII");
    request.metadata_mut().insert("grpcgateway-authorization", key);
    assert!(client.authenticate_device(request).await.expect("gateway key").into_inner().created);
}

both_backends!(user_methods_need_a_live_bearer_token);
async fn user_methods_need_a_live_bearer_token(app: TestApp) {
    let mut client = app.grpc_client().await;
    assert_status(client.get_account(()).await, Code::Unauthenticated, "Auth token required");
    assert_status(client.get_account(with_bearer((), "garbage")).await, Code::Unauthenticated, "Auth token invalid");
    let key = basic(&app.config.socket.server_key);
    assert_status(client.get_account(with_authorization((), &key)).await, Code::Unauthenticated, "Auth token invalid");
    let session = sign_up(&app, "bearer-device-1").await;
    let lower = format!("bearer {}", session.token);
    assert_status(
        client.get_account(with_authorization((), &lower)).await,
        Code::Unauthenticated,
        "Auth token invalid",
    );
    let mut twice = with_bearer((), &session.token);
    twice.metadata_mut().append("authorization", format!("Bearer {}", session.token).parse().expect("ASCII"));
    assert_status(client.get_account(twice).await, Code::Unauthenticated, "Auth token invalid");
}

both_backends!(get_account_shows_the_profile_and_devices);
async fn get_account_shows_the_profile_and_devices(app: TestApp) {
    let session = sign_up(&app, "account-device-1").await;
    let uid = claims(&session.token)["uid"].as_str().expect("uid").to_string();
    let mut client = app.grpc_client().await;
    let account = client.get_account(with_bearer((), &session.token)).await.expect("account").into_inner();
    let user = account.user.expect("user");
    assert_eq!(user.id, uid);
    assert_eq!(user.lang_tag, "en");
    assert_eq!(user.metadata, "{}");
    assert_eq!(user.create_time.expect("create_time").nanos, 0);
    assert!(user.update_time.is_some());
    assert_eq!(account.wallet, "{}");
    assert_eq!(account.devices.len(), 1);
    assert_eq!(account.devices[0].id, "account-device-1");
    assert_eq!(account.custom_id, "");
    assert_eq!(account.email, "");
    assert!(account.verify_time.is_none());
    assert!(account.disable_time.is_none());
}

both_backends!(refresh_then_logout_ends_both_tokens);
async fn refresh_then_logout_ends_both_tokens(app: TestApp) {
    let session = sign_up(&app, "refresh-device-1").await;
    let mut client = app.grpc_client().await;
    let refresh = proto::SessionRefreshRequest { token: session.refresh_token.clone(), ..Default::default() };
    let refreshed = client.session_refresh(app.with_key(refresh)).await.expect("refresh").into_inner();
    assert!(!refreshed.created);
    assert_eq!(claims(&refreshed.token)["tid"], claims(&session.token)["tid"]);
    let bearer = with_bearer(proto::SessionRefreshRequest::default(), &session.token);
    assert_status(client.session_refresh(bearer).await, Code::Unauthenticated, "Server key invalid");
    let empty = app.with_key(proto::SessionRefreshRequest::default());
    assert_status(client.session_refresh(empty).await, Code::InvalidArgument, "Refresh token is required.");

    let logout =
        proto::SessionLogoutRequest { token: session.token.clone(), refresh_token: session.refresh_token.clone() };
    client.session_logout(with_bearer(logout, &session.token)).await.expect("logout");
    assert_status(
        client.get_account(with_bearer((), &session.token)).await,
        Code::Unauthenticated,
        "Auth token invalid",
    );
    let again = proto::SessionRefreshRequest { token: session.refresh_token, ..Default::default() };
    assert_status(
        client.session_refresh(app.with_key(again)).await,
        Code::Unauthenticated,
        "Refresh token invalid or expired.",
    );
}

both_backends!(update_account_then_get_users);
async fn update_account_then_get_users(app: TestApp) {
    let session = sign_up(&app, "update-device-1").await;
    let uid = claims(&session.token)["uid"].as_str().expect("uid").to_string();
    let usn = claims(&session.token)["usn"].as_str().expect("usn").to_string();
    let mut client = app.grpc_client().await;
    let update = proto::UpdateAccountRequest { display_name: Some("Grpc Name".into()), ..Default::default() };
    client.update_account(with_bearer(update, &session.token)).await.expect("update");
    let empty_name = proto::UpdateAccountRequest { username: Some(String::new()), ..Default::default() };
    assert_status(
        client.update_account(with_bearer(empty_name, &session.token)).await,
        Code::InvalidArgument,
        "Username invalid, must be 1-128 bytes.",
    );
    let by_id = proto::GetUsersRequest { ids: vec![uid.clone()], ..Default::default() };
    let users = client.get_users(with_bearer(by_id, &session.token)).await.expect("users").into_inner().users;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].display_name, "Grpc Name");
    assert_eq!(users[0].username, usn);
    let by_name = proto::GetUsersRequest { usernames: vec![usn], ..Default::default() };
    let users = client.get_users(with_bearer(by_name, &session.token)).await.expect("users").into_inner().users;
    assert_eq!(users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), vec![uid.as_str()]);
    let none = client.get_users(with_bearer(proto::GetUsersRequest::default(), &session.token)).await;
    assert!(none.expect("empty request").into_inner().users.is_empty());
    let bad = proto::GetUsersRequest { ids: vec!["not-a-uuid".into()], ..Default::default() };
    assert_status(
        client.get_users(with_bearer(bad, &session.token)).await,
        Code::InvalidArgument,
        "ID 'not-a-uuid' is not a valid system ID.",
    );
}

both_backends!(link_and_unlink_custom_then_delete);
async fn link_and_unlink_custom_then_delete(app: TestApp) {
    let session = sign_up(&app, "link-device-001").await;
    let other = sign_up(&app, "link-device-002").await;
    let mut client = app.grpc_client().await;
    let custom = |id: &str| proto::AccountCustom { id: id.into(), ..Default::default() };
    client.link_custom(with_bearer(custom("grpc-custom-1"), &session.token)).await.expect("link");
    assert_status(
        client.link_custom(with_bearer(custom("grpc-custom-1"), &other.token)).await,
        Code::AlreadyExists,
        "Custom ID is already in use.",
    );
    assert_status(
        client.link_custom(with_bearer(custom("abc"), &session.token)).await,
        Code::InvalidArgument,
        "Invalid custom ID, must be 6-128 bytes.",
    );
    let login = proto::AuthenticateCustomRequest {
        account: Some(custom("grpc-custom-1")),
        create: Some(false),
        username: String::new(),
    };
    let found = client.authenticate_custom(app.with_key(login.clone())).await.expect("custom login").into_inner();
    assert_eq!(claims(&found.token)["uid"], claims(&session.token)["uid"]);
    client.unlink_custom(with_bearer(custom("grpc-custom-1"), &session.token)).await.expect("unlink");
    assert_status(client.authenticate_custom(app.with_key(login)).await, Code::NotFound, "User account not found.");
    let device = proto::AccountDevice { id: "link-device-001".into(), ..Default::default() };
    assert_status(
        client.unlink_device(with_bearer(device, &session.token)).await,
        Code::PermissionDenied,
        "Cannot unlink last account identifier. Check profile exists and is not last link.",
    );
    let friends = client.list_friends(with_bearer(proto::ListFriendsRequest::default(), &session.token)).await;
    let friends = friends.expect("friends").into_inner();
    assert!(friends.friends.is_empty());
    assert_eq!(friends.cursor, "");
    let bad_limit = proto::ListFriendsRequest { limit: Some(0), ..Default::default() };
    assert_status(
        client.list_friends(with_bearer(bad_limit, &session.token)).await,
        Code::InvalidArgument,
        "Invalid limit - limit must be between 1 and 1000.",
    );
    client.delete_account(with_bearer((), &session.token)).await.expect("delete");
    assert_status(
        client.get_account(with_bearer((), &session.token)).await,
        Code::Unauthenticated,
        "Auth token invalid",
    );
}

// Check-then-act over gRPC: identical first logins at once end in one account.
both_backends!(concurrent_identical_grpc_sign_ups_make_one_account);
async fn concurrent_identical_grpc_sign_ups_make_one_account(app: TestApp) {
    let before = app.account_count().await;
    let client = app.grpc_client().await;
    let calls = (0..32).map(|_| {
        let mut client = client.clone();
        let request = app.with_key(device("grpc-race-device-1"));
        async move { client.authenticate_device(request).await }
    });
    let sessions: Vec<proto::Session> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|answer| answer.expect("every racer logs in").into_inner())
        .collect();
    assert_eq!(sessions.iter().filter(|s| s.created).count(), 1, "exactly one sign-up created the account");
    let uids: std::collections::HashSet<String> =
        sessions.iter().map(|s| claims(&s.token)["uid"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(uids.len(), 1, "{uids:?}");
    assert_eq!(app.account_count().await, before + 1);
}

/// The encoded size of a device login whose id is `len` bytes.
fn device_request_of(len: usize) -> proto::AuthenticateDeviceRequest {
    device(&"d".repeat(len))
}

storage_free!(a_message_over_the_size_limit_is_resource_exhausted);
async fn a_message_over_the_size_limit_is_resource_exhausted(app: TestApp) {
    use prost::Message;
    let limit = app.config.socket.max_request_size_bytes;
    // Find the id length whose request is exactly at the limit (varint lengths move by a byte).
    let at_limit = (limit - 16..limit)
        .map(device_request_of)
        .find(|r| r.encoded_len() == limit)
        .expect("an id length giving exactly the limit");
    let mut client = app.grpc_client().await;
    // At the bound the method runs (and refuses the id by its own rule).
    assert_status(
        client.authenticate_device(app.with_key(at_limit.clone())).await,
        Code::InvalidArgument,
        "Device ID invalid, must be 10-128 bytes.",
    );
    let mut over = at_limit;
    if let Some(account) = over.account.as_mut() {
        account.id.push('d');
    }
    let size = over.encoded_len();
    assert_eq!(size, limit + 1);
    // Refused before the credential is looked at: no metadata at all.
    assert_status(
        client.authenticate_device(over).await,
        Code::ResourceExhausted,
        &format!("grpc: received message larger than max ({size} vs. {limit})"),
    );
}

storage_free!(a_smaller_configured_limit_applies_to_grpc, |c: &mut hearth::config::Config| {
    c.socket.max_request_size_bytes = 1024;
});
async fn a_smaller_configured_limit_applies_to_grpc(app: TestApp) {
    use prost::Message;
    let request = device_request_of(2000);
    let size = request.encoded_len();
    let mut client = app.grpc_client().await;
    assert_status(
        client.authenticate_device(app.with_key(request)).await,
        Code::ResourceExhausted,
        &format!("grpc: received message larger than max ({size} vs. 1024)"),
    );
}

storage_free!(methods_outside_hearth_answer_unimplemented_after_the_token);
async fn methods_outside_hearth_answer_unimplemented_after_the_token(app: TestApp) {
    let session = sign_up(&app, "unimpl-device-1").await;
    let mut client = app.grpc_client().await;
    assert_status(client.add_friends(()).await, Code::Unauthenticated, "Auth token required");
    assert_status(
        client.add_friends(with_bearer((), &session.token)).await,
        Code::Unimplemented,
        "method AddFriends not implemented",
    );
    assert_status(
        client.list_storage_objects(with_bearer((), &session.token)).await,
        Code::Unimplemented,
        "method ListStorageObjects not implemented",
    );
    assert_status(client.rpc_func(()).await, Code::Unimplemented, "method RpcFunc not implemented");
}

/// A call to any path with the raw bytes `body` as its message.
async fn raw_call(app: &TestApp, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(app.grpc.clone()).expect("endpoint").connect().await;
    let mut grpc = tonic::client::Grpc::new(channel.expect("connect"));
    grpc.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    let answer: Result<tonic::Response<()>, tonic::Status> =
        grpc.unary(tonic::Request::new(RawBytes(body)), path, RawCodec).await;
    answer.expect_err("a refusal")
}

storage_free!(unknown_methods_and_services_are_named_in_the_answer);
async fn unknown_methods_and_services_are_named_in_the_answer(app: TestApp) {
    let status = raw_call(&app, "/nakama.api.Nakama/NoSuchMethod", vec![]).await;
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unimplemented, "unknown method NoSuchMethod for service nakama.api.Nakama")
    );
    let status = raw_call(&app, "/foo.Bar/Baz", vec![]).await;
    assert_eq!((status.code(), status.message()), (Code::Unimplemented, "unknown service foo.Bar"));
}

storage_free!(an_undecodable_request_is_internal_even_without_credentials);
async fn an_undecodable_request_is_internal_even_without_credentials(app: TestApp) {
    // Field 1 (`account`, a message) sent as a varint.
    let status = raw_call(&app, "/nakama.api.Nakama/AuthenticateDevice", vec![0x08, 0x01]).await;
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status.message().starts_with("grpc: error unmarshalling request: failed to decode Protobuf message"),
        "{status:?}"
    );
}

/// The bytes of a request as they go on the wire, and a codec that writes them as they are.
struct RawBytes(Vec<u8>);

#[derive(Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = RawBytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = RawBytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: RawBytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item.0);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, _: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        Ok(Some(()))
    }
}
