//! The error kinds of the API: each with Nakama's exact message and one gRPC code, in one
//! table (`ErrorKind::code`), and the HTTP status of each code. `http::error` renders them.

use std::borrow::Cow;
use std::fmt::Display;

use crate::accounts::LoginKind;

/// gRPC status codes used by the client API (http-conventions.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidArgument = 3,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Unimplemented = 12,
    Internal = 13,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    pub fn http_status(self) -> u16 {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => 400,
            Code::NotFound => 404,
            Code::AlreadyExists => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Internal | Code::DataLoss => 500,
            Code::Unauthenticated => 401,
        }
    }
}

/// Every answer the API can refuse with, grouped by gRPC code (the groups of `code`).
/// The message is what the client sees, word for word as Nakama writes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    // ---- 3 InvalidArgument: request bodies and query strings (http-conventions.md §3-4)
    /// The body could not be read off the connection (the transport's own text).
    #[error("{0}")]
    BodyUnreadable(String),
    #[error("http: request body too large")]
    BodyTooLarge,
    #[error("proto: syntax error (line 1:{column}): unexpected token {token}")]
    BodyNotObject { column: usize, token: String },
    /// The JSON decoder's own text.
    #[error("proto: {0}")]
    BodySyntax(String),
    #[error("too many values for field \"{field}\": {}", .values.join(", "))]
    QueryRepeated { field: String, values: Vec<String> },
    #[error("parsing field \"{field}\": strconv.ParseBool: parsing \"{value}\": invalid syntax")]
    QueryNotBool { field: String, value: String },
    #[error("parsing field \"{field}\": strconv.ParseInt: parsing \"{value}\": invalid syntax")]
    QueryNotInt { field: String, value: String },
    #[error("invalid URL escape \"{escape}\"")]
    QueryEscape { escape: String },
    #[error("invalid UTF-8 in query string")]
    QueryUtf8,

    // ---- 3 InvalidArgument: identifiers and credentials (authenticate.md, link-unlink.md)
    #[error("Device ID is required.")]
    DeviceIdRequired,
    /// `unlink/device`'s wording of "required".
    #[error("A device ID must be supplied.")]
    DeviceIdMissing,
    #[error("Device ID invalid, no spaces or control characters allowed.")]
    DeviceIdCharacters,
    #[error("Device ID invalid, must be 10-128 bytes.")]
    DeviceIdLength,
    #[error("Custom ID is required.")]
    CustomIdRequired,
    #[error("Custom ID invalid, no spaces or control characters allowed.")]
    CustomIdCharacters,
    #[error("Custom ID invalid, must be 6-128 bytes.")]
    CustomIdLength,
    /// The link and unlink endpoints word the custom ID rules differently.
    #[error("Invalid custom ID, no spaces or control characters allowed.")]
    LinkCustomIdCharacters,
    #[error("Invalid custom ID, must be 6-128 bytes.")]
    LinkCustomIdLength,
    #[error("Email address is required.")]
    EmailRequired,
    #[error("Email address and password is required.")]
    EmailAndPasswordRequired,
    #[error("Invalid email address, no spaces or control characters allowed.")]
    EmailCharacters,
    #[error("Invalid email address format.")]
    EmailFormat,
    #[error("Invalid email address, must be 10-255 bytes.")]
    EmailLength,
    #[error("Password must be at least 8 characters long.")]
    PasswordTooShort,
    #[error("Password must be at most 1024 bytes.")]
    PasswordTooLong,
    #[error("Username is required when email address is not supplied.")]
    UsernameOrEmailRequired,
    #[error("Username invalid, no spaces or control characters allowed.")]
    UsernameCharacters,
    #[error("Username invalid, must be 1-128 bytes.")]
    UsernameLength,
    #[error("GameCenter bundle ID is required.")]
    GameCenterBundleIdRequired,
    #[error("GameCenter player ID is required.")]
    GameCenterPlayerIdRequired,
    #[error("GameCenter public key URL is required.")]
    GameCenterPublicKeyUrlRequired,
    #[error("GameCenter salt is required.")]
    GameCenterSaltRequired,
    #[error("GameCenter signature is required.")]
    GameCenterSignatureRequired,
    #[error("GameCenter timestamp is required.")]
    GameCenterTimestampRequired,
    /// Only over gRPC: an `AuthenticateGameCenter` request without its `account`.
    #[error("GameCenter access credentials are required.")]
    GameCenterCredentialsRequired,

    /// A provider's credential left empty (the kinds' table has the text).
    #[error("{}", .0.texts().required)]
    CredentialRequired(LoginKind),

    // ---- 3 InvalidArgument: profiles, users, friends, sessions (account.md, session.md)
    #[error("No fields to update.")]
    NoFieldsToUpdate,
    #[error("Display name invalid, no control characters allowed.")]
    DisplayNameCharacters,
    #[error("Avatar URL invalid, no control characters allowed.")]
    AvatarUrlCharacters,
    #[error("Lang tag invalid, no control characters allowed.")]
    LangTagCharacters,
    #[error("Location invalid, no control characters allowed.")]
    LocationCharacters,
    #[error("Timezone invalid, no control characters allowed.")]
    TimezoneCharacters,
    #[error("Facebook ID invalid, no control characters allowed.")]
    FacebookIdCharacters,
    #[error("Metadata must be a valid JSON object.")]
    MetadataNotObject,
    /// `PUT /v2/account` to a taken username: Nakama wraps the inner error, code and all.
    #[error("rpc error: code = AlreadyExists desc = Username is already in use.")]
    UsernameTakenOnUpdate,
    #[error("ID '{id}' is not a valid system ID.")]
    NotSystemId { id: String },
    #[error("Invalid limit - limit must be between 1 and 1000.")]
    FriendLimit,
    #[error("Invalid state - state must be between 0 and 3.")]
    FriendState,
    #[error("Cursor is invalid.")]
    FriendCursor,
    #[error("Refresh token is required.")]
    RefreshTokenRequired,
    #[error("Refresh token invalid.")]
    RefreshTokenInvalid,
    #[error("Session token invalid.")]
    SessionTokenInvalid,

    // ---- 3 InvalidArgument: the console (console.md)
    #[error("Requires a valid user ID.")]
    UserIdInvalid,
    #[error("Invalid cursor.")]
    ConsoleCursor,
    #[error("Filter invalid, no control characters allowed.")]
    FilterCharacters,
    #[error("Cannot delete the system user.")]
    CannotDeleteSystemUser,
    #[error("Cannot ban the system user.")]
    CannotBanSystemUser,
    #[error("Cannot unban the system user.")]
    CannotUnbanSystemUser,
    #[error("Cannot set a password on an account without an email.")]
    PasswordWithoutEmail,

    // ---- 5 NotFound
    #[error("User account not found.")]
    UserNotFound,
    #[error("Account not found.")]
    AccountNotFound,
    /// An unknown route (and an unknown console unlink kind).
    #[error("Not Found")]
    RouteNotFound,

    // ---- 6 AlreadyExists
    #[error("Username is already in use.")]
    UsernameInUse,
    /// The identifier belongs to another account: "Device ID already in use.", ...
    #[error("{}", .0.texts().in_use)]
    IdentifierInUse(LoginKind),

    // ---- 7 PermissionDenied
    #[error("User account banned.")]
    UserBanned,
    #[error("Cannot unlink last account identifier. Check profile exists and is not last link.")]
    LastIdentifier,

    // ---- 8 ResourceExhausted
    /// A gzip/deflate body over the limit once decoded.
    #[error("trying to send message larger than max ({size} vs. {limit})")]
    MessageTooLarge { size: usize, limit: usize },
    /// The password lockout refused to check another password.
    #[error("Try again later.")]
    TryAgainLater,
    #[error("Too many live viewers, close another console.")]
    TooManyLiveViewers,

    // ---- 9 FailedPrecondition
    #[error("{}", .0.texts().not_configured)]
    NotConfigured(LoginKind),

    // ---- 12 Unimplemented
    #[error("Method Not Allowed")]
    MethodNotAllowed,

    // ---- 13 Internal: the cause is logged where it happened, never shown
    #[error("{0}")]
    Internal(Failure),

    // ---- 15 DataLoss
    /// authenticate/facebookinstantgame answers a bad signature with this, not a 401.
    #[error("Error extracting the Facebook Instant Game player ID or validating the signature")]
    InstantGameSignature,

    // ---- 16 Unauthenticated (each also goes into Www-Authenticate)
    #[error("Server key required")]
    ServerKeyRequired,
    #[error("Server key invalid")]
    ServerKeyInvalid,
    #[error("Auth token required")]
    AuthTokenRequired,
    #[error("Auth token invalid")]
    AuthTokenInvalid,
    #[error("Refresh token invalid or expired.")]
    RefreshTokenExpired,
    #[error("Invalid credentials.")]
    InvalidCredentials,
    #[error("Console authentication required.")]
    ConsoleAuthRequired,
    #[error("Console authentication invalid.")]
    ConsoleAuthInvalid,
    /// A provider refused the credential: "Could not authenticate Apple profile.", ...
    #[error("{}", .0.texts().refused)]
    ProviderRefused(LoginKind),
}

