//! Near-valid JSON: random trees over a vocabulary of the names a decoder knows, rendered
//! (duplicate keys allowed) and then lightly damaged, so cases get past the first byte.

use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Debug)]
pub enum Json {
    Null,
    Bool(bool),
    /// Written as is: some of these are not valid JSON numbers on purpose.
    Number(&'static str),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::Text(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a string serialises"));
}

/// Valid JSON numbers first (`VALID_NUMBERS` of them), then near misses.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "7",
    "1.5",
    "1000.0",
    "1e3",
    "-1e-400",
    "4102444800",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    // Not JSON, or out of serde_json's range.
    "1E400",
    "00",
    "+1",
    ".5",
    "1.",
    "-",
    "0x10",
    "NaN",
];
const VALID_NUMBERS: usize = 14;

/// Short strings: from `words` (the names and values a decoder looks for) or random.
pub fn text(words: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => proptest::sample::select(words).prop_map(str::to_string),
        1 => proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
}

/// A tree of depth ≤ 4 whose keys and strings come mostly from `words`; some of its
/// numbers are not JSON.
pub fn tree(words: &'static [&'static str]) -> impl Strategy<Value = Json> + Clone {
    tree_of(words, NUMBERS)
}

/// A tree that renders as valid JSON.
pub fn valid_tree(words: &'static [&'static str]) -> impl Strategy<Value = Json> + Clone {
    tree_of(words, &NUMBERS[..VALID_NUMBERS])
}

fn tree_of(words: &'static [&'static str], numbers: &'static [&'static str]) -> impl Strategy<Value = Json> + Clone {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        proptest::sample::select(numbers).prop_map(Json::Number),
        text(words).prop_map(Json::Text),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            proptest::collection::vec((text(words), inner), 0..6).prop_map(Json::Object),
        ]
    })
}

/// One small damage to a rendered document.
#[derive(Clone, Debug)]
pub enum Edit {
    Truncate(Index),
    Insert(Index, char),
    Remove(Index),
    Replace(Index, char),
    Append(String),
}

const DAMAGE: &[char] = &[
    '{',
    '}',
    '[',
    ']',
    '"',
    ',',
    ':',
    '\\',
    ' ',
    '0',
    't',
    'n',
    '-',
    '.',
    'e',
    '\n',
    '\0',
    '\u{feff}',
    'é',
    '\u{1F600}',
];

fn edit() -> impl Strategy<Value = Edit> {
    let damage = proptest::sample::select(DAMAGE);
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), damage.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), damage).prop_map(|(i, c)| Edit::Replace(i, c)),
        proptest::collection::vec(proptest::sample::select(DAMAGE), 1..6)
            .prop_map(|c| Edit::Append(String::from_iter(c))),
    ]
}

/// No edit half of the time, else one to three.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop_oneof![Just(Vec::new()), proptest::collection::vec(edit(), 1..4)]
}

pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match edit {
            Edit::Truncate(i) => chars.truncate(i.index(chars.len() + 1)),
            Edit::Insert(i, c) => chars.insert(i.index(chars.len() + 1), *c),
            Edit::Remove(i) if !chars.is_empty() => {
                chars.remove(i.index(chars.len()));
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let at = i.index(chars.len());
                chars[at] = *c;
            }
            Edit::Append(s) => chars.extend(s.chars()),
            Edit::Remove(_) | Edit::Replace(..) => {}
        }
    }
    String::from_iter(chars)
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
