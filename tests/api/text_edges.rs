//! Text edge cases (issue 10, defect 8): ASCII control characters are refused at the edge
//! with `400` code 3 on every text a client or staff member sends towards the database;
//! `\`, `_` and `%` are ordinary characters except the console's `%` wildcard; and SQLite
//! and PostgreSQL give the same answers to the same table of tricky inputs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{claims, Reply, TestApp};

const LAST: &str = "Cannot unlink last account identifier. Check profile exists and is not last link.";
const USERNAME_CHARS: &str = "Username invalid, no spaces or control characters allowed.";
const USERNAME_LENGTH: &str = "Username invalid, must be 1-128 bytes.";
const DEVICE_CHARS: &str = "Device ID invalid, no spaces or control characters allowed.";
const CUSTOM_CHARS: &str = "Invalid custom ID, no spaces or control characters allowed.";
const EMAIL_CHARS: &str = "Invalid email address, no spaces or control characters allowed.";

/// The profile fields of `PUT /v2/account` (and the console's update) with their refusal.
const PROFILE_FIELDS: [(&str, &str); 5] = [
    ("display_name", "Display name invalid, no control characters allowed."),
    ("avatar_url", "Avatar URL invalid, no control characters allowed."),
    ("lang_tag", "Lang tag invalid, no control characters allowed."),
    ("location", "Location invalid, no control characters allowed."),
    ("timezone", "Timezone invalid, no control characters allowed."),
];

/// NUL, the first and last C0 controls, a newline and DEL, with their query-string form.
const CONTROLS: [(char, &str); 5] =
    [('\u{0}', "%00"), ('\u{1}', "%01"), ('\n', "%0A"), ('\u{1f}', "%1F"), ('\u{7f}', "%7F")];

/// Asserts an error answer (the console adds `details`, so only these three are compared).
#[track_caller]
fn assert_error(reply: &Reply, (status, code, message): (u16, i64, &str), what: &str) {
    let got = (reply.status, reply.body["code"].as_i64(), reply.body["message"].as_str());
    assert_eq!(got, (status, Some(code), Some(message)), "{what}: {}", reply.text);
}

fn invalid(message: &str) -> (u16, i64, &str) {
    (400, 3, message)
}

const LAST_IDENTIFIER: (u16, i64, &str) = (403, 7, LAST);

