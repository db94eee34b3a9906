//! The table of login kinds: the nine ways an account is identified (device, email,
//! custom id and six providers), each with its name in paths and methods, its identifier
//! column and the texts of its answers. Authenticate, link and unlink each have one path
//! over this table; the transports take their routes from it.

use entity::users;

use crate::metrics::AuthMethod;
use crate::social::gamecenter;
use crate::store::Identifier;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoginKind {
    Device,
    Email,
    Custom,
    Apple,
    Facebook,
    FacebookInstantGame,
    Google,
    GameCenter,
    Steam,
}

/// The answers that name a kind (authenticate.md §2/§4, link-unlink.md §3-4). Empty where
/// the kind has no such answer.
pub struct Texts {
    /// The provider's name in logs.
    pub provider: &'static str,
    /// A provider credential left empty.
    pub required: &'static str,
    pub refused: &'static str,
    pub not_configured: &'static str,
    pub in_use: &'static str,
    pub link_failed: &'static str,
    pub unlink_failed: &'static str,
    pub email_failed: &'static str,
}

const NONE: Texts = Texts {
    provider: "",
    required: "",
    refused: "",
    not_configured: "",
    in_use: "",
    link_failed: "",
    unlink_failed: "",
    email_failed: "",
};

const DEVICE: Texts = Texts {
    provider: "device",
    in_use: "Device ID already in use.",
    link_failed: "Error linking Device ID.",
    unlink_failed: "Could not unlink device ID.",
    ..NONE
};

const EMAIL: Texts = Texts {
    provider: "email",
    in_use: "Email is already in use.",
    link_failed: "Error while trying to link email.",
    unlink_failed: "Error while trying to unlink email.",
    ..NONE
};

const CUSTOM: Texts = Texts {
    provider: "custom",
    in_use: "Custom ID is already in use.",
    link_failed: "Error while trying to link Custom ID.",
    unlink_failed: "Error while trying to unlink custom ID.",
    ..NONE
};

const APPLE: Texts = Texts {
    provider: "apple",
    required: "Apple ID token is required.",
    refused: "Could not authenticate Apple profile.",
    not_configured: "Apple authentication is not configured.",
    in_use: "Apple ID is already in use.",
    link_failed: "Error while trying to link Apple ID.",
    unlink_failed: "Error while trying to unlink Apple ID.",
    email_failed: "Error importing apple account email.",
};

const FACEBOOK: Texts = Texts {
    provider: "facebook",
    required: "Facebook access token is required.",
    refused: "Could not authenticate Facebook profile.",
    not_configured: "Facebook authentication is not configured.",
    in_use: "Facebook ID is already in use.",
    link_failed: "Error while trying to link Facebook ID.",
    unlink_failed: "Error while trying to unlink Facebook ID.",
    email_failed: "Error importing facebook account email.",
};

const INSTANT_GAME: Texts = Texts {
    provider: "facebook_instant_game",
    required: "Signed Player Info for a Facebook Instant Game is required.",
    refused: "Could not authenticate Facebook Instant Game profile.",
    not_configured: "Facebook Instant Game authentication is not configured.",
    in_use: "Facebook Instant Game ID is already in use.",
    link_failed: "Error while trying to link Facebook Instant Game ID.",
    unlink_failed: "Error while trying to unlink Facebook Instant Game ID.",
    email_failed: "",
};

const GOOGLE: Texts = Texts {
    provider: "google",
    required: "Google access token is required.",
    refused: "Could not authenticate Google profile.",
    not_configured: "Google authentication is not configured.",
    in_use: "Google ID is already in use.",
    link_failed: "Error while trying to link Google ID.",
    unlink_failed: "Error while trying to unlink Google ID.",
    email_failed: "Error importing google account email.",
};

const GAMECENTER: Texts = Texts {
    provider: "gamecenter",
    required: "",
    refused: "Could not authenticate GameCenter profile.",
    not_configured: "GameCenter authentication is not configured.",
    in_use: "GameCenter ID is already in use.",
    link_failed: "Error while trying to link GameCenter ID.",
    unlink_failed: "Error while trying to unlink GameCenter ID.",
    email_failed: "",
};

const STEAM: Texts = Texts {
    provider: "steam",
    required: "Steam access token is required.",
    refused: "Could not authenticate Steam profile.",
    not_configured: "Steam authentication is not configured.",
    in_use: "Steam ID is already in use.",
    link_failed: "Error while trying to link Steam ID.",
    unlink_failed: "Error while trying to unlink Steam ID.",
    email_failed: "",
};

impl LoginKind {
    /// Every kind, in the order Nakama's API lists them.
    pub const ALL: [LoginKind; 9] = [
        LoginKind::Device,
        LoginKind::Email,
        LoginKind::Custom,
        LoginKind::Apple,
        LoginKind::Facebook,
        LoginKind::FacebookInstantGame,
        LoginKind::Google,
        LoginKind::GameCenter,
        LoginKind::Steam,
    ];

