//! Between the generated messages and the domain: the credential each `Account*` message
//! proves, and the domain's users, accounts and friends as messages.

use entity::users;
use prost_types::Timestamp;

use super::proto;
use crate::accounts::{FriendPage, Proof};
use crate::sessions::Vars;
use crate::social::gamecenter;

/// A message carrying one kind's credential (the `account` of an authenticate request, the
/// whole of most link and unlink requests).
pub trait CredentialMessage: Default + Send + 'static {
    fn proof(&self) -> Proof<'_>;
    fn take_vars(&mut self) -> Vars;
}

macro_rules! text_credential {
    ($($message:ident . $field:ident),* $(,)?) => {
        $(impl CredentialMessage for proto::$message {
            fn proof(&self) -> Proof<'_> {
                Proof::Text(&self.$field)
            }
            fn take_vars(&mut self) -> Vars {
                std::mem::take(&mut self.vars)
            }
        })*
    };
}

text_credential!(
    AccountDevice.id,
    AccountCustom.id,
    AccountApple.token,
    AccountFacebook.token,
    AccountFacebookInstantGame.signed_player_info,
    AccountGoogle.token,
    AccountSteam.token,
);

impl CredentialMessage for proto::AccountEmail {
    fn proof(&self) -> Proof<'_> {
        Proof::Email { email: &self.email, password: &self.password }
    }
    fn take_vars(&mut self) -> Vars {
        std::mem::take(&mut self.vars)
    }
}

impl CredentialMessage for proto::AccountGameCenter {
    fn proof(&self) -> Proof<'_> {
        Proof::GameCenter(gamecenter::Credential {
            player_id: &self.player_id,
            bundle_id: &self.bundle_id,
            timestamp_seconds: self.timestamp_seconds,
            salt: &self.salt,
            signature: &self.signature,
            public_key_url: &self.public_key_url,
        })
    }
    fn take_vars(&mut self) -> Vars {
        std::mem::take(&mut self.vars)
    }
}

/// The fields the nine authenticate requests share, and `sync` of Facebook and Steam.
pub struct AuthenticateFields<A> {
    pub account: Option<A>,
    /// Absent means true.
    pub create: Option<bool>,
    pub username: String,
    /// Absent means false.
    pub sync: Option<bool>,
}

pub trait AuthenticateMessage: Send + 'static {
    type Account: CredentialMessage;
    fn fields(self) -> AuthenticateFields<Self::Account>;
}

macro_rules! authenticate_message {
    ($($request:ident($account:ident) $(sync $sync:ident)?),* $(,)?) => {
        $(impl AuthenticateMessage for proto::$request {
            type Account = proto::$account;
            fn fields(self) -> AuthenticateFields<proto::$account> {
                AuthenticateFields {
                    account: self.account,
                    create: self.create,
                    username: self.username,
                    sync: authenticate_message!(@sync self $($sync)?),
                }
            }
        })*
    };
    (@sync $self:ident $sync:ident) => { $self.$sync };
    (@sync $self:ident) => { None };
}

authenticate_message!(
    AuthenticateAppleRequest(AccountApple),
    AuthenticateCustomRequest(AccountCustom),
    AuthenticateDeviceRequest(AccountDevice),
    AuthenticateEmailRequest(AccountEmail),
    AuthenticateFacebookRequest(AccountFacebook) sync sync,
    AuthenticateFacebookInstantGameRequest(AccountFacebookInstantGame),
    AuthenticateGameCenterRequest(AccountGameCenter),
    AuthenticateGoogleRequest(AccountGoogle),
    AuthenticateSteamRequest(AccountSteam) sync sync,
);

/// Stored times are whole Unix seconds.
fn timestamp(unix: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds: unix, nanos: 0 })
}

pub fn user(u: users::Model, online: bool) -> proto::User {
    let text = |v: Option<String>| v.unwrap_or_default();
    proto::User {
        id: u.id.to_string(),
        username: u.username,
        display_name: text(u.display_name),
        avatar_url: text(u.avatar_url),
        lang_tag: u.lang_tag,
        location: text(u.location),
        timezone: text(u.timezone),
        metadata: u.metadata,
        facebook_id: text(u.facebook_id),
        google_id: text(u.google_id),
        gamecenter_id: text(u.gamecenter_id),
        steam_id: text(u.steam_id),
        online,
        edge_count: u.edge_count,
        create_time: timestamp(u.create_time),
        update_time: timestamp(u.update_time),
        facebook_instant_game_id: text(u.facebook_instant_game_id),
        apple_id: text(u.apple_id),
    }
}

/// `GetAccount`'s answer; `disable_time` is never shown to clients.
pub fn account(account: crate::accounts::Account, online: bool) -> proto::Account {
    let u = account.user;
    proto::Account {
        wallet: u.wallet.clone(),
        email: u.email.clone().unwrap_or_default(),
        devices: account.devices.into_iter().map(|id| proto::AccountDevice { id, ..Default::default() }).collect(),
        custom_id: u.custom_id.clone().unwrap_or_default(),
        verify_time: (u.verify_time != 0).then_some(Timestamp { seconds: u.verify_time, nanos: 0 }),
        disable_time: None,
        user: Some(user(u, online)),
    }
}

pub fn friend_list(page: FriendPage, online: impl Fn(uuid::Uuid) -> bool) -> proto::FriendList {
    let friends = page
        .friends
        .into_iter()
        .map(|f| {
            let is_online = online(f.user.id);
            proto::Friend {
                user: Some(user(f.user, is_online)),
                state: Some(i32::from(f.edge.state)),
                update_time: timestamp(f.edge.update_time),
                metadata: f.edge.metadata,
            }
        })
        .collect();
    proto::FriendList { friends, cursor: page.cursor.unwrap_or_default() }
}
