//! `nakama.api.Nakama`: each method reads its credential from metadata, then calls the
//! same domain functions as its REST twin. The request is decoded before the credential is
//! checked (tonic decodes before the method runs), as grpc.md §2 orders it.

use actix_web::web;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::messages::{self, AuthenticateMessage, CredentialMessage};
use super::proto;
use super::proto::nakama_server::Nakama as NakamaApi;
use crate::accounts::{Credential, LoginKind};
use crate::api::authenticate::login;
use crate::error::{ApiError, ErrorKind};
use crate::http::auth::{check_server_key, check_session, Authorization};
use crate::sessions::{Claims, SessionTokens};
use crate::store::AccountUpdate;
use crate::AppState;

type Answer<T> = Result<Response<T>, Status>;

pub struct Nakama {
    state: web::Data<AppState>,
}

impl Nakama {
    pub fn new(state: web::Data<AppState>) -> Self {
        Nakama { state }
    }

    /// The request's message, once the server key in `authorization` checks out.
    fn with_server_key<T>(&self, request: Request<T>) -> Result<T, ApiError> {
        check_server_key(authorization(request.metadata()), &self.state.config.socket.server_key)?;
        Ok(request.into_inner())
    }

    /// The caller's claims and the request's message, once the bearer token checks out.
    fn with_caller<T>(&self, request: Request<T>) -> Result<(Claims, T), ApiError> {
        let caller = check_session(authorization(request.metadata()), &self.state.sessions)?;
        Ok((caller, request.into_inner()))
    }

    async fn authenticate<M: AuthenticateMessage>(
        &self,
        kind: LoginKind,
        request: Request<M>,
    ) -> Answer<proto::Session> {
        let fields = self.with_server_key(request)?.fields();
        let mut account = match (fields.account, kind) {
            (Some(account), _) => account,
            // Only gRPC can leave the whole credential out (REST always has a body).
            (None, LoginKind::Email) => return Err(ApiError::from(ErrorKind::EmailAndPasswordRequired).into()),
            (None, LoginKind::GameCenter) => {
                return Err(ApiError::from(ErrorKind::GameCenterCredentialsRequired).into())
            }
            (None, _) => Default::default(),
        };
        let vars = account.take_vars();
        let credential = Credential { kind, proof: account.proof() };
        let create = fields.create.unwrap_or(true);
        let sync = fields.sync.unwrap_or(false);
        let who = login(&self.state, &credential, create, &fields.username, sync).await?;
        let tokens = self.state.sessions.start(who.user_id, &who.username, vars).await?;
        Ok(session(who.created, tokens))
    }

    /// `sync` is only for link/facebook and link/steam; absent means true.
    async fn link<M: CredentialMessage>(
        &self,
        kind: LoginKind,
        request: Request<M>,
        sync: impl FnOnce(&M) -> Option<bool>,
    ) -> Answer<()> {
        let (caller, account) = self.with_caller(request)?;
        let sync = sync(&account).unwrap_or(true);
        self.state.accounts.link(caller.uid, &Credential { kind, proof: account.proof() }, sync).await?;
        Ok(Response::new(()))
    }

    async fn unlink<M: CredentialMessage>(&self, kind: LoginKind, request: Request<M>) -> Answer<()> {
        let (caller, account) = self.with_caller(request)?;
        self.state.accounts.unlink(caller.uid, &Credential { kind, proof: account.proof() }).await?;
        Ok(Response::new(()))
    }

    /// A method Hearth does not serve (grpc.md §3.1): the bearer token is checked first,
    /// as Nakama checks it before any method, then grpc-go's unimplemented answer.
    fn unimplemented<T>(&self, request: Request<T>, method: &str) -> Answer<()> {
        self.with_caller(request)?;
        Err(unimplemented(method))
    }
}

/// grpc-go's words for a method without an implementation.
fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!("method {method} not implemented"))
}