both_backends!(control_characters_are_invalid_argument_on_every_text_field);
async fn control_characters_are_invalid_argument_on_every_text_field(app: TestApp) {
    let token = app.new_device_token().await;
    let uid = claims(&token)["uid"].as_str().unwrap().to_string();
    let staff = app.console_token().await;
    assert_eq!(app.post_bearer("/v2/account/link/custom", &token, r#"{"id":"custom-kept"}"#).await.status, 200);
    let before = app.account(&token).await;
    for (c, query) in CONTROLS {
        let text = format!("a{c}b");
        let what = |place: &str| format!("{c:?} in {place}");
        for (field, message) in PROFILE_FIELDS {
            let body = json!({ field: text }).to_string();
            let reply = app.put_bearer("/v2/account", &token, &body).await;
            assert_error(&reply, invalid(message), &what(field));
            let reply = app.console_post(&format!("/v2/console/account/{uid}"), &staff, &body).await;
            assert_error(&reply, invalid(message), &what(&format!("console {field}")));
        }
        let reply = app.get_bearer(&format!("/v2/user?usernames=a{query}b"), &token).await;
        assert_error(&reply, invalid(USERNAME_CHARS), &what("usernames"));
        let reply = app.get_bearer(&format!("/v2/user?facebook_ids=a{query}b"), &token).await;
        assert_error(&reply, invalid("Facebook ID invalid, no control characters allowed."), &what("fb ids"));
        let device = json!({"id": format!("device-id-{c}")}).to_string();
        let reply = app.post_bearer("/v2/account/unlink/device", &token, &device).await;
        assert_error(&reply, invalid(DEVICE_CHARS), &what("unlink device"));
        let reply = app.post_bearer("/v2/account/unlink/custom", &token, &json!({"id": text}).to_string()).await;
        assert_error(&reply, invalid(CUSTOM_CHARS), &what("unlink custom"));
        let email = json!({"email": format!("a{c}b@example.com")}).to_string();
        let reply = app.post_bearer("/v2/account/unlink/email", &token, &email).await;
        assert_error(&reply, invalid(EMAIL_CHARS), &what("unlink email"));
        let reply = app.console_get(&format!("/v2/console/account?filter=a{query}b"), &staff).await;
        assert_error(&reply, invalid("Filter invalid, no control characters allowed."), &what("filter"));
        let reply = app.console_get(&format!("/v2/console/account?filter=a{query}b%25"), &staff).await;
        assert_error(&reply, invalid("Filter invalid, no control characters allowed."), &what("pattern"));
        let cursor = URL_SAFE_NO_PAD.encode(format!("u:a{c}b"));
        let reply = app.console_get(&format!("/v2/console/account?filter=a%25&cursor={cursor}"), &staff).await;
        assert_error(&reply, invalid("Invalid cursor."), &what("console cursor"));
        let device = json!({"device_id": format!("device-id-{c}")}).to_string();
        let reply = app.console_post(&format!("/v2/console/account/{uid}/unlink/device"), &staff, &device).await;
        assert_error(&reply, invalid(DEVICE_CHARS), &what("console unlink device"));
    }
    // Nothing was changed by any of them.
    let after = app.account(&token).await;
    assert_eq!(after, before);
    assert_eq!(after["custom_id"], "custom-kept");
}

both_backends!(backslash_underscore_percent_and_unicode_are_ordinary_text);
async fn backslash_underscore_percent_and_unicode_are_ordinary_text(app: TestApp) {
    let staff = app.console_token().await;
    // Usernames with the characters LIKE treats specially; `%5C` is `\`, `%25` is `%`.
    let long_name = "x".repeat(128);
    let names = ["back%5Cslash", "ends%5C", "a_c", "abc", "100%25real", "Zo%C3%AB", "ZO%C3%8B", &long_name];
    let mut tokens = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let path = format!("/v2/account/authenticate/device?username={name}");
        let reply = app.post_key(&path, &format!(r#"{{"id":"edge-named-{n:02}"}}"#)).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text);
        tokens.push(reply.token());
    }
    let token = &tokens[0];

    // The client API stores and compares them as they are.
    let text = "back\\slash_100% Zoë 😀";
    // lang_tag holds 18 bytes at most.
    let tag = "é_%\\";
    for (field, _) in PROFILE_FIELDS {
        let value = if field == "lang_tag" { tag } else { text };
        let reply = app.put_bearer("/v2/account", token, &json!({ field: value }).to_string()).await;
        assert_eq!((reply.status, reply.text.as_str()), (200, "{}"), "{field}");
    }
    let user = app.account(token).await["user"].clone();
    for field in ["display_name", "avatar_url", "location", "timezone"] {
        assert_eq!(user[field], text, "{field}");
    }
    assert_eq!(user["lang_tag"], tag);
    let found = |reply: Reply| -> Vec<String> {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let users = reply.body["users"].as_array().cloned().unwrap_or_default();
        users.iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(found(app.get_bearer("/v2/user?usernames=a_c", token).await), ["a_c"]);
    assert_eq!(found(app.get_bearer("/v2/user?usernames=ends%5C", token).await), ["ends\\"]);
    assert!(found(app.get_bearer("/v2/user?usernames=a%25&usernames=%25&usernames=_bc", token).await).is_empty());
    assert!(found(app.get_bearer("/v2/user?facebook_ids=%25&facebook_ids=%5C", token).await).is_empty());
    let long = format!("/v2/user?usernames={long_name}");
    assert_eq!(found(app.get_bearer(&long, token).await), [long_name.as_str()]);
    for id in ["%%%%%%%%%%", "\\\\\\\\\\\\\\\\\\\\", "__________"] {
        let body = json!({ "id": id }).to_string();
        let reply = app.post_bearer("/v2/account/unlink/device", token, &body).await;
        assert_error(&reply, LAST_IDENTIFIER, id);
        let reply = app.post_bearer("/v2/account/unlink/custom", token, &body).await;
        assert_error(&reply, LAST_IDENTIFIER, id);
    }

    // Usernames at the 128-byte limit, counted in bytes.
    let named = &tokens[1];
    for name in ["x".repeat(127) + "y", "é".repeat(64), "ends\\".to_string()] {
        let reply = app.put_bearer("/v2/account", named, &json!({ "username": name }).to_string()).await;
        assert_eq!((reply.status, reply.text.as_str()), (200, "{}"), "{} bytes", name.len());
        assert_eq!(app.account(named).await["user"]["username"], name.as_str());
    }
    let reply = app.put_bearer("/v2/account", named, &json!({ "username": "é".repeat(65) }).to_string()).await;
    assert_error(&reply, invalid(USERNAME_LENGTH), "130 bytes");

    // Console search: `%` is the one wildcard; `\` and `_` match themselves; letters A-Z
    // match either case, every other character only itself.
    let cases: [(&str, &[&str]); 17] = [
        ("ends%5C", &["ends\\"]),
        ("%25%5C", &["ends\\"]),
        ("BACK%5C%25", &["back\\slash"]),
        ("back%5Cs%25h", &["back\\slash"]),
        ("a_c%25", &["a_c"]),
        ("A_%25", &["a_c"]),
        ("100%25", &["100%real"]),
        ("%25REAL", &["100%real"]),
        ("100%25%25real", &["100%real"]),
        ("zo%25", &["ZOË", "Zoë"]),
        ("zo%C3%AB%25", &["Zoë"]),
        ("ZO%C3%8B%25", &["ZOË"]),
        ("Zo%C3%AB", &["Zoë"]),
        // An exact username is case-sensitive.
        ("zo%C3%AB", &[]),
        ("%5C", &[]),
        ("_%25", &[]),
        ("%25_", &[]),
    ];
    for (filter, expected) in cases {
        let mut found = app.console_search(filter, &staff).await;
        found.sort();
        assert_eq!(found, expected, "filter {filter}");
    }
    let filter = format!("{}%25", "X".repeat(127));
    assert_eq!(app.console_search(&filter, &staff).await, [long_name]);
}
