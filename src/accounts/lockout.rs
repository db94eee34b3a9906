//! The password lockout shared by client logins (per account, difference 5) and console
//! logins (per staff username): at most `limit` passwords are checked per key and window,
//! because each check first reserves an attempt atomically in the store.

use std::future::Future;

use uuid::Uuid;

use crate::error::{ApiResult, ErrorKind, Failure};
use crate::store::Store;

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
    /// `key`; otherwise `TryAgainLater` (429) without checking. A match clears the count,
    /// a mismatch keeps the attempt counted. `failed` is the message of a store error.
    pub async fn check<F>(
        self,
        store: &Store,
        now: i64,
        key: LockoutKey<'_>,
        failed: Failure,
        check: F,
    ) -> ApiResult<bool>
    where
        F: Future<Output = ApiResult<bool>>,
    {
        if self.limit == 0 {
            return check.await;
        }
        let key = key.text();
        let reserved =
            store.reserve_login_attempt(&key, now, self.window_sec, self.limit).await.map_err(|e| failed.because(e))?;
        if !reserved {
            return Err(ErrorKind::TryAgainLater.into());
        }
        let matched = check.await?;
        if matched {
            if let Err(e) = store.clear_login_attempts(&key).await {
                tracing::warn!(error = %e, "cannot clear counted login attempts");
            }
        }
        Ok(matched)
    }
}

/// Forgets windows older than the longest of the two lockout windows.
pub async fn sweep(store: &Store, now: i64, client: Lockout, console: Lockout) {
    let window = client.window_sec.max(console.window_sec);
    if let Err(e) = store.sweep_login_attempts(now - window).await {
        tracing::warn!(error = %e, "login attempt sweep failed");
    }
}
