//! Who may use the console and what they did there (console.md §2): the configured admin's
//! credentials, checked in constant time under the lockout, and the audit trail.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::lockout::{Finished, Lockout, LockoutKey};
use super::Accounts;
use crate::config::ConsoleConfig;
use crate::error::{ApiError, ErrorKind, Failure};
use crate::store::AuditEntry;

fn digest(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// Constant-time comparison with the configured admin: digests first, so that neither
/// the content nor the length of the secrets shows in the time taken.
fn is_admin(config: &ConsoleConfig, username: &str, password: &str) -> bool {
    let user_ok = digest(username.as_bytes()).ct_eq(&digest(config.username.as_bytes()));
    let password_ok = digest(password.as_bytes()).ct_eq(&digest(config.password.as_bytes()));
    (user_ok & password_ok).into()
}

/// Failed staff logins audited in the current minute, and those counted past the cap
/// (`console.audit_failed_logins_per_minute`), so a password spray cannot fill the table.
#[derive(Default)]
pub struct AuditCap {
    minute: AtomicI64,
    written: AtomicU32,
    over: AtomicU64,
}

impl AuditCap {
    /// Starts the minute of `now` if it is a new one; answers how many were counted past
    /// the cap in the minute that ended (to be written as one row).
    fn roll(&self, now: i64) -> u64 {
        let minute = now.div_euclid(60);
        if self.minute.swap(minute, Ordering::SeqCst) == minute {
            return 0;
        }
        self.written.store(0, Ordering::SeqCst);
        self.over.swap(0, Ordering::SeqCst)
    }

    /// Whether one more failed login of this minute gets its own row.
    fn admit(&self, cap: u32) -> bool {
        if self.written.fetch_add(1, Ordering::SeqCst) < cap {
            return true;
        }
        self.over.fetch_add(1, Ordering::SeqCst);
        false
    }
}

/// The longest staff username the lockout counts; longer ones cannot be the admin's.
const MAX_USERNAME: usize = 128;

impl Accounts {
    /// Checks a username and password with the lockout of console.md §2 (the same one client
    /// logins use): an attempt is reserved before the comparison, a match resets the count.
    pub async fn check_staff(&self, username: &str, password: &str) -> Result<(), ApiError> {
        // No admin name is that long or holds a control character (they would not fit the
        // lockout's key column, or PostgreSQL's text): a plain mismatch, still audited.
        if username.len() > MAX_USERNAME || username.chars().any(char::is_control) {
            return Err(ErrorKind::InvalidCredentials.into());
        }
        let console = &self.console;
        let lockout = Lockout { limit: console.max_failed_logins, window_sec: console.failed_login_window_sec };
        let check = async { Ok(is_admin(console, username, password)) };
        let (now, key) = (self.clock.now(), LockoutKey::Staff(username));
        if lockout.check(&self.store, now, key, Failure::CheckingConsoleCredentials, check).await? == Finished::Mismatch
        {
            return Err(ErrorKind::InvalidCredentials.into());
        }
        Ok(())
    }

    /// Stores one audit row; a failure to store is logged, never shown to staff. Failed
    /// logins past the minute's cap are counted instead, and written as one row once the
    /// minute is over.
    pub async fn audit(&self, username: &str, address: &str, action: &str, target: &str, result: &str) {
        if action == "login" && result != "ok" {
            self.flush_audit_cap().await;
            if !self.audit_cap.admit(self.console.audit_failed_logins_per_minute) {
                return;
            }
        }
        self.write_audit(username, address, action, target, result).await;
    }

    /// Writes the count of failed logins past the cap in a minute that has ended (the
    /// sweep calls it too, so a spray that stops is still accounted for).
    pub async fn flush_audit_cap(&self) {
        let over = self.audit_cap.roll(self.clock.now());
        if over > 0 {
            let cap = self.console.audit_failed_logins_per_minute;
            let result =
                format!("{over} more failed logins in one minute, past the cap of {cap}, not listed one by one");
            self.write_audit("", "", "login", "", &result).await;
        }
    }

    async fn write_audit(&self, username: &str, address: &str, action: &str, target: &str, result: &str) {
        let entry = AuditEntry { time: self.clock.now(), username, action, target, client_address: address, result };
        if let Err(e) = self.store.insert_audit(entry).await {
            tracing::error!(error = %e, action, target, "cannot write the console audit trail");
        }
    }
}
