//! Social logins: authenticate, link and unlink with Apple, Facebook, Facebook Instant Games,
//! Google, Game Center and Steam, in the order of checks of authenticate.md §2/§4 and
//! link-unlink.md §3-4. Verification lives in `crate::social`; the rules here.

use entity::users;
use uuid::Uuid;

use super::link::{set_identifier, unlink_column};
use super::validate::Username;
use super::{find_or_create, find_or_create_with, friends, Authenticated, NewProfile};
use crate::error::{ApiError, ApiResult, Code};
use crate::social::facebook::Via;
use crate::social::gamecenter::Credential;
use crate::social::{self, VerifyError};
use crate::store::{unique_violation, Identifier};
use crate::AppState;

/// Every answer that names a provider.
struct Texts {
    provider: &'static str,
    refused: &'static str,
    not_configured: &'static str,
    in_use: &'static str,
    link_failed: &'static str,
    unlink_failed: &'static str,
    email_failed: &'static str,
}

const APPLE: Texts = Texts {
    provider: "apple",
    refused: "Could not authenticate Apple profile.",
    not_configured: "Apple authentication is not configured.",
    in_use: "Apple ID is already in use.",
    link_failed: "Error while trying to link Apple ID.",
    unlink_failed: "Error while trying to unlink Apple ID.",
    email_failed: "Error importing apple account email.",
};

const FACEBOOK: Texts = Texts {
    provider: "facebook",
    refused: "Could not authenticate Facebook profile.",
    not_configured: "Facebook authentication is not configured.",
    in_use: "Facebook ID is already in use.",
    link_failed: "Error while trying to link Facebook ID.",
    unlink_failed: "Error while trying to unlink Facebook ID.",
    email_failed: "Error importing facebook account email.",
};

const INSTANT_GAME: Texts = Texts {
    provider: "facebook_instant_game",
    refused: "Could not authenticate Facebook Instant Game profile.",
    not_configured: "Facebook Instant Game authentication is not configured.",
    in_use: "Facebook Instant Game ID is already in use.",
    link_failed: "Error while trying to link Facebook Instant Game ID.",
    unlink_failed: "Error while trying to unlink Facebook Instant Game ID.",
    email_failed: "",
};

/// authenticate/facebookinstantgame answers a bad signature with this, not a 401.
const INSTANT_GAME_AUTH_REFUSED: &str =
    "Error extracting the Facebook Instant Game player ID or validating the signature";

const GOOGLE: Texts = Texts {
    provider: "google",
    refused: "Could not authenticate Google profile.",
    not_configured: "Google authentication is not configured.",
    in_use: "Google ID is already in use.",
    link_failed: "Error while trying to link Google ID.",
    unlink_failed: "Error while trying to unlink Google ID.",
    email_failed: "Error importing google account email.",
};

const GAMECENTER: Texts = Texts {
    provider: "gamecenter",
    refused: "Could not authenticate GameCenter profile.",
    not_configured: "GameCenter authentication is not configured.",
    in_use: "GameCenter ID is already in use.",
    link_failed: "Error while trying to link GameCenter ID.",
    unlink_failed: "Error while trying to unlink GameCenter ID.",
    email_failed: "",
};

const STEAM: Texts = Texts {
    provider: "steam",
    refused: "Could not authenticate Steam profile.",
    not_configured: "Steam authentication is not configured.",
    in_use: "Steam ID is already in use.",
    link_failed: "Error while trying to link Steam ID.",
    unlink_failed: "Error while trying to unlink Steam ID.",
    email_failed: "",
};

fn not_configured(texts: &Texts) -> ApiError {
    ApiError::new(Code::FailedPrecondition, texts.not_configured)
}

/// Logs why a credential failed (never the credential) and gives the client `message`.
fn refusal(texts: &Texts, error: VerifyError, code: Code, message: &'static str) -> ApiError {
    match &error {
        VerifyError::Refused(_) | VerifyError::NotConfigured => {
            tracing::debug!(provider = texts.provider, %error, "social credential refused")
        }
        _ => tracing::warn!(provider = texts.provider, %error, "social provider check failed"),
    }
    ApiError::new(code, message)
}

fn refused(texts: &'static Texts) -> impl FnOnce(VerifyError) -> ApiError {
    move |error| refusal(texts, error, Code::Unauthenticated, texts.refused)
}

fn apple_configured(state: &AppState) -> bool {
    !state.config.social.apple.bundle_id.is_empty()
}

fn steam_configured(state: &AppState) -> bool {
    let steam = &state.config.social.steam;
    !steam.publisher_key.is_empty() && steam.app_id != 0
}

