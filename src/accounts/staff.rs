//! Operations only live-ops staff have: finding accounts from what a player says, and
//! setting an email or password directly. Everything shared with the client API (update,
//! delete, ban, unlink) stays in its own module and is called from the console as is.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::users;
use uuid::Uuid;

use super::login_kind::{Credential, LoginKind, Proof};
use super::validate::{has_control, parse_email_link, Email, PlainText, TextField};
use super::Accounts;
use crate::error::{ApiResult, ErrorKind, Failure};
use crate::store::{unique_violation, AccountFilter, AfterCursor, Identifier};

pub const PAGE_SIZE: u64 = 50;

/// One page of a console account list.
pub struct AccountPage {
    pub users: Vec<users::Model>,
    pub total_count: u64,
    /// Empty on the last page.
    pub next_cursor: String,
}

/// The list filter of console.md §3: empty = all, newest first; a UUID = that account; a value
/// with `%` = a username pattern in which each `%` stands for any text and every other
/// character for itself (`_` and `\` included); anything else = that exact username,
/// device id, custom id or email. No control characters.
pub fn parse_filter(filter: &str) -> ApiResult<AccountFilter> {
    let filter = PlainText::parse(TextField::ConsoleFilter, filter)?.into_inner();
    Ok(if filter.is_empty() {
        AccountFilter::All
    } else if let Some(id) = Uuid::parse_str(&filter).ok().filter(|_| filter.len() == 36) {
        AccountFilter::Id(id)
    } else if filter.contains('%') {
        AccountFilter::UsernamePattern(filter.split('%').map(str::to_string).collect())
    } else {
        AccountFilter::Exact(filter)
    })
}

