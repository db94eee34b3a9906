//! How a setting is declared once: `section!` writes a section's struct, its defaults, the
//! description of each setting (key, help, kind, default, secret flags) and the checks of
//! its values, from one line per setting. Everything else (flags, environment names,
//! `--help`, the console's redaction, the insecure-default warnings, the `config.toml` and
//! README checks) is derived from those descriptions.

/// How a setting is written on the command line and in the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A number.
    Number,
    /// `true` or `false`; a bare `--flag` means true.
    Switch,
    /// Text, even when it looks like a number.
    Text,
    /// A list of text (comma-separated outside the file).
    List,
}

/// One setting as declared.
#[derive(Clone, Debug)]
pub struct Setting {
    pub key: String,
    pub help: &'static str,
    pub kind: Kind,
    /// The value, written as `config.toml` and the README show it.
    pub value: String,
    /// Never shown: the console's config view redacts it.
    pub secret: bool,
    /// Warned about at start while it keeps its shipped value (config.md §3).
    pub warn_default: bool,
}

/// A type a setting can have.
pub trait SettingValue {
    const KIND: Kind;
    fn render(&self) -> String;
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl SettingValue for $t {
            const KIND: Kind = Kind::Number;
            fn render(&self) -> String {
                self.to_string()
            }
        }
        impl AsWide for $t {
            fn wide(&self) -> i128 {
                *self as i128
            }
        }
    )*};
}

/// A number compared with a rule's bound.
pub trait AsWide {
    fn wide(&self) -> i128;
}

numbers!(u16, u32, u64, usize, i64);

impl SettingValue for bool {
    const KIND: Kind = Kind::Switch;
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for String {
    const KIND: Kind = Kind::Text;
    fn render(&self) -> String {
        if self.is_empty() {
            "\"\"".to_string()
        } else {
            self.clone()
        }
    }
}

impl SettingValue for Vec<String> {
    const KIND: Kind = Kind::List;
    fn render(&self) -> String {
        format!("[{}]", self.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", "))
    }
}

/// A section of settings (or the whole config): what `section!` implements.
pub trait Section {
    /// Describes every setting below `prefix` (`"socket."`, or `""` at the top).
    fn describe(&self, prefix: &str, out: &mut Vec<Setting>);
    /// Checks every setting's own rules; the first broken one is the error.
    fn check(&self, prefix: &str) -> Result<(), super::ConfigError>;
}

/// The rules a setting's line may name after its help text. Each answers why a value is
/// refused; `secret` and `warn_default` mark the setting instead of checking it.
pub mod rules {
    use super::AsWide;

    pub fn secret<T>(_: &T) -> Result<(), String> {
        Ok(())
    }

    pub fn warn_default<T>(_: &T) -> Result<(), String> {
        Ok(())
    }

    pub fn at_least<T: AsWide>(value: &T, min: i128) -> Result<(), String> {
        if value.wide() < min {
            return Err(format!("must be at least {min}"));
        }
        Ok(())
    }

    pub fn not_empty(value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(())
    }

    pub fn chars(value: &str, min: usize, max: usize) -> Result<(), String> {
        if !(min..=max).contains(&value.chars().count()) {
            return Err(format!("must be {min}-{max} characters"));
        }
        Ok(())
    }

    pub fn http_url(value: &str) -> Result<(), String> {
        match reqwest::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
            _ => Err("must be an http(s) URL".into()),
        }
    }

    pub fn database_url(value: &str) -> Result<(), String> {
        if ["sqlite:", "postgres://", "postgresql://"].iter().any(|p| value.starts_with(p)) {
            return Ok(());
        }
        Err("must start with sqlite: or postgres://".into())
    }

    pub fn log_level(value: &str) -> Result<(), String> {
        if matches!(value.to_ascii_lowercase().as_str(), "debug" | "info" | "warn" | "error") {
            return Ok(());
        }
        Err("must be debug, info, warn or error".into())
    }

    /// Nakama's pattern for the console admin: `^[a-zA-Z0-9][a-zA-Z0-9._].*[a-zA-Z0-9]$`.
    pub fn console_username(value: &str) -> Result<(), String> {
        let b = value.as_bytes();
        let ok = b.len() >= 3
            && b[0].is_ascii_alphanumeric()
            && (b[1].is_ascii_alphanumeric() || b[1] == b'.' || b[1] == b'_')
            && b[b.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err("must match ^[a-zA-Z0-9][a-zA-Z0-9._].*[a-zA-Z0-9]$".into());
        }
        Ok(())
    }

    pub fn metric_prefix(value: &str) -> Result<(), String> {
        let b = value.as_bytes();
        if b.is_empty() || (!b[0].is_ascii_digit() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')) {
            return Ok(());
        }
        Err("must be empty or letters, digits and _".into())
    }
}

/// Declares a section: its settings, one line each
/// (`field: Type = default, "help", rule, rule(arg), ...;`), then its subsections.
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident : $ty:ty = $default:expr, $help:literal $(, $rule:ident $(($($arg:expr),*))?)* ;
            )*
        }
        $(sections { $($sub:ident : $sub_ty:ty),* $(,)? })?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            $($( pub $sub: $sub_ty, )*)?
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $( $field: $default, )*
                    $($( $sub: <$sub_ty>::default(), )*)?
                }
            }
        }

        impl $crate::config::declare::Section for $name {
            fn describe(&self, prefix: &str, out: &mut Vec<$crate::config::declare::Setting>) {
                use $crate::config::declare::SettingValue;
                $(
                    let rules: &[&str] = &[$(stringify!($rule)),*];
                    out.push($crate::config::declare::Setting {
                        key: format!("{prefix}{}", stringify!($field)),
                        help: $help,
                        kind: <$ty as SettingValue>::KIND,
                        value: self.$field.render(),
                        secret: rules.contains(&"secret"),
                        warn_default: rules.contains(&"warn_default"),
                    });
                )*
                $($( self.$sub.describe(&format!("{prefix}{}.", stringify!($sub)), out); )*)?
            }

            #[allow(unused_variables)]
            fn check(&self, prefix: &str) -> Result<(), $crate::config::ConfigError> {
                #[allow(unused_imports)]
                use $crate::config::declare::rules::*;
                $($(
                    $rule(&self.$field $($(, $arg)*)?).map_err(|reason| {
                        $crate::config::ConfigError::new(&format!("{prefix}{}", stringify!($field)), reason)
                    })?;
                )*)*
                $($( self.$sub.check(&format!("{prefix}{}.", stringify!($sub)))?; )*)?
                Ok(())
            }
        }
    };
}

pub(crate) use section;
