//! The password lockout shared by client logins (per account, difference 5) and console
//! logins (per staff username): at most `limit` passwords are checked per key and window,
//! because each check first reserves an attempt atomically in the store.

use std::future::Future;

use uuid::Uuid;

use crate::error::{ApiResult, ErrorKind, Failure};
use crate::store::{PasswordUpgrade, Store};

/// What a password check found, as the lockout needs it: a match, and the imported hash
/// to replace when the stored one was bcrypt.
#[derive(Debug)]
pub struct Checked {
    pub matched: bool,
    pub upgrade: Option<PasswordUpgrade>,
}

impl From<bool> for Checked {
    fn from(matched: bool) -> Self {
        Checked { matched, upgrade: None }
    }
}

/// How a checked login ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    Mismatch,
    Match,
    /// Matched, and the imported hash was replaced by argon2id.
    MatchUpgraded,
}

/// Whose passwords are counted together.
pub enum LockoutKey<'a> {
    Account(Uuid),
    Staff(&'a str),
}

impl LockoutKey<'_> {
    fn text(&self) -> String {
        match self {
            LockoutKey::Account(id) => format!("user:{id}"),
            LockoutKey::Staff(name) => format!("console:{name}"),
        }
    }
}

/// `limit` attempts per `window_sec`; a limit of 0 turns the lockout off.
#[derive(Clone, Copy, Debug)]
pub struct Lockout {
    pub limit: u32,
    pub window_sec: i64,
}

impl Lockout {
    /// Runs `check` (does the password match?) only when an attempt could be reserved for
    /// `key`; otherwise `TryAgainLater` (429) without checking. A match clears the count
    /// and stores the upgrade of an imported hash, in one transaction; a mismatch keeps
    /// the attempt counted. `failed` is the message of a store error.
    pub async fn check<F, C>(
        self,
        store: &Store,
        now: i64,
        key: LockoutKey<'_>,
        failed: Failure,
        check: F,
    ) -> ApiResult<Finished>
    where
        F: Future<Output = ApiResult<C>>,
        C: Into<Checked>,
    {
        let key = (self.limit > 0).then(|| key.text());
        if let Some(key) = &key {
            let reserved = store
                .reserve_login_attempt(key, now, self.window_sec, self.limit)
                .await
                .map_err(|e| failed.because(e))?;
            if !reserved {
                return Err(ErrorKind::TryAgainLater.into());
            }
        }
        let checked: Checked = check.await?.into();
        if !checked.matched {
            return Ok(Finished::Mismatch);
        }
        if key.is_none() && checked.upgrade.is_none() {
            return Ok(Finished::Match);
        }
        // The login stands either way: a failure here leaves a count to expire, or a
        // bcrypt hash that the next login upgrades.
        match store.finish_password_login(key.as_deref(), checked.upgrade.as_ref()).await {
            Ok(true) => Ok(Finished::MatchUpgraded),
            Ok(false) => Ok(Finished::Match),
            Err(e) => {
                tracing::warn!(error = %e, "cannot finish a password login (clear its attempts, upgrade its hash)");
                Ok(Finished::Match)
            }
        }
    }
}

/// Forgets windows older than the longest of the two lockout windows.
pub async fn sweep(store: &Store, now: i64, client: Lockout, console: Lockout) {
    let window = client.window_sec.max(console.window_sec);
    if let Err(e) = store.sweep_login_attempts(now - window).await {
        tracing::warn!(error = %e, "login attempt sweep failed");
    }
}
