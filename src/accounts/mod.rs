//! The account domain: find-or-create by identifier, email/password logins with
//! throttling, social logins, link and unlink, friends, profile read/update, delete and ban.

pub mod friends;
mod link;
pub mod lockout;
pub mod password;
mod profile;
mod social;
pub mod staff;
pub mod staff_access;
pub mod validate;

pub use link::{link_custom, link_device, link_email, unlink_column, unlink_custom, unlink_device, unlink_email};
pub use profile::{ban, delete_account, existing_user, get_account, get_users, unban, update_account, Account};
pub use social::{
    authenticate_apple, authenticate_facebook, authenticate_facebook_instant_game, authenticate_gamecenter,
    authenticate_google, authenticate_steam, link_apple, link_facebook, link_facebook_instant_game, link_gamecenter,
    link_google, link_steam, unlink_apple, unlink_facebook, unlink_facebook_instant_game, unlink_gamecenter,
    unlink_google, unlink_steam,
};

use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Code};
use crate::store::{CreateError, Identifier, Login, NewAccount};
use crate::AppState;
use lockout::{Lockout, LockoutKey};
use validate::{CustomId, DeviceId, EmailLogin, Password, Username};

/// Who logged in, and whether the account was made by this request.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub user_id: Uuid,
    pub username: String,
    pub created: bool,
}

/// Profile fields a provider supplies for a new account.
#[derive(Default)]
pub struct NewProfile {
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub email: Option<String>,
}

pub async fn authenticate_device(state: &AppState, id: &str, create: bool, username: &str) -> ApiResult<Authenticated> {
    let device = DeviceId::parse(id)?;
    let username = Username::parse_optional(username)?;
    find_or_create(state, Identifier::Device(device.into_inner()), create, username).await
}

pub async fn authenticate_custom(state: &AppState, id: &str, create: bool, username: &str) -> ApiResult<Authenticated> {
    let custom = CustomId::parse(id)?;
    let username = Username::parse_optional(username)?;
    find_or_create(state, Identifier::Custom(custom.into_inner()), create, username).await
}

pub async fn authenticate_email(
    state: &AppState,
    email: &str,
    password: &str,
    create: bool,
    username: &str,
) -> ApiResult<Authenticated> {
    match EmailLogin::parse(email, password, username)? {
        EmailLogin::Email { email, password, username } => {
            let identifier = Identifier::Email(email.into_inner());
            match find(state, &identifier).await? {
                Some(user) => check_password(state, user, password).await,
                None if !create => {
                    // As slow as a wrong password, so timing does not reveal the account.
                    verify_password(state, password, None).await?;
                    Err(ApiError::not_found("User account not found."))
                }
                None => {
                    let hash = hash_password(state, password.clone(), CREATE_FAILED).await?;
                    let profile = NewProfile { password: Some(hash), ..NewProfile::default() };
                    match insert_account(state, identifier, username, profile).await? {
                        Inserted::Created(created) => Ok(created),
                        // A concurrent sign-up made the account while this one hashed: the
                        // password is checked against the stored hash like any login.
                        Inserted::Existing(user) => check_password(state, user, password).await,
                    }
                }
            }
        }
        EmailLogin::Username { username, password } => {
            let user = state
                .store
                .find_user_by_username(username.as_str())
                .await
                .map_err(ApiError::internal_with("Error finding user account."))?;
            match user {
                Some(user) => check_password(state, user.into(), password).await,
                None => {
                    verify_password(state, password, None).await?;
                    Err(ApiError::not_found("User account not found."))
                }
            }
        }
    }
}

async fn find(state: &AppState, identifier: &Identifier) -> ApiResult<Option<Login>> {
    state.store.find_login(identifier).await.map_err(ApiError::internal_with("Error finding user account."))
}

/// Logs into the account holding `identifier`, or creates it when allowed.
pub async fn find_or_create(
    state: &AppState,
    identifier: Identifier,
    create: bool,
    username: Option<Username>,
) -> ApiResult<Authenticated> {
    find_or_create_with(state, identifier, create, username, NewProfile::default()).await
}

pub async fn find_or_create_with(
    state: &AppState,
    identifier: Identifier,
    create: bool,
    username: Option<Username>,
    profile: NewProfile,
) -> ApiResult<Authenticated> {
    match find(state, &identifier).await? {
        Some(user) => login(user),
        None if !create => Err(ApiError::not_found("User account not found.")),
        None => create_account(state, identifier, username, profile).await,
    }
}

fn login(user: Login) -> ApiResult<Authenticated> {
    if user.disable_time != 0 {
        return Err(ApiError::permission_denied("User account banned."));
    }
    Ok(Authenticated { user_id: user.id, username: user.username, created: false })
}

async fn create_account(
    state: &AppState,
    identifier: Identifier,
    username: Option<Username>,
    profile: NewProfile,
) -> ApiResult<Authenticated> {
    match insert_account(state, identifier, username, profile).await? {
        Inserted::Created(created) => Ok(created),
        // A concurrent first login with the same identifier won: log into its account.
        Inserted::Existing(user) => login(user),
    }
}

const CREATE_FAILED: &str = "Error finding or creating user account.";

/// What a sign-up found: its own new account, or the one a concurrent sign-up with the
/// same identifier made first.
enum Inserted {
    Created(Authenticated),
    Existing(Login),
}

async fn insert_account(
    state: &AppState,
    identifier: Identifier,
    username: Option<Username>,
    profile: NewProfile,
) -> ApiResult<Inserted> {
    let new = NewAccount {
        username: username.unwrap_or_else(Username::generate).into_inner(),
        identifier: identifier.clone(),
        password: profile.password,
        display_name: profile.display_name,
        avatar_url: profile.avatar_url,
        email: profile.email,
        now: state.clock.now(),
    };
    match state.store.create_account(new).await {
        Ok(user) => Ok(Inserted::Created(Authenticated { user_id: user.id, username: user.username, created: true })),
        Err(CreateError::Db(e)) => Err(ApiError::internal(CREATE_FAILED, e)),
        Err(conflict) => {
            if let Some(user) = find(state, &identifier).await? {
                return Ok(Inserted::Existing(user));
            }
            match conflict {
                CreateError::UsernameTaken => Err(ApiError::already_exists("Username is already in use.")),
                _ => Err(ApiError::new(Code::Internal, CREATE_FAILED)),
            }
        }
    }
}

/// Mode A/B password login with client-API throttling (difference 5): every password
/// checked against an account first reserves an attempt of its lockout.
async fn check_password(state: &AppState, user: Login, password: Password) -> ApiResult<Authenticated> {
    if user.disable_time != 0 {
        return Err(ApiError::permission_denied("User account banned."));
    }
    let session = &state.config.session;
    let lockout = Lockout { limit: session.max_failed_logins, window_sec: session.failed_login_window_sec };
    let stored = user.password.clone();
    let check = verify_password(state, password, stored);
    let key = LockoutKey::Account(user.id);
    if !lockout.check(&state.store, state.clock.now(), key, "Error finding user account.", check).await? {
        return Err(ApiError::unauthenticated("Invalid credentials."));
    }
    login(user)
}

async fn verify_password(state: &AppState, password: Password, stored: Option<String>) -> ApiResult<bool> {
    state
        .passwords
        .verify(password.into_inner(), stored)
        .await
        .map_err(ApiError::internal_with("Error finding user account."))
}

async fn hash_password(state: &AppState, password: Password, failure: &'static str) -> ApiResult<String> {
    state.passwords.hash(password.into_inner()).await.map_err(ApiError::internal_with(failure))
}