    /// The kind's name in REST paths: `/v2/account/authenticate/{name}`.
    pub fn name(self) -> &'static str {
        match self {
            LoginKind::Device => "device",
            LoginKind::Email => "email",
            LoginKind::Custom => "custom",
            LoginKind::Apple => "apple",
            LoginKind::Facebook => "facebook",
            LoginKind::FacebookInstantGame => "facebookinstantgame",
            LoginKind::Google => "google",
            LoginKind::GameCenter => "gamecenter",
            LoginKind::Steam => "steam",
        }
    }

    /// The kind named `name` in paths.
    pub fn from_name(name: &str) -> Option<LoginKind> {
        LoginKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The identifier of this kind with `value`.
    pub fn identifier(self, value: String) -> Identifier {
        match self {
            LoginKind::Device => Identifier::Device(value),
            LoginKind::Email => Identifier::Email(value),
            LoginKind::Custom => Identifier::Custom(value),
            LoginKind::Apple => Identifier::Apple(value),
            LoginKind::Facebook => Identifier::Facebook(value),
            LoginKind::FacebookInstantGame => Identifier::FacebookInstantGame(value),
            LoginKind::Google => Identifier::Google(value),
            LoginKind::GameCenter => Identifier::GameCenter(value),
            LoginKind::Steam => Identifier::Steam(value),
        }
    }

    /// The `users` column holding the identifier (the store's map); device ids live in
    /// their own table.
    pub fn column(self) -> Option<users::Column> {
        self.identifier(String::new()).column()
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            LoginKind::Device => &DEVICE,
            LoginKind::Email => &EMAIL,
            LoginKind::Custom => &CUSTOM,
            LoginKind::Apple => &APPLE,
            LoginKind::Facebook => &FACEBOOK,
            LoginKind::FacebookInstantGame => &INSTANT_GAME,
            LoginKind::Google => &GOOGLE,
            LoginKind::GameCenter => &GAMECENTER,
            LoginKind::Steam => &STEAM,
        }
    }

    /// A provider verifies the credential (the other three are parsed only).
    pub fn is_social(self) -> bool {
        !matches!(self, LoginKind::Device | LoginKind::Email | LoginKind::Custom)
    }

    /// Facebook and Steam can import the player's friends (`sync`).
    pub fn imports_friends(self) -> bool {
        matches!(self, LoginKind::Facebook | LoginKind::Steam)
    }

    /// The kind's series in the login metrics, where it has one.
    pub fn metric(self) -> Option<AuthMethod> {
        match self {
            LoginKind::Device => Some(AuthMethod::Device),
            LoginKind::Email => Some(AuthMethod::Email),
            LoginKind::Custom => Some(AuthMethod::Custom),
            _ => None,
        }
    }
}

/// What the client proves: a kind and the fields its body carries.
pub struct Credential<'a> {
    pub kind: LoginKind,
    pub proof: Proof<'a>,
}

/// The shapes of credential the kinds use. A shape that does not fit its kind reads as
/// empty, so it fails the kind's "required" check rather than anything worse.
pub enum Proof<'a> {
    /// A device or custom id, a provider token, Steam's ticket or Instant Game's
    /// signed player info.
    Text(&'a str),
    Email {
        email: &'a str,
        password: &'a str,
    },
    GameCenter(gamecenter::Credential<'a>),
}

impl<'a> Proof<'a> {
    pub fn text(&self) -> &'a str {
        match self {
            Proof::Text(text) => text,
            _ => "",
        }
    }

    pub fn email(&self) -> (&'a str, &'a str) {
        match self {
            Proof::Email { email, password } => (email, password),
            _ => ("", ""),
        }
    }

    pub fn gamecenter(&self) -> gamecenter::Credential<'a> {
        match self {
            Proof::GameCenter(credential) => *credential,
            _ => gamecenter::Credential::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_columns_are_distinct() {
        let mut names: Vec<&str> = LoginKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 9);
        let mut columns: Vec<String> =
            LoginKind::ALL.iter().filter_map(|k| k.column()).map(|c| format!("{c:?}")).collect();
        assert_eq!(columns.len(), 8);
        columns.sort();
        columns.dedup();
        assert_eq!(columns.len(), 8);
        assert_eq!(LoginKind::from_name("facebookinstantgame"), Some(LoginKind::FacebookInstantGame));
        assert_eq!(LoginKind::from_name("Device"), None);
    }

    #[test]
    fn every_social_kind_has_all_its_texts() {
        for kind in LoginKind::ALL.into_iter().filter(|k| k.is_social()) {
            let t = kind.texts();
            for text in [t.refused, t.not_configured, t.in_use, t.link_failed, t.unlink_failed] {
                assert!(text.ends_with('.'), "{kind:?}: {text:?}");
            }
        }
        for kind in LoginKind::ALL {
            assert!(!kind.texts().in_use.is_empty() && !kind.texts().unlink_failed.is_empty());
        }
        assert_eq!(LoginKind::Custom.texts().in_use, "Custom ID is already in use.");
        assert_eq!(LoginKind::GameCenter.texts().refused, "Could not authenticate GameCenter profile.");
    }
}