fn instant_game_secret(state: &AppState) -> &str {
    &state.config.social.facebook_instant_game.app_secret
}

/// The request is checked before the configuration, as Nakama validates it before it reads
/// any setting (authenticate.md §4, link-unlink.md §3).
fn check_instant_game_request(state: &AppState, signed_player_info: &str) -> ApiResult<()> {
    if signed_player_info.is_empty() {
        return Err(ApiError::invalid("Signed Player Info for a Facebook Instant Game is required."));
    }
    if instant_game_secret(state).is_empty() {
        return Err(not_configured(&INSTANT_GAME));
    }
    Ok(())
}

/// A provider's email written over the account's; one owned by another account is skipped.
async fn import_email(state: &AppState, user_id: Uuid, email: Option<&str>, texts: &Texts) -> ApiResult<()> {
    let Some(email) = email else {
        return Ok(());
    };
    match state.store.import_email(user_id, email, state.clock.now()).await {
        Ok(()) => Ok(()),
        Err(e) if unique_violation(&e).is_some() => Ok(()),
        Err(e) => {
            tracing::error!(provider = texts.provider, error = %e, "{}", texts.email_failed);
            Err(ApiError::new(Code::Internal, texts.email_failed))
        }
    }
}

// ---- authenticate ----

pub async fn authenticate_apple(
    state: &AppState,
    token: &str,
    create: bool,
    username: &str,
) -> ApiResult<Authenticated> {
    if !apple_configured(state) {
        return Err(not_configured(&APPLE));
    }
    if token.is_empty() {
        return Err(ApiError::invalid("Apple ID token is required."));
    }
    let username = Username::parse_optional(username)?;
    let profile = social::apple::verify(&state.social, token).await.map_err(refused(&APPLE))?;
    // Nakama puts the email in the new row, so an email held by another account fails the
    // sign-up with a 500; here it is imported after, like Facebook's and Google's.
    let who = find_or_create(state, Identifier::Apple(profile.id), create, username).await?;
    if who.created {
        import_email(state, who.user_id, profile.email.as_deref(), &APPLE).await?;
    }
    Ok(who)
}

pub async fn authenticate_facebook(
    state: &AppState,
    token: &str,
    create: bool,
    username: &str,
    sync: bool,
) -> ApiResult<Authenticated> {
    if token.is_empty() {
        return Err(ApiError::invalid("Facebook access token is required."));
    }
    let username = Username::parse_optional(username)?;
    let (profile, via) = social::facebook::verify(&state.social, token).await.map_err(refused(&FACEBOOK))?;
    let new = NewProfile {
        display_name: profile.display_name.clone(),
        avatar_url: profile.avatar_url.clone(),
        ..NewProfile::default()
    };
    let who = find_or_create_with(state, Identifier::Facebook(profile.id), create, username, new).await?;
    if who.created {
        import_email(state, who.user_id, profile.email.as_deref(), &FACEBOOK).await?;
    }
    // A Limited Login token cannot list friends; Nakama's attempt would only fail.
    if sync && via == Via::Graph {
        friends::sync_facebook(state, who.user_id, token).await;
    }
    Ok(who)
}

pub async fn authenticate_facebook_instant_game(
    state: &AppState,
    signed_player_info: &str,
    create: bool,
    username: &str,
) -> ApiResult<Authenticated> {
    check_instant_game_request(state, signed_player_info)?;
    let username = Username::parse_optional(username)?;
    let player_id = social::facebook_instant::verify(instant_game_secret(state), signed_player_info)
        .map_err(|e| refusal(&INSTANT_GAME, e, Code::DataLoss, INSTANT_GAME_AUTH_REFUSED))?;
    find_or_create(state, Identifier::FacebookInstantGame(player_id), create, username).await
}

pub async fn authenticate_google(
    state: &AppState,
    token: &str,
    create: bool,
    username: &str,
) -> ApiResult<Authenticated> {
    if token.is_empty() {
        return Err(ApiError::invalid("Google access token is required."));
    }
    let username = Username::parse_optional(username)?;
    let profile = social::google::verify(&state.social, token).await.map_err(refused(&GOOGLE))?;
    let new = NewProfile {
        display_name: profile.display_name.clone(),
        avatar_url: profile.avatar_url.clone(),
        ..NewProfile::default()
    };
    let who = find_or_create_with(state, Identifier::Google(profile.id), create, username, new).await?;
    if who.created {
        import_email(state, who.user_id, profile.email.as_deref(), &GOOGLE).await?;
    } else {
        let filled = state
            .store
            .fill_empty_profile(
                who.user_id,
                profile.display_name.as_deref(),
                profile.avatar_url.as_deref(),
                state.clock.now(),
            )
            .await;
        if let Err(e) = filled {
            tracing::warn!(error = %e, "cannot fill the profile from Google");
        }
    }
    Ok(who)
}