impl ErrorKind {
    /// The table: the gRPC code of each kind (its HTTP status follows from `Code`).
    pub fn code(&self) -> Code {
        use ErrorKind::*;
        match self {
            BodyUnreadable(_)
            | BodyTooLarge
            | BodyNotObject { .. }
            | BodySyntax(_)
            | QueryRepeated { .. }
            | QueryNotBool { .. }
            | QueryNotInt { .. }
            | QueryEscape { .. }
            | QueryUtf8
            | DeviceIdRequired
            | DeviceIdMissing
            | DeviceIdCharacters
            | DeviceIdLength
            | CustomIdRequired
            | CustomIdCharacters
            | CustomIdLength
            | LinkCustomIdCharacters
            | LinkCustomIdLength
            | EmailRequired
            | EmailAndPasswordRequired
            | EmailCharacters
            | EmailFormat
            | EmailLength
            | PasswordTooShort
            | PasswordTooLong
            | UsernameOrEmailRequired
            | UsernameCharacters
            | UsernameLength
            | GameCenterBundleIdRequired
            | GameCenterPlayerIdRequired
            | GameCenterPublicKeyUrlRequired
            | GameCenterSaltRequired
            | GameCenterSignatureRequired
            | GameCenterTimestampRequired
            | GameCenterCredentialsRequired
            | NoFieldsToUpdate
            | DisplayNameCharacters
            | AvatarUrlCharacters
            | LangTagCharacters
            | LocationCharacters
            | TimezoneCharacters
            | FacebookIdCharacters
            | MetadataNotObject
            | UsernameTakenOnUpdate
            | NotSystemId { .. }
            | FriendLimit
            | FriendState
            | FriendCursor
            | RefreshTokenRequired
            | RefreshTokenInvalid
            | SessionTokenInvalid
            | UserIdInvalid
            | ConsoleCursor
            | FilterCharacters
            | CannotDeleteSystemUser
            | CannotBanSystemUser
            | CannotUnbanSystemUser
            | PasswordWithoutEmail
            | CredentialRequired(_) => Code::InvalidArgument,
            UserNotFound | AccountNotFound | RouteNotFound => Code::NotFound,
            UsernameInUse | IdentifierInUse(_) => Code::AlreadyExists,
            UserBanned | LastIdentifier => Code::PermissionDenied,
            MessageTooLarge { .. } | TryAgainLater | TooManyLiveViewers => Code::ResourceExhausted,
            NotConfigured(_) => Code::FailedPrecondition,
            MethodNotAllowed => Code::Unimplemented,
            Internal(_) => Code::Internal,
            InstantGameSignature => Code::DataLoss,
            ServerKeyRequired | ServerKeyInvalid | AuthTokenRequired | AuthTokenInvalid | RefreshTokenExpired
            | InvalidCredentials | ConsoleAuthRequired | ConsoleAuthInvalid | ProviderRefused(_) => {
                Code::Unauthenticated
            }
        }
    }
}

