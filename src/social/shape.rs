//! Decoding provider answers strictly: serde fills a struct from a JSON array field by field
//! (`["1000…","Mallory"]` passes for a profile), so every struct here must be a JSON object.
//!
//! A decoded `Value` is walked by `Strict`, a deserializer that answers a request for a
//! struct with the object's fields only and refuses anything else, at every depth. The rest
//! (strings, numbers, sequences, maps, options) behaves as `serde_json` does. Enums and
//! `#[serde(flatten)]` are handed to `serde_json` as they are: no provider answer uses them
//! for a struct that could arrive as an array.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// Decodes `body` as a `T`, refusing a JSON array (or anything else) where a struct belongs.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let value: Value = serde_json::from_slice(body)?;
    from_value(&value)
}

/// Decodes an already parsed value as a `T`, with the same rule as `decode`.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(Strict(value))
}

struct Strict<'de>(&'de Value);

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
        }
    }

    /// The one difference from `serde_json`: a struct is an object, never an array.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => de::Deserializer::deserialize_enum(other, name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier
    }
}

struct Items<'de>(std::slice::Iter<'de, Value>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(Strict(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<'de> {
    fields: serde_json::map::Iter<'de>,
    value: Option<&'de Value>,
}

impl<'de> Fields<'de> {
    fn new(fields: &'de Map<String, Value>) -> Self {
        Fields { fields: fields.iter(), value: None }
    }
}

impl<'de> de::MapAccess<'de> for Fields<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Profile {
        id: String,
        #[serde(default)]
        picture: Option<Picture>,
        #[serde(default)]
        tags: Vec<Tag>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Picture {
        url: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Tag {
        name: String,
    }

    #[test]
    fn objects_decode_as_serde_json_would() {
        let body = br#"{"id":"1","picture":{"url":"u","extra":[1,{"x":null}]},"tags":[{"name":"a"}],"more":1.5}"#;
        let profile: Profile = decode(body).unwrap();
        assert_eq!(profile, serde_json::from_slice(body).unwrap());
        assert_eq!(profile.picture, Some(Picture { url: "u".into() }));
        let bare: Profile = decode(br#"{"id":"2","picture":null}"#).unwrap();
        assert_eq!(bare, Profile { id: "2".into(), picture: None, tags: vec![] });
    }

    #[test]
    fn arrays_are_refused_where_a_struct_belongs_at_any_depth() {
        for body in [
            r#"["1"]"#,
            r#"{"id":"1","picture":["u"]}"#,
            r#"{"id":"1","tags":[["a"]]}"#,
            r#"{"id":"1","tags":[{"name":"a"},["b"]]}"#,
        ] {
            // serde_json itself takes each of these.
            assert!(serde_json::from_str::<Profile>(body).is_ok(), "{body}");
            let error = decode::<Profile>(body.as_bytes()).unwrap_err();
            assert!(error.to_string().contains("invalid type: sequence"), "{body}: {error}");
        }
    }

    #[test]
    fn wrong_types_and_truncated_bodies_are_refused() {
        for body in [r#"{"id":1}"#, r#"{"id":"1","tags":{"name":"a"}}"#, r#"{"id":"1","pic"#, "", "null", r#""x""#] {
            assert!(decode::<Profile>(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn numbers_options_and_maps_keep_serde_json_behaviour() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Numbers {
            small: i64,
            big: u64,
            float: f64,
            maybe: Option<u8>,
            map: std::collections::HashMap<String, i32>,
        }
        let body = br#"{"small":-3,"big":18446744073709551615,"float":0.5,"maybe":7,"map":{"a":1}}"#;
        let numbers: Numbers = decode(body).unwrap();
        assert_eq!(numbers, serde_json::from_slice(body).unwrap());
        assert!(decode::<Numbers>(br#"{"small":1.5,"big":1,"float":1,"maybe":null,"map":{}}"#).is_err());
    }
}
