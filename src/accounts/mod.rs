//! The account domain: find-or-create by identifier, email/password logins with
//! throttling, social logins, link and unlink, friends, profile read/update, delete and ban.

pub mod friends;
mod link;
pub mod lockout;
pub mod login_kind;
pub mod password;
mod profile;
mod social;
pub mod staff;
pub mod staff_access;
pub mod validate;

pub use link::{link, unlink};
pub use login_kind::{Credential, LoginKind, Proof};
pub use profile::{ban, delete_account, existing_user, get_account, get_users, unban, update_account, Account};

use uuid::Uuid;

use crate::error::{ApiResult, ErrorKind, Failure};
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

/// Logs in with any kind of credential, creating the account when `create` allows.
/// `sync` imports the friends of the kinds that can.
pub async fn authenticate(
    state: &AppState,
    credential: &Credential<'_>,
    create: bool,
    username: &str,
    sync: bool,
) -> ApiResult<Authenticated> {
    let proof = &credential.proof;
    let identifier = match credential.kind {
        LoginKind::Email => {
            let (email, password) = proof.email();
            return authenticate_email(state, email, password, create, username).await;
        }
        LoginKind::Device => Identifier::Device(DeviceId::parse(proof.text())?.into_inner()),
        LoginKind::Custom => Identifier::Custom(CustomId::parse(proof.text())?.into_inner()),
        kind => return social::authenticate(state, kind, proof, create, username, sync).await,
    };
    let username = Username::parse_optional(username)?;
    find_or_create(state, identifier, create, username).await
}

async fn authenticate_email(
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
                    Err(ErrorKind::UserNotFound.into())
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
                .map_err(|e| Failure::FindingAccount.because(e))?;
            match user {
                Some(user) => check_password(state, user.into(), password).await,
                None => {
                    verify_password(state, password, None).await?;
                    Err(ErrorKind::UserNotFound.into())
                }
            }
        }
    }
}

async fn find(state: &AppState, identifier: &Identifier) -> ApiResult<Option<Login>> {
    state.store.find_login(identifier).await.map_err(|e| Failure::FindingAccount.because(e))
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
        None if !create => Err(ErrorKind::UserNotFound.into()),
        None => create_account(state, identifier, username, profile).await,
    }
}

fn login(user: Login) -> ApiResult<Authenticated> {
    if user.disable_time != 0 {
        return Err(ErrorKind::UserBanned.into());
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

const CREATE_FAILED: Failure = Failure::FindingOrCreatingAccount;

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
        Err(CreateError::Db(e)) => Err(CREATE_FAILED.because(e)),
        Err(conflict) => {
            if let Some(user) = find(state, &identifier).await? {
                return Ok(Inserted::Existing(user));
            }
            match conflict {
                CreateError::UsernameTaken => Err(ErrorKind::UsernameInUse.into()),
                _ => Err(CREATE_FAILED.into()),
            }
        }
    }
}

/// Mode A/B password login with client-API throttling (difference 5): every password
/// checked against an account first reserves an attempt of its lockout.
async fn check_password(state: &AppState, user: Login, password: Password) -> ApiResult<Authenticated> {
    if user.disable_time != 0 {
        return Err(ErrorKind::UserBanned.into());
    }
    let session = &state.config.session;
    let lockout = Lockout { limit: session.max_failed_logins, window_sec: session.failed_login_window_sec };
    let stored = user.password.clone();
    let check = verify_password(state, password, stored);
    let key = LockoutKey::Account(user.id);
    if !lockout.check(&state.store, state.clock.now(), key, Failure::FindingAccount, check).await? {
        return Err(ErrorKind::InvalidCredentials.into());
    }
    login(user)
}

async fn verify_password(state: &AppState, password: Password, stored: Option<String>) -> ApiResult<bool> {
    state.passwords.verify(password.into_inner(), stored).await.map_err(|e| Failure::FindingAccount.because(e))
}

async fn hash_password(state: &AppState, password: Password, failure: Failure) -> ApiResult<String> {
    state.passwords.hash(password.into_inner()).await.map_err(|e| failure.because(e))
}
