//! The proto `User` and `FriendList` as JSON, keys in proto field order: the client API
//! prints them, and the console prints the same friend list (filling in empty fields).

use entity::users;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::AppState;

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The public profile, keys in proto field order, defaults omitted.
#[derive(Serialize)]
pub struct User {
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar_url: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang_tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    metadata: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    facebook_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    google_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gamecenter_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steam_id: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    online: bool,
    #[serde(skip_serializing_if = "is_zero")]
    edge_count: i32,
    create_time: String,
    update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    facebook_instant_game_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apple_id: Option<String>,
}

impl User {
    pub fn from_model(u: users::Model, online: bool) -> Self {
        let some = |v: Option<String>| v.filter(|s| !s.is_empty());
        User {
            id: u.id.to_string(),
            username: u.username,
            display_name: some(u.display_name),
            avatar_url: some(u.avatar_url),
            lang_tag: u.lang_tag,
            location: some(u.location),
            timezone: some(u.timezone),
            metadata: u.metadata,
            facebook_id: some(u.facebook_id),
            google_id: some(u.google_id),
            gamecenter_id: some(u.gamecenter_id),
            steam_id: some(u.steam_id),
            online,
            edge_count: u.edge_count,
            create_time: rfc3339(u.create_time),
            update_time: rfc3339(u.update_time),
            facebook_instant_game_id: some(u.facebook_instant_game_id),
            apple_id: some(u.apple_id),
        }
    }
}

#[derive(Serialize)]
struct Friend {
    user: User,
    /// Always written, 0 included.
    state: i16,
    update_time: String,
    metadata: String,
}

#[derive(Serialize)]
pub struct FriendList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    friends: Vec<Friend>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

/// The wire form of a page of friends (also used by the console).
pub fn friend_list(state: &AppState, page: crate::accounts::FriendPage) -> FriendList {
    let friends = page
        .friends
        .into_iter()
        .map(|f| {
            let online = state.status.is_online(f.user.id);
            Friend {
                user: User::from_model(f.user, online),
                state: f.edge.state,
                update_time: rfc3339(f.edge.update_time),
                metadata: f.edge.metadata,
            }
        })
        .collect();
    FriendList { friends, cursor: page.cursor }
}
