//! The account domain: find-or-create by identifier, email/password logins with
//! throttling, social logins, link and unlink, friends, profile read/update, delete and ban.

mod friends;
mod link;
pub mod lockout;
pub mod login_kind;
pub mod password;
mod profile;
mod social;
pub mod staff;
pub mod staff_access;
pub mod validate;

pub use friends::{FriendPage, ImportError};
pub use login_kind::{Credential, LoginKind, Proof};
pub use profile::Account;

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::Clock;
use crate::config::{ConsoleConfig, SessionConfig};
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::sessions::Sessions;
use crate::social::Social;
use crate::store::{CreateError, Identifier, Login, NewAccount, PasswordUpgrade, Store};
use lockout::{Checked, Finished, Lockout, LockoutKey};
use password::{PasswordHasher, Verdict};
use validate::{CustomId, DeviceId, EmailLogin, Password, Username};

/// The accounts service: logins of every kind, link and unlink, profiles, friends, bans,
/// and the console's account work and staff access. Built once at start; each method
/// reaches only the store, the clock, the password pool, the providers and the sessions
/// service.
pub struct Accounts {
    store: Store,
    clock: Clock,
    /// argon2id off the request workers (the console shows its queue).
    pub passwords: PasswordHasher,
    social: Social,
    sessions: Arc<Sessions>,
    /// The client logins' lockout.
    lockout: Lockout,
    /// The console's admin and the lockout of its logins.
    console: ConsoleConfig,
    audit_cap: staff_access::AuditCap,
}

impl Accounts {
    pub fn new(
        store: Store,
        clock: Clock,
        passwords: PasswordHasher,
        social: Social,
        sessions: Arc<Sessions>,
        session: &SessionConfig,
        console: &ConsoleConfig,
    ) -> Self {
        let lockout = Lockout { limit: session.max_failed_logins, window_sec: session.failed_login_window_sec };
        let audit_cap = staff_access::AuditCap::default();
        Accounts { store, clock, passwords, social, sessions, lockout, console: console.clone(), audit_cap }
    }
}

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

fn login(user: Login) -> ApiResult<Authenticated> {
    if user.disable_time != 0 {
        return Err(ErrorKind::UserBanned.into());
    }
    Ok(Authenticated { user_id: user.id, username: user.username, created: false })
}

const CREATE_FAILED: Failure = Failure::FindingOrCreatingAccount;

/// What a sign-up found: its own new account, or the one a concurrent sign-up with the
/// same identifier made first.
enum Inserted {
    Created(Authenticated),
    Existing(Login),
}

impl Accounts {
    /// Logs in with any kind of credential, creating the account when `create` allows.
    /// `sync` imports the friends of the kinds that can.
    pub async fn authenticate(
        &self,
        credential: &Credential<'_>,
        create: bool,
        username: &str,
        sync: bool,
    ) -> ApiResult<Authenticated> {
        let proof = &credential.proof;
        let identifier = match credential.kind {
            LoginKind::Email => {
                let (email, password) = proof.email();
                return self.authenticate_email(email, password, create, username).await;
            }
            LoginKind::Device => Identifier::Device(DeviceId::parse(proof.text())?.into_inner()),
            LoginKind::Custom => Identifier::Custom(CustomId::parse(proof.text())?.into_inner()),
            kind => return self.authenticate_social(kind, proof, create, username, sync).await,
        };
        let username = Username::parse_optional(username)?;
        self.find_or_create(identifier, create, username).await
    }