/// What went wrong inside: the client sees only the message (code 13), the log the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("Error finding user account.")]
    FindingAccount,
    #[error("Error finding or creating user account.")]
    FindingOrCreatingAccount,
    #[error("Error retrieving user account.")]
    RetrievingAccount,
    #[error("Error retrieving user accounts.")]
    RetrievingAccounts,
    #[error("Error while trying to update account.")]
    UpdatingAccount,
    #[error("Error deleting user account.")]
    DeletingAccount,
    #[error("Error banning user account.")]
    BanningAccount,
    #[error("Error unbanning user account.")]
    UnbanningAccount,
    #[error("Error logging out.")]
    LoggingOut,
    #[error("Error while trying to list friends.")]
    ListingFriends,
    /// Linking an identifier of a kind failed: "Error linking Device ID.", ...
    #[error("{}", .0.texts().link_failed)]
    Linking(LoginKind),
    #[error("{}", .0.texts().unlink_failed)]
    Unlinking(LoginKind),
    /// Writing a provider's email failed: "Error importing apple account email.", ...
    #[error("{}", .0.texts().email_failed)]
    ImportingEmail(LoginKind),
    #[error("Error while trying to update password.")]
    UpdatingPassword,
    #[error("An error occurred while trying to list users.")]
    ListingUsers,
    #[error("Error listing the audit trail.")]
    ListingAuditTrail,
    #[error("Error checking console credentials.")]
    CheckingConsoleCredentials,
    #[error("Error creating console token.")]
    CreatingConsoleToken,
    /// A listener without the application's state (never with apps `lib.rs` builds).
    #[error("Error reading the server state.")]
    ReadingServerState,
}