/// The six required Game Center fields, in the order they are checked.
fn check_gamecenter(credential: &Credential<'_>) -> ApiResult<()> {
    let missing = if credential.bundle_id.is_empty() {
        "GameCenter bundle ID is required."
    } else if credential.player_id.is_empty() {
        "GameCenter player ID is required."
    } else if credential.public_key_url.is_empty() {
        "GameCenter public key URL is required."
    } else if credential.salt.is_empty() {
        "GameCenter salt is required."
    } else if credential.signature.is_empty() {
        "GameCenter signature is required."
    } else if credential.timestamp_seconds == 0 {
        "GameCenter timestamp is required."
    } else {
        return Ok(());
    };
    Err(ApiError::invalid(missing))
}

pub async fn authenticate_gamecenter(
    state: &AppState,
    credential: &Credential<'_>,
    create: bool,
    username: &str,
) -> ApiResult<Authenticated> {
    check_gamecenter(credential)?;
    let username = Username::parse_optional(username)?;
    let player_id = social::gamecenter::verify(&state.social, credential).await.map_err(refused(&GAMECENTER))?;
    find_or_create(state, Identifier::GameCenter(player_id), create, username).await
}

pub async fn authenticate_steam(
    state: &AppState,
    token: &str,
    create: bool,
    username: &str,
    sync: bool,
) -> ApiResult<Authenticated> {
    if !steam_configured(state) {
        return Err(not_configured(&STEAM));
    }
    if token.is_empty() {
        return Err(ApiError::invalid("Steam access token is required."));
    }
    let username = Username::parse_optional(username)?;
    let steam_id = social::steam::verify(&state.social, token).await.map_err(refused(&STEAM))?;
    let who = find_or_create(state, Identifier::Steam(steam_id.clone()), create, username).await?;
    if sync {
        friends::sync_steam(state, who.user_id, &steam_id).await;
    }
    Ok(who)
}

// ---- link ----

async fn link(state: &AppState, user_id: Uuid, identifier: Identifier, texts: &Texts) -> ApiResult<()> {
    set_identifier(state, user_id, identifier, None, texts.in_use, texts.link_failed).await
}

/// Facebook and Google: name and avatar only where the account has none.
async fn fill_profile(state: &AppState, user_id: Uuid, profile: &social::Profile, texts: &Texts) -> ApiResult<()> {
    state
        .store
        .fill_empty_profile(user_id, profile.display_name.as_deref(), profile.avatar_url.as_deref(), state.clock.now())
        .await
        .map_err(ApiError::internal_with(texts.link_failed))
}

pub async fn link_apple(state: &AppState, user_id: Uuid, token: &str) -> ApiResult<()> {
    if !apple_configured(state) {
        return Err(not_configured(&APPLE));
    }
    if token.is_empty() {
        return Err(ApiError::invalid("Apple ID token is required."));
    }
    let profile = social::apple::verify(&state.social, token).await.map_err(refused(&APPLE))?;
    link(state, user_id, Identifier::Apple(profile.id), &APPLE).await?;
    import_email(state, user_id, profile.email.as_deref(), &APPLE).await
}

pub async fn link_facebook(state: &AppState, user_id: Uuid, token: &str, sync: bool) -> ApiResult<()> {
    if token.is_empty() {
        return Err(ApiError::invalid("Facebook access token is required."));
    }
    let (profile, via) = social::facebook::verify(&state.social, token).await.map_err(refused(&FACEBOOK))?;
    link(state, user_id, Identifier::Facebook(profile.id.clone()), &FACEBOOK).await?;
    fill_profile(state, user_id, &profile, &FACEBOOK).await?;
    import_email(state, user_id, profile.email.as_deref(), &FACEBOOK).await?;
    if sync && via == Via::Graph {
        friends::sync_facebook(state, user_id, token).await;
    }
    Ok(())
}

pub async fn link_facebook_instant_game(state: &AppState, user_id: Uuid, signed_player_info: &str) -> ApiResult<()> {
    check_instant_game_request(state, signed_player_info)?;
    let player_id = social::facebook_instant::verify(instant_game_secret(state), signed_player_info)
        .map_err(refused(&INSTANT_GAME))?;
    link(state, user_id, Identifier::FacebookInstantGame(player_id), &INSTANT_GAME).await
}

