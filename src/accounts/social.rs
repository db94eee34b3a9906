//! The six providers' path through authenticate, link and unlink, in the order of checks
//! of authenticate.md §2/§4 and link-unlink.md §3-4: the request's own checks, the
//! username, the provider's verdict (`crate::social`), then what a verified provider adds
//! to the account (email, name and avatar, friends).

use uuid::Uuid;

use super::login_kind::{LoginKind, Proof};
use super::validate::Username;
use super::{Accounts, Authenticated, NewProfile};
use crate::error::{ApiError, ApiResult, ErrorKind, Failure};
use crate::social::facebook::Via;
use crate::social::gamecenter::Credential;
use crate::social::{self, VerifyError};
use crate::store::unique_violation;

/// Steam checks its token before its configuration when linking, and after when
/// authenticating (link-unlink.md §3).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Authenticate,
    Link,
}

/// What a provider vouched for.
struct Verified<'a> {
    /// The provider's id of the player.
    id: String,
    display_name: Option<String>,
    avatar_url: Option<String>,
    email: Option<String>,
    friends: Option<Friends<'a>>,
}

/// Where the player's friends can be imported from (`sync`).
enum Friends<'a> {
    /// A Graph API token; a Limited Login token cannot list friends.
    Facebook(&'a str),
    Steam(String),
}

impl Verified<'_> {
    fn id(id: String) -> Self {
        Verified { id, display_name: None, avatar_url: None, email: None, friends: None }
    }

    fn profile(profile: social::Profile) -> Self {
        Verified {
            id: profile.id,
            display_name: profile.display_name,
            avatar_url: profile.avatar_url,
            email: profile.email,
            friends: None,
        }
    }
}

/// The six required Game Center fields, in the order they are checked.
fn check_gamecenter(credential: &Credential<'_>) -> ApiResult<()> {
    let missing = if credential.bundle_id.is_empty() {
        ErrorKind::GameCenterBundleIdRequired
    } else if credential.player_id.is_empty() {
        ErrorKind::GameCenterPlayerIdRequired
    } else if credential.public_key_url.is_empty() {
        ErrorKind::GameCenterPublicKeyUrlRequired
    } else if credential.salt.is_empty() {
        ErrorKind::GameCenterSaltRequired
    } else if credential.signature.is_empty() {
        ErrorKind::GameCenterSignatureRequired
    } else if credential.timestamp_seconds == 0 {
        ErrorKind::GameCenterTimestampRequired
    } else {
        return Ok(());
    };
    Err(missing.into())
}

/// Logs why a credential failed (never the credential) and gives the client the kind's
/// refusal; Instant Game's authenticate has its own.
fn refusal(kind: LoginKind, op: Op, error: VerifyError) -> ApiError {
    let provider = kind.texts().provider;
    match &error {
        VerifyError::Refused(_) | VerifyError::NotConfigured => {
            tracing::debug!(provider, %error, "social credential refused")
        }
        _ => tracing::warn!(provider, %error, "social provider check failed"),
    }
    match (kind, op) {
        // authenticate/facebookinstantgame answers a bad signature with a 500, not a 401.
        (LoginKind::FacebookInstantGame, Op::Authenticate) => ErrorKind::InstantGameSignature.into(),
        _ => ErrorKind::ProviderRefused(kind).into(),
    }
}

impl Accounts {
    fn configured(&self, kind: LoginKind) -> bool {
        let social = self.social.config();
        match kind {
            LoginKind::Apple => !social.apple.bundle_id.is_empty(),
            LoginKind::Steam => !social.steam.publisher_key.is_empty() && social.steam.app_id != 0,
            LoginKind::FacebookInstantGame => !social.facebook_instant_game.app_secret.is_empty(),
            _ => true,
        }
    }

    /// The request's own checks, before any setting is read where Nakama does so: Apple and
    /// Steam (when authenticating) need their configuration first, Instant Game and Steam
    /// (when linking) check the credential first.
    fn check_request(&self, kind: LoginKind, proof: &Proof<'_>, op: Op) -> ApiResult<()> {
        if kind == LoginKind::GameCenter {
            return check_gamecenter(&proof.gamecenter());
        }
        let config_first = matches!((kind, op), (LoginKind::Apple, _) | (LoginKind::Steam, Op::Authenticate));
        if config_first && !self.configured(kind) {
            return Err(ErrorKind::NotConfigured(kind).into());
        }
        if proof.text().is_empty() {
            return Err(ErrorKind::CredentialRequired(kind).into());
        }
        if !self.configured(kind) {
            return Err(ErrorKind::NotConfigured(kind).into());
        }
        Ok(())
    }