/// The opaque `next_cursor` of a console account page: base64url of `i:<id>`,
/// `u:<username>` or `n:<creation time>:<id>`.
pub fn encode_cursor(after: &AfterCursor) -> String {
    let text = match after {
        AfterCursor::Start => return String::new(),
        AfterCursor::Id(id) => format!("i:{id}"),
        AfterCursor::Username(name) => format!("u:{name}"),
        AfterCursor::Newest(time, id) => format!("n:{time}:{id}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// Reads a `cursor` parameter back; `None` for anything `encode_cursor` did not write.
pub fn decode_cursor(cursor: &str) -> Option<AfterCursor> {
    if cursor.is_empty() {
        return Some(AfterCursor::Start);
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    match text.split_once(':')? {
        ("i", id) => Uuid::parse_str(id).ok().map(AfterCursor::Id),
        ("u", name) if !has_control(name) => Some(AfterCursor::Username(name.to_string())),
        ("n", rest) => {
            let (time, id) = rest.split_once(':')?;
            Some(AfterCursor::Newest(time.parse().ok()?, Uuid::parse_str(id).ok()?))
        }
        _ => None,
    }
}

impl Accounts {
    pub async fn list_accounts(&self, filter: &str, cursor: &str) -> ApiResult<AccountPage> {
        const FAILED: Failure = Failure::ListingUsers;
        let filter = parse_filter(filter)?;
        let after = decode_cursor(cursor).ok_or(ErrorKind::ConsoleCursor)?;
        let mut users = self.store.list_users(&filter, &after, PAGE_SIZE + 1).await.map_err(|e| FAILED.because(e))?;
        let more = users.len() as u64 > PAGE_SIZE;
        users.truncate(PAGE_SIZE as usize);
        let next_cursor = match (more, users.last()) {
            (true, Some(last)) => encode_cursor(&match filter {
                AccountFilter::All => AfterCursor::Newest(last.create_time, last.id),
                AccountFilter::UsernamePattern(_) => AfterCursor::Username(last.username.clone()),
                _ => AfterCursor::Id(last.id),
            }),
            _ => String::new(),
        };
        let total_count = match filter {
            AccountFilter::All | AccountFilter::UsernamePattern(_) => {
                self.store.count_users(&filter).await.map_err(|e| FAILED.because(e))?
            }
            _ => users.len() as u64,
        };
        Ok(AccountPage { users, total_count, next_cursor })
    }

    /// Sets the account's email (same checks as `link/email`), keeping its password unless a
    /// new one is given.
    pub async fn set_email(&self, user_id: Uuid, email: &str, password: Option<&str>) -> ApiResult<()> {
        const FAILED: Failure = Failure::Linking(LoginKind::Email);
        let (email, hash) = match password {
            Some(password) => {
                let (email, password) = parse_email_link(email, password)?;
                (email, Some(self.hash_password(password, FAILED).await?))
            }
            None => (Email::parse(email)?, None),
        };
        match self.store.set_identifier(user_id, &Identifier::Email(email.into_inner()), hash, self.clock.now()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ErrorKind::AccountNotFound.into()),
            Err(e) if unique_violation(&e).is_some() => Err(ErrorKind::IdentifierInUse(LoginKind::Email).into()),
            Err(e) => Err(FAILED.because(e)),
        }
    }

    /// Sets a new password (8 to 1024 bytes) on an account that has an email.
    pub async fn set_password(&self, user_id: Uuid, password: &str) -> ApiResult<()> {
        const FAILED: Failure = Failure::UpdatingPassword;
        let user = self.existing_user(user_id, FAILED).await?;
        let Some(email) = user.email.filter(|e| !e.is_empty()) else {
            return Err(ErrorKind::PasswordWithoutEmail.into());
        };
        let (email, password) = parse_email_link(&email, password)?;
        let hash = self.hash_password(password, FAILED).await?;
        self.store
            .set_identifier(user_id, &Identifier::Email(email.into_inner()), Some(hash), self.clock.now())
            .await
            .map_err(|e| FAILED.because(e))?;
        Ok(())
    }

    /// Removes one login method of the account (`/v2/console/account/{id}/unlink/{kind}`),
    /// whatever its value, under the same last-identifier rule as
    /// the client API: an empty credential clears without a provider call. `device_id` is
    /// needed for `device` only.
    pub async fn unlink_kind(&self, user_id: Uuid, kind: LoginKind, device_id: &str) -> ApiResult<()> {
        let proof = match kind {
            LoginKind::Device => Proof::Text(device_id),
            _ => Proof::Text(""),
        };
        self.unlink(user_id, &Credential { kind, proof }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_into_their_kinds() {
        assert_eq!(parse_filter("").unwrap(), AccountFilter::All);
        let id = "7d3c3f4e-0b8a-4d4c-9a7e-2f0c1b2a3d4e";
        assert_eq!(parse_filter(id).unwrap(), AccountFilter::Id(Uuid::parse_str(id).unwrap()));
        assert_eq!(parse_filter(r"a_c\").unwrap(), AccountFilter::Exact(r"a_c\".into()));
        let pieces = |p: &[&str]| AccountFilter::UsernamePattern(p.iter().map(|s| s.to_string()).collect());
        assert_eq!(parse_filter("player_%").unwrap(), pieces(&["player_", ""]));
        assert_eq!(parse_filter(r"%a%%\").unwrap(), pieces(&["", "a", "", r"\"]));
        for bad in ["a\u{0}b", "\u{1}%", "x\u{7f}"] {
            let error = parse_filter(bad).unwrap_err();
            assert_eq!(error.message, "Filter invalid, no control characters allowed.");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_control_characters() {
        let after = AfterCursor::Username(r"ends\".into());
        assert_eq!(decode_cursor(&encode_cursor(&after)), Some(after));
        assert_eq!(decode_cursor(&encode_cursor(&AfterCursor::Username("a\u{0}b".into()))), None);
        assert_eq!(decode_cursor(""), Some(AfterCursor::Start));
        let newest = AfterCursor::Newest(1_795_547_144, Uuid::nil());
        assert_eq!(decode_cursor(&encode_cursor(&newest)), Some(newest));
        for bad in ["n:soon:00000000-0000-0000-0000-000000000000", "n:12", "n:12:not-a-uuid"] {
            assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(bad)), None, "{bad}");
        }
    }
}