/// `authorization`, or when absent `grpcgateway-authorization` (grpc.md §2.1).
fn authorization(metadata: &MetadataMap) -> Authorization<'_> {
    let key = match metadata.get("authorization") {
        Some(_) => "authorization",
        None => "grpcgateway-authorization",
    };
    Authorization::of(metadata.get_all(key).iter().map(|v| v.as_bytes()))
}

fn session(created: bool, tokens: SessionTokens) -> Response<proto::Session> {
    Response::new(proto::Session { created, token: tokens.token, refresh_token: tokens.refresh_token })
}

/// The served methods, then one unimplemented answer per out-of-scope method.
macro_rules! nakama_service {
    ({ $($served:tt)* } unimplemented { $($method:ident => $name:literal),* $(,)? }) => {
        #[tonic::async_trait]
        impl NakamaApi for Nakama {
            $($served)*
            $(async fn $method(&self, request: Request<()>) -> Answer<()> {
                self.unimplemented(request, $name)
            })*
        }
    };
}

nakama_service!({
    async fn healthcheck(&self, _: Request<()>) -> Answer<()> {
        Ok(Response::new(()))
    }

    async fn authenticate_apple(&self, request: Request<proto::AuthenticateAppleRequest>) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Apple, request).await
    }
    async fn authenticate_custom(&self, request: Request<proto::AuthenticateCustomRequest>) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Custom, request).await
    }
    async fn authenticate_device(&self, request: Request<proto::AuthenticateDeviceRequest>) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Device, request).await
    }
    async fn authenticate_email(&self, request: Request<proto::AuthenticateEmailRequest>) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Email, request).await
    }
    async fn authenticate_facebook(
        &self,
        request: Request<proto::AuthenticateFacebookRequest>,
    ) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Facebook, request).await
    }
    async fn authenticate_facebook_instant_game(
        &self,
        request: Request<proto::AuthenticateFacebookInstantGameRequest>,
    ) -> Answer<proto::Session> {
        self.authenticate(LoginKind::FacebookInstantGame, request).await
    }
    async fn authenticate_game_center(
        &self,
        request: Request<proto::AuthenticateGameCenterRequest>,
    ) -> Answer<proto::Session> {
        self.authenticate(LoginKind::GameCenter, request).await
    }
    async fn authenticate_google(&self, request: Request<proto::AuthenticateGoogleRequest>) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Google, request).await
    }
    async fn authenticate_steam(&self, request: Request<proto::AuthenticateSteamRequest>) -> Answer<proto::Session> {
        self.authenticate(LoginKind::Steam, request).await
    }

    async fn session_refresh(&self, request: Request<proto::SessionRefreshRequest>) -> Answer<proto::Session> {
        let proto::SessionRefreshRequest { token, vars } = self.with_server_key(request)?;
        let tokens = self.state.sessions.refresh(&token, vars).await?;
        Ok(session(false, tokens))
    }

    async fn session_logout(&self, request: Request<proto::SessionLogoutRequest>) -> Answer<()> {
        let (caller, proto::SessionLogoutRequest { token, refresh_token }) = self.with_caller(request)?;
        self.state.sessions.logout(&caller, &token, &refresh_token).await?;
        Ok(Response::new(()))
    }

    async fn get_account(&self, request: Request<()>) -> Answer<proto::Account> {
        let (caller, ()) = self.with_caller(request)?;
        let account = self.state.accounts.get_account(caller.uid).await?;
        Ok(Response::new(messages::account(account, self.state.status.is_online(caller.uid))))
    }

    async fn update_account(&self, request: Request<proto::UpdateAccountRequest>) -> Answer<()> {
        let (caller, m) = self.with_caller(request)?;
        let update = AccountUpdate {
            username: m.username,
            display_name: m.display_name,
            avatar_url: m.avatar_url,
            lang_tag: m.lang_tag,
            location: m.location,
            timezone: m.timezone,
            metadata: None,
        };
        self.state.accounts.update_account(caller.uid, update).await?;
        Ok(Response::new(()))
    }

    async fn delete_account(&self, request: Request<()>) -> Answer<()> {
        let (caller, ()) = self.with_caller(request)?;
        self.state.accounts.delete_account(caller.uid).await?;
        Ok(Response::new(()))
    }

    async fn get_users(&self, request: Request<proto::GetUsersRequest>) -> Answer<proto::Users> {
        let (_, m) = self.with_caller(request)?;
        let users = self.state.accounts.get_users(&m.ids, m.usernames, m.facebook_ids).await?;
        let status = &self.state.status;
        let users = users
            .into_iter()
            .map(|u| {
                let online = status.is_online(u.id);
                messages::user(u, online)
            })
            .collect();
        Ok(Response::new(proto::Users { users }))
    }

    async fn list_friends(&self, request: Request<proto::ListFriendsRequest>) -> Answer<proto::FriendList> {
        let (caller, m) = self.with_caller(request)?;
        let page = self.state.accounts.list_friends(caller.uid, m.limit, m.state, &m.cursor).await?;
        Ok(Response::new(messages::friend_list(page, |id| self.state.status.is_online(id))))
    }

    // Not served over REST either yet: the friend imports of issue 12's later slices.
    async fn import_facebook_friends(&self, request: Request<proto::ImportFacebookFriendsRequest>) -> Answer<()> {
        self.unimplemented(request, "ImportFacebookFriends")
    }
    async fn import_steam_friends(&self, request: Request<proto::ImportSteamFriendsRequest>) -> Answer<()> {
        self.unimplemented(request, "ImportSteamFriends")
    }

    async fn link_apple(&self, request: Request<proto::AccountApple>) -> Answer<()> {
        self.link(LoginKind::Apple, request, |_| None).await
    }
    async fn link_custom(&self, request: Request<proto::AccountCustom>) -> Answer<()> {
        self.link(LoginKind::Custom, request, |_| None).await
    }
    async fn link_device(&self, request: Request<proto::AccountDevice>) -> Answer<()> {
        self.link(LoginKind::Device, request, |_| None).await
    }
    async fn link_email(&self, request: Request<proto::AccountEmail>) -> Answer<()> {
        self.link(LoginKind::Email, request, |_| None).await
    }
    async fn link_facebook(&self, request: Request<proto::LinkFacebookRequest>) -> Answer<()> {
        let (request, sync) = unwrap_link(request, |m| (m.account, m.sync));
        self.link(LoginKind::Facebook, request, move |_| sync).await
    }
    async fn link_facebook_instant_game(&self, request: Request<proto::AccountFacebookInstantGame>) -> Answer<()> {
        self.link(LoginKind::FacebookInstantGame, request, |_| None).await
    }
    async fn link_game_center(&self, request: Request<proto::AccountGameCenter>) -> Answer<()> {
        self.link(LoginKind::GameCenter, request, |_| None).await
    }
    async fn link_google(&self, request: Request<proto::AccountGoogle>) -> Answer<()> {
        self.link(LoginKind::Google, request, |_| None).await
    }
    async fn link_steam(&self, request: Request<proto::LinkSteamRequest>) -> Answer<()> {
        let (request, sync) = unwrap_link(request, |m| (m.account, m.sync));
        self.link(LoginKind::Steam, request, move |_| sync).await
    }

    async fn unlink_apple(&self, request: Request<proto::AccountApple>) -> Answer<()> {
        self.unlink(LoginKind::Apple, request).await
    }
    async fn unlink_custom(&self, request: Request<proto::AccountCustom>) -> Answer<()> {
        self.unlink(LoginKind::Custom, request).await
    }
    async fn unlink_device(&self, request: Request<proto::AccountDevice>) -> Answer<()> {
        self.unlink(LoginKind::Device, request).await
    }
    async fn unlink_email(&self, request: Request<proto::AccountEmail>) -> Answer<()> {
        self.unlink(LoginKind::Email, request).await
    }
    async fn unlink_facebook(&self, request: Request<proto::AccountFacebook>) -> Answer<()> {
        self.unlink(LoginKind::Facebook, request).await
    }
    async fn unlink_facebook_instant_game(&self, request: Request<proto::AccountFacebookInstantGame>) -> Answer<()> {
        self.unlink(LoginKind::FacebookInstantGame, request).await
    }
    async fn unlink_game_center(&self, request: Request<proto::AccountGameCenter>) -> Answer<()> {
        self.unlink(LoginKind::GameCenter, request).await
    }
    async fn unlink_google(&self, request: Request<proto::AccountGoogle>) -> Answer<()> {
        self.unlink(LoginKind::Google, request).await
    }
    async fn unlink_steam(&self, request: Request<proto::AccountSteam>) -> Answer<()> {
        self.unlink(LoginKind::Steam, request).await
    }

    // RpcFunc's credential may be the request's `http_key` instead of a token; with no
    // runtime to call, it answers unimplemented before looking at either.
    async fn rpc_func(&self, _: Request<()>) -> Answer<()> {
        Err(unimplemented("RpcFunc"))
    }
} unimplemented {
    add_friends => "AddFriends",
    add_group_users => "AddGroupUsers",
    ban_group_users => "BanGroupUsers",
    block_friends => "BlockFriends",
    create_group => "CreateGroup",
    delete_friends => "DeleteFriends",
    delete_group => "DeleteGroup",
    delete_leaderboard_record => "DeleteLeaderboardRecord",
    delete_notifications => "DeleteNotifications",
    delete_storage_objects => "DeleteStorageObjects",
    delete_tournament_record => "DeleteTournamentRecord",
    demote_group_users => "DemoteGroupUsers",
    event => "Event",
    get_matchmaker_stats => "GetMatchmakerStats",
    get_subscription => "GetSubscription",
    join_group => "JoinGroup",
    join_tournament => "JoinTournament",
    kick_group_users => "KickGroupUsers",
    leave_group => "LeaveGroup",
    list_channel_messages => "ListChannelMessages",
    list_friends_of_friends => "ListFriendsOfFriends",
    list_group_users => "ListGroupUsers",
    list_groups => "ListGroups",
    list_leaderboard_records => "ListLeaderboardRecords",
    list_leaderboard_records_around_owner => "ListLeaderboardRecordsAroundOwner",
    list_matches => "ListMatches",
    list_notifications => "ListNotifications",
    list_parties => "ListParties",
    list_storage_objects => "ListStorageObjects",
    list_subscriptions => "ListSubscriptions",
    list_tournament_records => "ListTournamentRecords",
    list_tournament_records_around_owner => "ListTournamentRecordsAroundOwner",
    list_tournaments => "ListTournaments",
    list_user_groups => "ListUserGroups",
    promote_group_users => "PromoteGroupUsers",
    read_storage_objects => "ReadStorageObjects",
    update_group => "UpdateGroup",
    validate_purchase_apple => "ValidatePurchaseApple",
    validate_purchase_facebook_instant => "ValidatePurchaseFacebookInstant",
    validate_purchase_google => "ValidatePurchaseGoogle",
    validate_purchase_huawei => "ValidatePurchaseHuawei",
    validate_purchase_samsung => "ValidatePurchaseSamsung",
    validate_subscription_apple => "ValidateSubscriptionApple",
    validate_subscription_google => "ValidateSubscriptionGoogle",
    write_leaderboard_record => "WriteLeaderboardRecord",
    write_storage_objects => "WriteStorageObjects",
    write_tournament_record => "WriteTournamentRecord",
});

/// link/facebook and link/steam wrap the credential with `sync`: the credential as a
/// request of its own (metadata kept) and the `sync` given.
fn unwrap_link<W, A: Default>(
    request: Request<W>,
    split: impl FnOnce(W) -> (Option<A>, Option<bool>),
) -> (Request<A>, Option<bool>) {
    let (metadata, extensions, message) = request.into_parts();
    let (account, sync) = split(message);
    (Request::from_parts(metadata, extensions, account.unwrap_or_default()), sync)
}