impl Failure {
    /// The failure, with its cause logged (never shown): `.map_err(|e| Failure::X.because(e))`.
    /// A database error among the causes is counted (metric `db_query_errors`).
    pub fn because<E: Display + 'static>(self, cause: E) -> ApiError {
        log_cause(&self, cause);
        self.into()
    }
}

fn log_cause<E: Display + 'static>(message: &dyn Display, cause: E) {
    if (&cause as &dyn std::any::Any).is::<sea_orm::DbErr>() {
        crate::metrics::DB_QUERY_ERRORS.inc();
    }
    tracing::error!(error = %cause, "{message}");
}

/// An error kind as the transports use it. `code` and `message` are the kind's, kept
/// rendered so that the gateway body, the audit trail and tests read them directly; the
/// only ways to build one go through a kind, so they always agree with it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: Code,
    pub message: Cow<'static, str>,
    kind: ErrorKind,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<ErrorKind> for ApiError {
    fn from(kind: ErrorKind) -> Self {
        Self { code: kind.code(), message: Cow::Owned(kind.to_string()), kind }
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        ErrorKind::Internal(failure).into()
    }
}

impl ApiError {
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// One example of every kind (and every failure), for tests that walk the table.
#[cfg(test)]
pub(crate) fn every_kind() -> Vec<ErrorKind> {
    use ErrorKind::*;
    let text = || "x".to_string();
    let kinds = vec![
        BodyUnreadable(text()),
        BodyTooLarge,
        BodyNotObject { column: 1, token: text() },
        BodySyntax(text()),
        QueryRepeated { field: text(), values: vec![text(), text()] },
        QueryNotBool { field: text(), value: text() },
        QueryNotInt { field: text(), value: text() },
        QueryEscape { escape: text() },
        QueryUtf8,
        DeviceIdRequired,
        DeviceIdMissing,
        DeviceIdCharacters,
        DeviceIdLength,
        CustomIdRequired,
        CustomIdCharacters,
        CustomIdLength,
        LinkCustomIdCharacters,
        LinkCustomIdLength,
        EmailRequired,
        EmailAndPasswordRequired,
        EmailCharacters,
        EmailFormat,
        EmailLength,
        PasswordTooShort,
        PasswordTooLong,
        UsernameOrEmailRequired,
        UsernameCharacters,
        UsernameLength,
        GameCenterBundleIdRequired,
        GameCenterPlayerIdRequired,
        GameCenterPublicKeyUrlRequired,
        GameCenterSaltRequired,
        GameCenterSignatureRequired,
        GameCenterTimestampRequired,
        GameCenterCredentialsRequired,
        NoFieldsToUpdate,
        DisplayNameCharacters,
        AvatarUrlCharacters,
        LangTagCharacters,
        LocationCharacters,
        TimezoneCharacters,
        FacebookIdCharacters,
        MetadataNotObject,
        UsernameTakenOnUpdate,
        NotSystemId { id: text() },
        FriendLimit,
        FriendState,
        FriendCursor,
        RefreshTokenRequired,
        RefreshTokenInvalid,
        SessionTokenInvalid,
        UserIdInvalid,
        ConsoleCursor,
        FilterCharacters,
        CannotDeleteSystemUser,
        CannotBanSystemUser,
        CannotUnbanSystemUser,
        PasswordWithoutEmail,
        UserNotFound,
        AccountNotFound,
        RouteNotFound,
        UsernameInUse,
        UserBanned,
        LastIdentifier,
        MessageTooLarge { size: 2, limit: 1 },
        TryAgainLater,
        TooManyLiveViewers,
        MethodNotAllowed,
        InstantGameSignature,
        ServerKeyRequired,
        ServerKeyInvalid,
        AuthTokenRequired,
        AuthTokenInvalid,
        RefreshTokenExpired,
        InvalidCredentials,
        ConsoleAuthRequired,
        ConsoleAuthInvalid,
    ];
    let failures = [
        Failure::FindingAccount,
        Failure::FindingOrCreatingAccount,
        Failure::RetrievingAccount,
        Failure::RetrievingAccounts,
        Failure::UpdatingAccount,
        Failure::DeletingAccount,
        Failure::BanningAccount,
        Failure::UnbanningAccount,
        Failure::LoggingOut,
        Failure::ListingFriends,
        Failure::UpdatingPassword,
        Failure::ListingUsers,
        Failure::ListingAuditTrail,
        Failure::CheckingConsoleCredentials,
        Failure::CreatingConsoleToken,
        Failure::ReadingServerState,
    ];
    // Every kind's per-kind answers, where the kind has one.
    let per_kind = LoginKind::ALL.into_iter().flat_map(|k| {
        let t = k.texts();
        let mut kinds = vec![IdentifierInUse(k), Internal(Failure::Linking(k)), Internal(Failure::Unlinking(k))];
        if !t.required.is_empty() {
            kinds.push(CredentialRequired(k));
        }
        if !t.refused.is_empty() {
            kinds.extend([ProviderRefused(k), NotConfigured(k)]);
        }
        if !t.email_failed.is_empty() {
            kinds.push(Internal(Failure::ImportingEmail(k)));
        }
        kinds
    });
    kinds.into_iter().chain(failures.into_iter().map(Internal)).chain(per_kind).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when a kind is added, until it is listed in `every_kind` too.
    fn listed(kind: &ErrorKind) -> bool {
        use ErrorKind::*;
        match kind {
            Internal(failure) => match failure {
                Failure::FindingAccount
                | Failure::FindingOrCreatingAccount
                | Failure::RetrievingAccount
                | Failure::RetrievingAccounts
                | Failure::UpdatingAccount
                | Failure::DeletingAccount
                | Failure::BanningAccount
                | Failure::UnbanningAccount
                | Failure::LoggingOut
                | Failure::ListingFriends
                | Failure::Linking(_)
                | Failure::Unlinking(_)
                | Failure::ImportingEmail(_)
                | Failure::UpdatingPassword
                | Failure::ListingUsers
                | Failure::ListingAuditTrail
                | Failure::CheckingConsoleCredentials
                | Failure::CreatingConsoleToken
                | Failure::ReadingServerState => true,
            },
            BodyUnreadable(_) | BodyTooLarge | BodyNotObject { .. } | BodySyntax(_) | QueryRepeated { .. } => true,
            QueryNotBool { .. } | QueryNotInt { .. } | QueryEscape { .. } | QueryUtf8 => true,
            DeviceIdRequired | DeviceIdMissing | DeviceIdCharacters | DeviceIdLength => true,
            CustomIdRequired | CustomIdCharacters | CustomIdLength | LinkCustomIdCharacters | LinkCustomIdLength => {
                true
            }
            EmailRequired | EmailAndPasswordRequired | EmailCharacters | EmailFormat | EmailLength => true,
            PasswordTooShort | PasswordTooLong | UsernameOrEmailRequired | UsernameCharacters | UsernameLength => true,
            CredentialRequired(_) | NotConfigured(_) | ProviderRefused(_) | IdentifierInUse(_) => true,
            GameCenterBundleIdRequired | GameCenterPlayerIdRequired => true,
            GameCenterPublicKeyUrlRequired | GameCenterSaltRequired | GameCenterSignatureRequired => true,
            GameCenterTimestampRequired | NoFieldsToUpdate | DisplayNameCharacters | AvatarUrlCharacters => true,
            GameCenterCredentialsRequired => true,
            LangTagCharacters | LocationCharacters | TimezoneCharacters | FacebookIdCharacters => true,
            MetadataNotObject | UsernameTakenOnUpdate | NotSystemId { .. } | FriendLimit | FriendState => true,
            FriendCursor | RefreshTokenRequired | RefreshTokenInvalid | SessionTokenInvalid | UserIdInvalid => true,
            ConsoleCursor | FilterCharacters | CannotDeleteSystemUser | CannotBanSystemUser => true,
            CannotUnbanSystemUser | PasswordWithoutEmail | UserNotFound | AccountNotFound | RouteNotFound => true,
            UsernameInUse | UserBanned | LastIdentifier => true,
            MessageTooLarge { .. } | TryAgainLater | TooManyLiveViewers | MethodNotAllowed => true,
            InstantGameSignature | ServerKeyRequired | ServerKeyInvalid | AuthTokenRequired => true,
            AuthTokenInvalid | RefreshTokenExpired | InvalidCredentials => true,
            ConsoleAuthRequired | ConsoleAuthInvalid => true,
        }
    }

    #[test]
    fn every_kind_is_listed_once_and_has_its_own_message() {
        let kinds = every_kind();
        assert!(kinds.iter().all(listed));
        let mut seen = std::collections::HashMap::new();
        for kind in &kinds {
            let message = kind.to_string();
            assert!(!message.is_empty(), "{kind:?} has no message");
            if let Some(other) = seen.insert(message.clone(), kind.clone()) {
                panic!("{kind:?} and {other:?} share the message {message:?}");
            }
        }
    }

    #[test]
    fn known_kinds_have_nakamas_codes_and_statuses() {
        let cases = [
            (ErrorKind::UserNotFound, 5, 404, "User account not found."),
            (ErrorKind::InvalidCredentials, 16, 401, "Invalid credentials."),
            (ErrorKind::UserBanned, 7, 403, "User account banned."),
            (ErrorKind::UsernameInUse, 6, 409, "Username is already in use."),
            (ErrorKind::TryAgainLater, 8, 429, "Try again later."),
            (ErrorKind::DeviceIdLength, 3, 400, "Device ID invalid, must be 10-128 bytes."),
            (ErrorKind::MethodNotAllowed, 12, 501, "Method Not Allowed"),
            (ErrorKind::Internal(Failure::FindingAccount), 13, 500, "Error finding user account."),
            (
                ErrorKind::QueryRepeated { field: "create".into(), values: vec!["true".into(), "false".into()] },
                3,
                400,
                "too many values for field \"create\": true, false",
            ),
        ];
        for (kind, code, status, message) in cases {
            let error = ApiError::from(kind.clone());
            assert_eq!(error.code as i32, code, "{kind:?}");
            assert_eq!(error.code.http_status(), status, "{kind:?}");
            assert_eq!(error.message, message);
            assert_eq!(error.kind(), &kind);
        }
        let error = ApiError::from(ErrorKind::InstantGameSignature);
        assert_eq!((error.code as i32, error.code.http_status()), (15, 500));
    }
}