    async fn authenticate_email(
        &self,
        email: &str,
        password: &str,
        create: bool,
        username: &str,
    ) -> ApiResult<Authenticated> {
        match EmailLogin::parse(email, password, username)? {
            EmailLogin::Email { email, password, username } => {
                let identifier = Identifier::Email(email.into_inner());
                match self.find(&identifier).await? {
                    Some(user) => self.check_password(user, password).await,
                    None if !create => {
                        // As slow as a wrong password, so timing does not reveal the account.
                        self.verify_password(password, None).await?;
                        Err(ErrorKind::UserNotFound.into())
                    }
                    None => {
                        let hash = self.hash_password(password.clone(), CREATE_FAILED).await?;
                        let profile = NewProfile { password: Some(hash), ..NewProfile::default() };
                        match self.insert_account(identifier, username, profile).await? {
                            Inserted::Created(created) => Ok(created),
                            // A concurrent sign-up made the account while this one hashed: the
                            // password is checked against the stored hash like any login.
                            Inserted::Existing(user) => self.check_password(user, password).await,
                        }
                    }
                }
            }
            EmailLogin::Username { username, password } => {
                let user = self
                    .store
                    .find_user_by_username(username.as_str())
                    .await
                    .map_err(|e| Failure::FindingAccount.because(e))?;
                match user {
                    Some(user) => self.check_password(user.into(), password).await,
                    None => {
                        self.verify_password(password, None).await?;
                        Err(ErrorKind::UserNotFound.into())
                    }
                }
            }
        }
    }

    async fn find(&self, identifier: &Identifier) -> ApiResult<Option<Login>> {
        self.store.find_login(identifier).await.map_err(|e| Failure::FindingAccount.because(e))
    }

    /// Logs into the account holding `identifier`, or creates it when allowed.
    pub async fn find_or_create(
        &self,
        identifier: Identifier,
        create: bool,
        username: Option<Username>,
    ) -> ApiResult<Authenticated> {
        self.find_or_create_with(identifier, create, username, NewProfile::default()).await
    }

    pub async fn find_or_create_with(
        &self,
        identifier: Identifier,
        create: bool,
        username: Option<Username>,
        profile: NewProfile,
    ) -> ApiResult<Authenticated> {
        match self.find(&identifier).await? {
            Some(user) => login(user),
            None if !create => Err(ErrorKind::UserNotFound.into()),
            None => self.create_account(identifier, username, profile).await,
        }
    }

    async fn create_account(
        &self,
        identifier: Identifier,
        username: Option<Username>,
        profile: NewProfile,
    ) -> ApiResult<Authenticated> {
        match self.insert_account(identifier, username, profile).await? {
            Inserted::Created(created) => Ok(created),
            // A concurrent first login with the same identifier won: log into its account.
            Inserted::Existing(user) => login(user),
        }
    }

    async fn insert_account(
        &self,
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
            now: self.clock.now(),
        };
        match self.store.create_account(new).await {
            Ok(user) => {
                Ok(Inserted::Created(Authenticated { user_id: user.id, username: user.username, created: true }))
            }
            Err(CreateError::Db(e)) => Err(CREATE_FAILED.because(e)),
            Err(conflict) => {
                if let Some(user) = self.find(&identifier).await? {
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
    async fn check_password(&self, user: Login, password: Password) -> ApiResult<Authenticated> {
        if user.disable_time != 0 {
            return Err(ErrorKind::UserBanned.into());
        }
        let stored = user.password.clone();
        let check = async {
            let verdict = self.verify_password(password, stored.clone()).await?;
            let matched = verdict.matched();
            let upgrade = match (verdict, stored) {
                (Verdict::MatchRehashed(new), Some(old)) => Some(PasswordUpgrade { user_id: user.id, old, new }),
                _ => None,
            };
            ApiResult::Ok(Checked { matched, upgrade })
        };
        let key = LockoutKey::Account(user.id);
        match self.lockout.check(&self.store, self.clock.now(), key, Failure::FindingAccount, check).await? {
            Finished::Mismatch => return Err(ErrorKind::InvalidCredentials.into()),
            Finished::MatchUpgraded => self.passwords.count_upgrade(),
            Finished::Match => {}
        }
        login(user)
    }

    async fn verify_password(&self, password: Password, stored: Option<String>) -> ApiResult<Verdict> {
        self.passwords.verify(password.into_inner(), stored).await.map_err(|e| Failure::FindingAccount.because(e))
    }

    async fn hash_password(&self, password: Password, failure: Failure) -> ApiResult<String> {
        self.passwords.hash(password.into_inner()).await.map_err(|e| failure.because(e))
    }
}
