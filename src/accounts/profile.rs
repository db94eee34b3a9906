//! Reading, updating and deleting an account; looking up users; ban and unban.

use entity::users;
use uuid::Uuid;

use super::validate::{ProfileUpdate, UserLookup};
use super::Accounts;
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::sessions::EndCause;
use crate::store::{unique_violation, AccountUpdate};

/// An account with its devices, as `GET /v2/account` shows it.
pub struct Account {
    pub user: users::Model,
    pub devices: Vec<String>,
}

impl Accounts {
    /// The account `user_id`, or `AccountNotFound`; a database error answers `failed`.
    pub async fn existing_user(&self, user_id: Uuid, failed: Failure) -> ApiResult<users::Model> {
        self.store
            .find_user(user_id)
            .await
            .map_err(|e| failed.because(e))?
            .ok_or_else(|| ErrorKind::AccountNotFound.into())
    }

    pub async fn get_account(&self, user_id: Uuid) -> ApiResult<Account> {
        const FAILED: Failure = Failure::RetrievingAccount;
        let user = self.existing_user(user_id, FAILED).await?;
        let devices = self.store.devices_of(user_id).await.map_err(|e| FAILED.because(e))?;
        Ok(Account { user, devices })
    }

    pub async fn update_account(&self, user_id: Uuid, update: AccountUpdate) -> ApiResult<()> {
        const FAILED: Failure = Failure::UpdatingAccount;
        let update = ProfileUpdate::parse(update)?;
        // Column sizes are enforced here so SQLite (which does not enforce them) and
        // PostgreSQL answer alike: nothing changes and the client gets Nakama's 500.
        let AccountUpdate { display_name, avatar_url, lang_tag, location, timezone, .. } = update.as_update();
        let too_long = |v: &Option<String>, max: usize| v.as_ref().is_some_and(|v| v.len() > max);
        if too_long(display_name, 255)
            || too_long(avatar_url, 512)
            || too_long(location, 255)
            || too_long(timezone, 255)
            || too_long(lang_tag, 18)
            || lang_tag.as_deref() == Some("")
        {
            return Err(FAILED.into());
        }
        let Some(user) = self.store.find_user(user_id).await.map_err(|e| FAILED.because(e))? else {
            return Ok(());
        };
        match self.store.update_account(&user, update.into_inner(), self.clock.now()).await {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(ErrorKind::UsernameTakenOnUpdate.into()),
            Err(e) => Err(FAILED.because(e)),
        }
    }

    /// Deletes the account (idempotent), then voids its tokens and ends its sessions.
    pub async fn delete_account(&self, user_id: Uuid) -> ApiResult<()> {
        let deleted = self.store.delete_account(user_id).await.map_err(|e| Failure::DeletingAccount.because(e))?;
        if deleted {
            self.sessions.invalidate(user_id, EndCause::Delete, None).await?;
        }
        Ok(())
    }

    /// `GET /v2/user` (`UserLookup` for the rules); unknown values are skipped.
    pub async fn get_users(
        &self,
        ids: &[String],
        usernames: Vec<String>,
        facebook_ids: Vec<String>,
    ) -> ApiResult<Vec<users::Model>> {
        let lookup = UserLookup::parse(ids, usernames, facebook_ids)?;
        self.store
            .find_users(&lookup.ids, &lookup.usernames, &lookup.facebook_ids)
            .await
            .map_err(|e| Failure::RetrievingAccounts.because(e))
    }

    /// Bans the account: refused logins and refreshes, every older token void, sessions ended.
    pub async fn ban(&self, user_id: Uuid) -> ApiResult<bool> {
        let now = self.clock.now();
        let found = self.store.set_disable_time(user_id, now).await.map_err(|e| Failure::BanningAccount.because(e))?;
        if found {
            self.sessions.invalidate(user_id, EndCause::Ban, None).await?;
        }
        Ok(found)
    }

    /// Lifts a ban; tokens voided by the ban stay void.
    pub async fn unban(&self, user_id: Uuid) -> ApiResult<bool> {
        self.store.set_disable_time(user_id, 0).await.map_err(|e| Failure::UnbanningAccount.because(e))
    }
}
