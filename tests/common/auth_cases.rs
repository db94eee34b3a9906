//! authenticate.md's refusals of device, custom and email logins as one table, run over
//! REST (tests/api/authenticate.rs) and over gRPC (tests/api/grpc.rs): the same input must
//! give the same code and message on both transports.

/// The credential of one case.
pub enum Login {
    Device(String),
    Custom(String),
    Email { email: String, password: String },
}

pub struct AuthCase {
    pub name: &'static str,
    pub login: Login,
    pub create: bool,
    pub username: &'static str,
    /// The gRPC code (REST's body carries it too, with its HTTP status).
    pub code: i32,
    pub http_status: u16,
    pub message: &'static str,
}

fn case(name: &'static str, login: Login, code: i32, http_status: u16, message: &'static str) -> AuthCase {
    AuthCase { name, login, create: true, username: "", code, http_status, message }
}

fn email(email: &str, password: &str) -> Login {
    Login::Email { email: email.into(), password: password.into() }
}

pub fn refusals() -> Vec<AuthCase> {
    use Login::*;
    vec![
        case("device id empty", Device("".into()), 3, 400, "Device ID is required."),
        case(
            "device id with a space",
            Device("has space 12345".into()),
            3,
            400,
            "Device ID invalid, no spaces or control characters allowed.",
        ),
        case("device id of 5 bytes", Device("short".into()), 3, 400, "Device ID invalid, must be 10-128 bytes."),
        case("device id of 129 bytes", Device("x".repeat(129)), 3, 400, "Device ID invalid, must be 10-128 bytes."),
        AuthCase {
            create: false,
            ..case("unknown device, create false", Device("unknown-device-1".into()), 5, 404, "User account not found.")
        },
        AuthCase {
            username: "a[]b",
            ..case(
                "username with brackets",
                Device("valid-device-123".into()),
                3,
                400,
                "Username invalid, no spaces or control characters allowed.",
            )
        },
        case("custom id empty", Custom("".into()), 3, 400, "Custom ID is required."),
        case(
            "custom id with spaces",
            Custom("a b c d e".into()),
            3,
            400,
            "Custom ID invalid, no spaces or control characters allowed.",
        ),
        case("custom id of 5 bytes", Custom("abcde".into()), 3, 400, "Custom ID invalid, must be 6-128 bytes."),
        AuthCase {
            create: false,
            ..case(
                "unknown custom id, create false",
                Custom("unknown-custom".into()),
                5,
                404,
                "User account not found.",
            )
        },
        case(
            "email with a space",
            email("a b@x.com", "x"),
            3,
            400,
            "Invalid email address, no spaces or control characters allowed.",
        ),
        case("email not an address", email("notanemail", "x"), 3, 400, "Invalid email address format."),
        case("email of 6 bytes", email("a@b.cd", "x"), 3, 400, "Invalid email address, must be 10-255 bytes."),
        case("email and password empty", email("", ""), 3, 400, "Password must be at least 8 characters long."),
        AuthCase {
            create: false,
            ..case(
                "unknown email, create false",
                email("nobody@example.com", "password1"),
                5,
                404,
                "User account not found.",
            )
        },
    ]
}