pub async fn link_google(state: &AppState, user_id: Uuid, token: &str) -> ApiResult<()> {
    if token.is_empty() {
        return Err(ApiError::invalid("Google access token is required."));
    }
    let profile = social::google::verify(&state.social, token).await.map_err(refused(&GOOGLE))?;
    link(state, user_id, Identifier::Google(profile.id.clone()), &GOOGLE).await?;
    fill_profile(state, user_id, &profile, &GOOGLE).await?;
    import_email(state, user_id, profile.email.as_deref(), &GOOGLE).await
}

pub async fn link_gamecenter(state: &AppState, user_id: Uuid, credential: &Credential<'_>) -> ApiResult<()> {
    check_gamecenter(credential)?;
    let player_id = social::gamecenter::verify(&state.social, credential).await.map_err(refused(&GAMECENTER))?;
    link(state, user_id, Identifier::GameCenter(player_id), &GAMECENTER).await
}

pub async fn link_steam(state: &AppState, user_id: Uuid, token: &str, sync: bool) -> ApiResult<()> {
    // The token check comes before the configuration check here (link-unlink.md §3).
    if token.is_empty() {
        return Err(ApiError::invalid("Steam access token is required."));
    }
    if !steam_configured(state) {
        return Err(not_configured(&STEAM));
    }
    let steam_id = social::steam::verify(&state.social, token).await.map_err(refused(&STEAM))?;
    link(state, user_id, Identifier::Steam(steam_id.clone()), &STEAM).await?;
    if sync {
        friends::sync_steam(state, user_id, &steam_id).await;
    }
    Ok(())
}

// ---- unlink ----

/// Clears `column`: unconditionally for an empty credential (no provider call), else only
/// when it holds the id the provider verified. The last-identifier rule always holds.
async fn unlink(
    state: &AppState,
    user_id: Uuid,
    column: users::Column,
    texts: &'static Texts,
    verified: Option<Result<String, VerifyError>>,
) -> ApiResult<()> {
    let expected = match verified {
        None => None,
        Some(result) => Some(result.map_err(refused(texts))?),
    };
    unlink_column(state, user_id, column, expected.as_deref(), texts.unlink_failed).await
}

pub async fn unlink_apple(state: &AppState, user_id: Uuid, token: &str) -> ApiResult<()> {
    let verified = match token {
        "" => None,
        token => Some(social::apple::verify(&state.social, token).await.map(|p| p.id)),
    };
    unlink(state, user_id, users::Column::AppleId, &APPLE, verified).await
}

pub async fn unlink_facebook(state: &AppState, user_id: Uuid, token: &str) -> ApiResult<()> {
    let verified = match token {
        "" => None,
        token => Some(social::facebook::verify(&state.social, token).await.map(|(p, _)| p.id)),
    };
    unlink(state, user_id, users::Column::FacebookId, &FACEBOOK, verified).await
}

pub async fn unlink_facebook_instant_game(state: &AppState, user_id: Uuid, signed_player_info: &str) -> ApiResult<()> {
    let verified = match signed_player_info {
        "" => None,
        info => Some(social::facebook_instant::verify(instant_game_secret(state), info)),
    };
    unlink(state, user_id, users::Column::FacebookInstantGameId, &INSTANT_GAME, verified).await
}

pub async fn unlink_google(state: &AppState, user_id: Uuid, token: &str) -> ApiResult<()> {
    let verified = match token {
        "" => None,
        token => Some(social::google::verify(&state.social, token).await.map(|p| p.id)),
    };
    unlink(state, user_id, users::Column::GoogleId, &GOOGLE, verified).await
}

/// Verifies only when all six fields are given; otherwise clears unconditionally.
pub async fn unlink_gamecenter(state: &AppState, user_id: Uuid, credential: &Credential<'_>) -> ApiResult<()> {
    let verified = match check_gamecenter(credential) {
        Err(_) => None,
        Ok(()) => Some(social::gamecenter::verify(&state.social, credential).await),
    };
    unlink(state, user_id, users::Column::GamecenterId, &GAMECENTER, verified).await
}

pub async fn unlink_steam(state: &AppState, user_id: Uuid, token: &str) -> ApiResult<()> {
    let verified = match token {
        "" => None,
        token => Some(social::steam::verify(&state.social, token).await),
    };
    unlink(state, user_id, users::Column::SteamId, &STEAM, verified).await
}