    /// Asks the kind's provider about the credential.
    async fn verify_social<'a>(&self, kind: LoginKind, proof: &Proof<'a>) -> Result<Verified<'a>, VerifyError> {
        let social = &self.social;
        let token = proof.text();
        Ok(match kind {
            LoginKind::Apple => Verified::profile(social::apple::verify(social, token).await?),
            LoginKind::Facebook => {
                let (profile, via) = social::facebook::verify(social, token).await?;
                let friends = (via == Via::Graph).then_some(Friends::Facebook(token));
                Verified { friends, ..Verified::profile(profile) }
            }
            LoginKind::FacebookInstantGame => {
                let secret = &self.social.config().facebook_instant_game.app_secret;
                Verified::id(social::facebook_instant::verify(secret, token)?)
            }
            LoginKind::Google => Verified::profile(social::google::verify(social, token).await?),
            LoginKind::GameCenter => Verified::id(social::gamecenter::verify(social, &proof.gamecenter()).await?),
            LoginKind::Steam => {
                let steam_id = social::steam::verify(social, token).await?;
                Verified { friends: Some(Friends::Steam(steam_id.clone())), ..Verified::id(steam_id) }
            }
            LoginKind::Device | LoginKind::Email | LoginKind::Custom => return Err(VerifyError::NotConfigured),
        })
    }

    /// A provider's email written over the account's; one owned by another account is skipped.
    async fn import_email(&self, user_id: Uuid, kind: LoginKind, email: Option<&str>) -> ApiResult<()> {
        let Some(email) = email else {
            return Ok(());
        };
        match self.store.import_email(user_id, email, self.clock.now()).await {
            Ok(()) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Ok(()),
            Err(e) => Err(Failure::ImportingEmail(kind).because(e)),
        }
    }

    async fn sync_friends(&self, user_id: Uuid, friends: Option<Friends<'_>>) {
        match friends {
            Some(Friends::Facebook(token)) => self.sync_facebook(user_id, token).await,
            Some(Friends::Steam(steam_id)) => self.sync_steam(user_id, &steam_id).await,
            None => {}
        }
    }

    pub(super) async fn authenticate_social(
        &self,
        kind: LoginKind,
        proof: &Proof<'_>,
        create: bool,
        username: &str,
        sync: bool,
    ) -> ApiResult<Authenticated> {
        self.check_request(kind, proof, Op::Authenticate)?;
        let username = Username::parse_optional(username)?;
        let verified = self.verify_social(kind, proof).await.map_err(|e| refusal(kind, Op::Authenticate, e))?;
        let new = NewProfile {
            display_name: verified.display_name.clone(),
            avatar_url: verified.avatar_url.clone(),
            ..NewProfile::default()
        };
        // Nakama puts Apple's email in the new row, so an email held by another account fails
        // the sign-up with a 500; here it is imported after, like Facebook's and Google's.
        let who = self.find_or_create_with(kind.identifier(verified.id), create, username, new).await?;
        if who.created {
            self.import_email(who.user_id, kind, verified.email.as_deref()).await?;
        } else if kind == LoginKind::Google {
            // Only Google fills an existing account's empty name and avatar at login.
            let filled = self
                .store
                .fill_empty_profile(
                    who.user_id,
                    verified.display_name.as_deref(),
                    verified.avatar_url.as_deref(),
                    self.clock.now(),
                )
                .await;
            if let Err(e) = filled {
                tracing::warn!(error = %e, "cannot fill the profile from Google");
            }
        }
        if sync {
            self.sync_friends(who.user_id, verified.friends).await;
        }
        Ok(who)
    }

    pub(super) async fn link_social(
        &self,
        user_id: Uuid,
        kind: LoginKind,
        proof: &Proof<'_>,
        sync: bool,
    ) -> ApiResult<()> {
        self.check_request(kind, proof, Op::Link)?;
        let verified = self.verify_social(kind, proof).await.map_err(|e| refusal(kind, Op::Link, e))?;
        self.set_identifier(user_id, kind.identifier(verified.id), None, kind).await?;
        // Name and avatar (Facebook's and Google's) only where the account has none.
        self.store
            .fill_empty_profile(
                user_id,
                verified.display_name.as_deref(),
                verified.avatar_url.as_deref(),
                self.clock.now(),
            )
            .await
            .map_err(|e| Failure::Linking(kind).because(e))?;
        self.import_email(user_id, kind, verified.email.as_deref()).await?;
        if sync {
            self.sync_friends(user_id, verified.friends).await;
        }
        Ok(())
    }

    /// Clears the kind's column: unconditionally for an empty credential (no provider call;
    /// for Game Center, any of the six fields missing), else only when it holds the id the
    /// provider verified. The last-identifier rule always holds.
    pub(super) async fn unlink_social(&self, user_id: Uuid, kind: LoginKind, proof: &Proof<'_>) -> ApiResult<()> {
        let given = match kind {
            LoginKind::GameCenter => check_gamecenter(&proof.gamecenter()).is_ok(),
            _ => !proof.text().is_empty(),
        };
        let expected = match given {
            false => None,
            true => {
                let verified = self.verify_social(kind, proof).await.map_err(|e| refusal(kind, Op::Link, e))?;
                Some(verified.id)
            }
        };
        self.unlink_column(user_id, kind, expected.as_deref()).await
    }
}
