//! The 27 credential routes (authenticate, link and unlink for each of the nine login
//! kinds), which the server builds from its table of kinds: each path exists, answers
//! other methods as the gateway does, asks for the right authentication, and gives its
//! kind's first answer to an empty body.

use crate::helpers::TestApp;
use crate::{both_backends, storage_free};

const KINDS: [&str; 9] =
    ["device", "email", "custom", "apple", "facebook", "facebookinstantgame", "google", "gamecenter", "steam"];

fn answer(reply: &crate::helpers::Reply) -> String {
    format!("{} {} {}", reply.status, reply.body["code"], reply.body["message"].as_str().unwrap_or(&reply.text))
}

storage_free!(every_route_exists_and_asks_for_its_authentication);
async fn every_route_exists_and_asks_for_its_authentication(app: TestApp) {
    for kind in KINDS {
        for (op, required) in [
            ("authenticate", "Server key required"),
            ("link", "Auth token required"),
            ("unlink", "Auth token required"),
        ] {
            let path = app.url(&format!("/v2/account/{op}/{kind}"));
            let reply = crate::helpers::Reply::from(app.client.post(&path).body("{}").send().await.unwrap()).await;
            reply.assert_error(401, 16, required);
            let reply = crate::helpers::Reply::from(app.client.get(&path).send().await.unwrap()).await;
            reply.assert_error(501, 12, "Method Not Allowed");
        }
    }
    for path in ["/v2/account/authenticate/twitter", "/v2/account/link/Device", "/v2/account/unlink/"] {
        let reply = app.post_key(path, "{}").await;
        reply.assert_error(404, 5, "Not Found");
    }
}

/// An empty body, with the right authentication, on a device account.
async fn empty_bodies(app: &TestApp) -> String {
    let token = app.new_device_token().await;
    let mut answers = String::new();
    for op in ["authenticate", "link", "unlink"] {
        for kind in KINDS {
            let path = format!("/v2/account/{op}/{kind}");
            let reply = match op {
                "authenticate" => app.post_key(&path, "{}").await,
                _ => app.post_bearer(&path, &token, "{}").await,
            };
            answers.push_str(&format!("{op}/{kind}: {}\n", answer(&reply)));
        }
    }
    answers
}

both_backends!(each_kind_gives_its_first_answer_to_an_empty_body);
async fn each_kind_gives_its_first_answer_to_an_empty_body(app: TestApp) {
    // Apple and Steam are not configured here; an empty unlink of a kind the account does
    // not hold clears nothing and succeeds (the device remains).
    let expected = "\
authenticate/device: 400 3 Device ID is required.
authenticate/email: 400 3 Password must be at least 8 characters long.
authenticate/custom: 400 3 Custom ID is required.
authenticate/apple: 400 9 Apple authentication is not configured.
authenticate/facebook: 400 3 Facebook access token is required.
authenticate/facebookinstantgame: 400 3 Signed Player Info for a Facebook Instant Game is required.
authenticate/google: 400 3 Google access token is required.
authenticate/gamecenter: 400 3 GameCenter bundle ID is required.
authenticate/steam: 400 9 Steam authentication is not configured.
link/device: 400 3 Device ID is required.
link/email: 400 3 Email address and password is required.
link/custom: 400 3 Custom ID is required.
link/apple: 400 9 Apple authentication is not configured.
link/facebook: 400 3 Facebook access token is required.
link/facebookinstantgame: 400 3 Signed Player Info for a Facebook Instant Game is required.
link/google: 400 3 Google access token is required.
link/gamecenter: 400 3 GameCenter bundle ID is required.
link/steam: 400 3 Steam access token is required.
unlink/device: 400 3 A device ID must be supplied.
unlink/email: 200 null {}
unlink/custom: 200 null {}
unlink/apple: 200 null {}
unlink/facebook: 200 null {}
unlink/facebookinstantgame: 200 null {}
unlink/google: 200 null {}
unlink/gamecenter: 200 null {}
unlink/steam: 200 null {}
";
    assert_eq!(empty_bodies(&app).await, expected);
}
