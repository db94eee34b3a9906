//! Parse, don't validate: request strings become these types once, at the edge, with the
//! spec's messages for every way they can be wrong (authenticate.md §3-4, link-unlink.md §3).

use rand::Rng;
use uuid::Uuid;

use crate::error::{ApiResult, ErrorKind};
use crate::store::AccountUpdate;

/// ASCII control characters and the whitespace Nakama refuses in identifiers.
fn has_control_or_space(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f || b == b' ')
}

/// ASCII control characters (0x00-0x1F, 0x7F).
pub fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn parse(id: &str) -> ApiResult<Self> {
        if id.is_empty() {
            return Err(ErrorKind::DeviceIdRequired.into());
        }
        if has_control_or_space(id) {
            return Err(ErrorKind::DeviceIdCharacters.into());
        }
        if !(10..=128).contains(&id.len()) {
            return Err(ErrorKind::DeviceIdLength.into());
        }
        Ok(Self(id.to_string()))
    }
    /// `unlink/device` checks no format (a device that cannot exist is just not found),
    /// but a control character cannot even be looked up on PostgreSQL.
    pub fn parse_for_unlink(id: &str) -> ApiResult<Self> {
        if id.is_empty() {
            return Err(ErrorKind::DeviceIdMissing.into());
        }
        if has_control(id) {
            return Err(ErrorKind::DeviceIdCharacters.into());
        }
        Ok(Self(id.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomId(String);

impl CustomId {
    /// The authenticate endpoint's wording.
    pub fn parse(id: &str) -> ApiResult<Self> {
        if id.is_empty() {
            return Err(ErrorKind::CustomIdRequired.into());
        }
        if has_control_or_space(id) {
            return Err(ErrorKind::CustomIdCharacters.into());
        }
        if !(6..=128).contains(&id.len()) {
            return Err(ErrorKind::CustomIdLength.into());
        }
        Ok(Self(id.to_string()))
    }
    /// The link endpoint words the same rules differently.
    pub fn parse_for_link(id: &str) -> ApiResult<Self> {
        if id.is_empty() {
            return Err(ErrorKind::CustomIdRequired.into());
        }
        if has_control_or_space(id) {
            return Err(ErrorKind::LinkCustomIdCharacters.into());
        }
        if !(6..=128).contains(&id.len()) {
            return Err(ErrorKind::LinkCustomIdLength.into());
        }
        Ok(Self(id.to_string()))
    }
    /// `unlink/custom`: empty clears whatever is set; a value is compared as given.
    pub fn parse_for_unlink(id: &str) -> ApiResult<Option<Self>> {
        if has_control(id) {
            return Err(ErrorKind::LinkCustomIdCharacters.into());
        }
        Ok((!id.is_empty()).then(|| Self(id.to_string())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// `^.+@.+\..+$` without a regex engine: some `@` after the first character, then some
/// `.` with at least one character on each side of it.
fn looks_like_email(email: &str) -> bool {
    let chars: Vec<char> = email.chars().collect();
    let Some(at) = chars.iter().skip(1).position(|c| *c == '@').map(|p| p + 1) else {
        return false;
    };
    chars.iter().enumerate().any(|(i, c)| *c == '.' && i > at + 1 && i + 1 < chars.len())
}

/// A lower-cased, well-formed email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
    /// The email checks of `link/email` without a password (the console sets one alone).
    pub fn parse(email: &str) -> ApiResult<Self> {
        if email.is_empty() {
            return Err(ErrorKind::EmailRequired.into());
        }
        check_email_shape(email)?;
        Ok(Email(email.to_lowercase()))
    }

    /// `unlink/email`: empty clears whatever is set; a value is lower-cased and compared.
    pub fn parse_for_unlink(email: &str) -> ApiResult<Option<Self>> {
        if has_control(email) {
            return Err(ErrorKind::EmailCharacters.into());
        }
        Ok((!email.is_empty()).then(|| Email(email.to_lowercase())))
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Never printed, not even in a debug log.
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

const PASSWORD_MAX: usize = 1024;

impl Password {
    fn check_max(password: &str) -> ApiResult<()> {
        if password.len() > PASSWORD_MAX {
            return Err(ErrorKind::PasswordTooLong.into());
        }
        Ok(())
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A non-empty email's checks in authenticate.md's order: characters, format, length.
fn check_email_shape(email: &str) -> ApiResult<()> {
    if has_control_or_space(email) {
        return Err(ErrorKind::EmailCharacters.into());
    }
    if !looks_like_email(email) {
        return Err(ErrorKind::EmailFormat.into());
    }
    if !(10..=255).contains(&email.len()) {
        return Err(ErrorKind::EmailLength.into());
    }
    Ok(())
}

fn too_short(password: &str) -> bool {
    password.len() < 8
}

/// What an email authenticate request asks for, after the checks of authenticate.md §4.
pub enum EmailLogin {
    /// Mode A: the email is the identifier.
    Email { email: Email, password: Password, username: Option<Username> },
    /// Mode B: no email, log in by username (never creates).
    Username { username: Username, password: Password },
}

impl EmailLogin {
    pub fn parse(email: &str, password: &str, username: &str) -> ApiResult<Self> {
        if !email.is_empty() {
            check_email_shape(email)?;
        }
        if too_short(password) {
            return Err(ErrorKind::PasswordTooShort.into());
        }
        Password::check_max(password)?;
        if email.is_empty() && username.is_empty() {
            return Err(ErrorKind::UsernameOrEmailRequired.into());
        }
        let username = Username::parse_optional(username)?;
        let password = Password(password.to_string());
        Ok(match (email.is_empty(), username) {
            (true, Some(username)) => EmailLogin::Username { username, password },
            (_, username) => EmailLogin::Email { email: Email(email.to_lowercase()), password, username },
        })
    }
}

/// The checks of `link/email` (link-unlink.md §3.1), in their own order.
pub fn parse_email_link(email: &str, password: &str) -> ApiResult<(Email, Password)> {
    if email.is_empty() || password.is_empty() {
        return Err(ErrorKind::EmailAndPasswordRequired.into());
    }
    if has_control_or_space(email) {
        return Err(ErrorKind::EmailCharacters.into());
    }
    if too_short(password) {
        return Err(ErrorKind::PasswordTooShort.into());
    }
    Password::check_max(password)?;
    if !looks_like_email(email) {
        return Err(ErrorKind::EmailFormat.into());
    }
    if !(10..=255).contains(&email.len()) {
        return Err(ErrorKind::EmailLength.into());
    }
    Ok((Email(email.to_lowercase()), Password(password.to_string())))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// The `username` query parameter of authenticate: empty means "generate one".
    pub fn parse_optional(username: &str) -> ApiResult<Option<Self>> {
        if username.is_empty() {
            return Ok(None);
        }
        if has_control(username) || username.contains("[]") {
            return Err(ErrorKind::UsernameCharacters.into());
        }
        if username.len() > 128 {
            return Err(ErrorKind::UsernameLength.into());
        }
        Ok(Some(Self(username.to_string())))
    }

    /// `PUT /v2/account` checks length first (account.md §2).
    pub fn parse_for_update(username: &str) -> ApiResult<Self> {
        if username.is_empty() || username.len() > 128 {
            return Err(ErrorKind::UsernameLength.into());
        }
        if has_control(username) || username.contains("[]") {
            return Err(ErrorKind::UsernameCharacters.into());
        }
        Ok(Self(username.to_string()))
    }

    /// Ten letters from `a-zA-Z`, as Nakama generates them.
    pub fn generate() -> Self {
        const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut rng = rand::thread_rng();
        Self((0..10).map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Client text the spec gives no rules of its own. It may hold anything but an ASCII
/// control character: PostgreSQL cannot store NUL (and answered 500), SQLite would store
/// it, so both refuse every control the same way, each field with its own message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextField {
    DisplayName,
    AvatarUrl,
    LangTag,
    Location,
    Timezone,
    FacebookId,
    ConsoleFilter,
}

impl TextField {
    fn refusal(self) -> ErrorKind {
        match self {
            TextField::DisplayName => ErrorKind::DisplayNameCharacters,
            TextField::AvatarUrl => ErrorKind::AvatarUrlCharacters,
            TextField::LangTag => ErrorKind::LangTagCharacters,
            TextField::Location => ErrorKind::LocationCharacters,
            TextField::Timezone => ErrorKind::TimezoneCharacters,
            TextField::FacebookId => ErrorKind::FacebookIdCharacters,
            TextField::ConsoleFilter => ErrorKind::FilterCharacters,
        }
    }
}

/// Text of a `TextField`, without control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainText(String);

impl PlainText {
    pub fn parse(field: TextField, text: &str) -> ApiResult<Self> {
        if has_control(text) {
            return Err(field.refusal().into());
        }
        Ok(Self(text.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The fields of `PUT /v2/account` (and the console's update), in account.md §2's order:
/// username, something to update, then each text field and the metadata. Column sizes
/// are left to the update itself, which answers Nakama's 500.
#[derive(Clone, Debug)]
pub struct ProfileUpdate(AccountUpdate);

impl ProfileUpdate {
    pub fn parse(update: AccountUpdate) -> ApiResult<Self> {
        if let Some(username) = &update.username {
            Username::parse_for_update(username)?;
        }
        if update.is_empty() {
            return Err(ErrorKind::NoFieldsToUpdate.into());
        }
        let AccountUpdate { display_name, avatar_url, lang_tag, location, timezone, metadata, .. } = &update;
        let fields = [
            (TextField::DisplayName, display_name),
            (TextField::AvatarUrl, avatar_url),
            (TextField::LangTag, lang_tag),
            (TextField::Location, location),
            (TextField::Timezone, timezone),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                PlainText::parse(field, value)?;
            }
        }
        if let Some(metadata) = metadata {
            let object = serde_json::from_str::<serde_json::Value>(metadata).is_ok_and(|v| v.is_object());
            if !object {
                return Err(ErrorKind::MetadataNotObject.into());
            }
        }
        Ok(Self(update))
    }
    pub fn as_update(&self) -> &AccountUpdate {
        &self.0
    }
    pub fn into_inner(self) -> AccountUpdate {
        self.0
    }
}

/// What `GET /v2/user` looks up (account.md §4): ids must be UUIDs; usernames and Facebook
/// ids are compared as given, so only control characters are refused.
#[derive(Clone, Debug, Default)]
pub struct UserLookup {
    pub ids: Vec<Uuid>,
    pub usernames: Vec<String>,
    pub facebook_ids: Vec<String>,
}

impl UserLookup {
    pub fn parse(ids: &[String], usernames: Vec<String>, facebook_ids: Vec<String>) -> ApiResult<Self> {
        let mut parsed = Vec::with_capacity(ids.len());
        for id in ids {
            let uuid = Uuid::parse_str(id)
                .ok()
                .filter(|_| id.len() == 36)
                .ok_or_else(|| ErrorKind::NotSystemId { id: id.clone() })?;
            parsed.push(uuid);
        }
        if usernames.iter().any(|u| has_control(u)) {
            return Err(ErrorKind::UsernameCharacters.into());
        }
        for id in &facebook_ids {
            PlainText::parse(TextField::FacebookId, id)?;
        }
        Ok(Self { ids: parsed, usernames, facebook_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_pattern_matches_nakama_regex() {
        assert!(looks_like_email("a@b.cd"));
        assert!(looks_like_email("a@b.c"));
        assert!(looks_like_email("a.b@c@d.e"));
        assert!(!looks_like_email("@b.cd"));
        assert!(!looks_like_email("a@.cd"));
        assert!(!looks_like_email("a@bcd."));
        assert!(!looks_like_email("abcdef"));
    }

    #[test]
    fn generated_usernames_are_ten_ascii_letters() {
        for _ in 0..100 {
            let u = Username::generate();
            assert_eq!(u.as_str().len(), 10);
            assert!(u.as_str().chars().all(|c| c.is_ascii_alphabetic()));
        }
    }

    #[test]
    fn username_rules() {
        assert!(Username::parse_optional("has space").unwrap().is_some());
        assert!(Username::parse_optional("a[b]").is_ok());
        assert!(Username::parse_optional("a[]b").is_err());
        assert!(Username::parse_optional(&"é".repeat(64)).is_ok());
        assert!(Username::parse_optional(&"é".repeat(65)).is_err());
    }
}
