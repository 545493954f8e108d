//! Deserialisation helpers that make serde read JSON the way Go's
//! `encoding/json` does for the Engine API: `null` leaves a field at its zero
//! value, and docker's `StrSlice` accepts either a string or an array.

use serde::de::{Deserialize, Deserializer, IgnoredAny};
use serde::{Serialize, Serializer};

/// `null` (or a missing field, with `#[serde(default)]`) becomes the type's
/// default, as Go leaves a non-pointer field untouched on `null`.
/// docker-py sends `"Hostname": null` and the like.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// docker's `strslice.StrSlice`: `"sh -c x"` is one element, `["a","b"]` is
/// the list, `null` is none.
pub fn str_slice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    // untagged enums lose the inner error; name what was expected instead
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match serde_json::from_value::<OneOrMany>(v) {
            Ok(OneOrMany::One(s)) => Ok(Some(vec![s])),
            Ok(OneOrMany::Many(v)) => Ok(Some(v)),
            Err(_) => Err(serde::de::Error::custom("expected a string or an array of strings")),
        },
    }
}

/// The `{}` of Go's `map[string]struct{}` (`ExposedPorts`, `Volumes`): always
/// written as `{}`, and any value is accepted on input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Empty)
    }
}

/// For `skip_serializing_if` on Go's `omitempty` scalars.
pub fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Go's `omitempty` on a map or slice: omitted when nil or empty.
pub fn is_empty_opt<T: IsEmpty>(v: &Option<T>) -> bool {
    v.as_ref().is_none_or(IsEmpty::is_empty)
}

/// Containers whose emptiness Go's `omitempty` looks at.
pub trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> IsEmpty for std::collections::BTreeMap<K, V> {
    fn is_empty(&self) -> bool {
        std::collections::BTreeMap::is_empty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(default)]
    struct T {
        #[serde(deserialize_with = "nullable")]
        s: String,
        #[serde(deserialize_with = "str_slice")]
        cmd: Option<Vec<String>>,
        e: Option<std::collections::BTreeMap<String, Empty>>,
    }

    #[test]
    fn null_is_zero_value() {
        let t: T = serde_json::from_str(r#"{"s":null,"cmd":null}"#).unwrap();
        assert_eq!(t.s, "");
        assert_eq!(t.cmd, None);
    }

    #[test]
    fn str_slice_accepts_string_and_array() {
        let t: T = serde_json::from_str(r#"{"cmd":"echo hi"}"#).unwrap();
        assert_eq!(t.cmd, Some(vec!["echo hi".to_owned()]));
        let t: T = serde_json::from_str(r#"{"cmd":["a","b"]}"#).unwrap();
        assert_eq!(t.cmd, Some(vec!["a".to_owned(), "b".to_owned()]));
        let t: T = serde_json::from_str(r#"{"cmd":[""]}"#).unwrap();
        assert_eq!(t.cmd, Some(vec![String::new()]));
        let err = serde_json::from_str::<T>(r#"{"cmd":5}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string or an array of strings"), "{err}");
    }

    #[test]
    fn empty_object_round_trip() {
        let t: T = serde_json::from_str(r#"{"e":{"80/tcp":{},"81/udp":null,"82/tcp":{"x":1}}}"#).unwrap();
        let e = t.e.unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"80/tcp":{},"81/udp":{},"82/tcp":{}}"#);
    }
}
