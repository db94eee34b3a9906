//! Friends: importing a player's Facebook or Steam friends into the friend graph
//! (social.md §7) and listing the caller's friends (account.md §5).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::users;
use uuid::Uuid;

use super::Accounts;
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::social::{self, VerifyError};
use crate::store::{EdgeCursor, FriendEdge};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("friend list fetch failed: {0}")]
    Provider(#[from] VerifyError),
    #[error("friend import failed: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// One page of `GET /v2/friend`.
pub struct FriendPage {
    pub friends: Vec<FriendEdge>,
    /// Where the next page starts, when there is one.
    pub cursor: Option<String>,
}

/// Opaque to clients: base64url of `<state>:<position>` of the last edge returned.
fn encode_cursor(cursor: EdgeCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.state, cursor.position))
}

fn decode_cursor(cursor: &str) -> Option<EdgeCursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (state, position) = text.split_once(':')?;
    Some(EdgeCursor { state: state.parse().ok()?, position: position.parse().ok()? })
}

impl Accounts {
    /// Adds the token owner's Facebook friends who have accounts here; returns how many are new.
    pub async fn import_facebook(&self, user_id: Uuid, token: &str) -> Result<usize, ImportError> {
        let ids = social::facebook::friends(&self.social, token).await?;
        self.import_friends(user_id, users::Column::FacebookId, "facebook", &ids).await
    }

    /// Adds the Steam user's friends who have accounts here; returns how many are new.
    pub async fn import_steam(&self, user_id: Uuid, steam_id: &str) -> Result<usize, ImportError> {
        let ids = social::steam::friends(&self.social, steam_id).await?;
        self.import_friends(user_id, users::Column::SteamId, "steam", &ids).await
    }

    async fn import_friends(
        &self,
        user_id: Uuid,
        column: users::Column,
        provider: &str,
        ids: &[String],
    ) -> Result<usize, ImportError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let connected = self.store.import_friends(user_id, column, provider, ids, self.clock.now()).await?;
        tracing::debug!(%user_id, provider, listed = ids.len(), new = connected.len(), "imported friends");
        Ok(connected.len())
    }

    /// `sync` on authenticate/link: a failed import never fails the login.
    pub(super) async fn sync_facebook(&self, user_id: Uuid, token: &str) {
        if let Err(e) = self.import_facebook(user_id, token).await {
            tracing::warn!(%user_id, error = %e, "Facebook friend import failed");
        }
    }

    pub(super) async fn sync_steam(&self, user_id: Uuid, steam_id: &str) {
        if let Err(e) = self.import_steam(user_id, steam_id).await {
            tracing::warn!(%user_id, error = %e, "Steam friend import failed");
        }
    }

    /// Lists the caller's edges: `limit` 1-1000 (1000 when absent), `state` 0-3 (all when
    /// absent), `cursor` from a previous page.
    pub async fn list_friends(
        &self,
        user_id: Uuid,
        limit: Option<i32>,
        edge_state: Option<i32>,
        cursor: &str,
    ) -> ApiResult<FriendPage> {
        let limit = match limit {
            None => 1000,
            Some(limit) if (1..=1000).contains(&limit) => limit as u64,
            Some(_) => return Err(ErrorKind::FriendLimit.into()),
        };
        let edge_state = match edge_state {
            None => None,
            Some(s) if (0..=3).contains(&s) => Some(s as i16),
            Some(_) => return Err(ErrorKind::FriendState.into()),
        };
        let after = match cursor {
            "" => None,
            cursor => Some(decode_cursor(cursor).ok_or(ErrorKind::FriendCursor)?),
        };
        let mut friends = self
            .store
            .list_friends(user_id, edge_state, after, limit + 1)
            .await
            .map_err(|e| Failure::ListingFriends.because(e))?;
        let cursor = if friends.len() as u64 > limit {
            friends.truncate(limit as usize);
            friends.last().map(|f| encode_cursor(EdgeCursor { state: f.edge.state, position: f.edge.position }))
        } else {
            None
        };
        Ok(FriendPage { friends, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = EdgeCursor { state: 2, position: 1_795_547_144_000_000_123 };
        assert_eq!(decode_cursor(&encode_cursor(cursor)), Some(cursor));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:1")), None);
    }
}
