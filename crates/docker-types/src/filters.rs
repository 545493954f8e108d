//! The `filters` query parameter: JSON `{"key": {"value": true}}` (what the
//! docker CLI sends) or the legacy `{"key": ["value"]}`, with docker's
//! matching rules and error texts.

use std::collections::{BTreeMap, BTreeSet};

/// Parsed filters: key → set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

/// `invalid filter 'key'` / `invalid filter 'key=v1,v2'`, docker's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFilter {
    pub name: String,
    pub values: Option<Vec<String>>,
}

impl std::fmt::Display for InvalidFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid filter '{}", self.name)?;
        if let Some(v) = &self.values {
            write!(f, "={}", v.join(","))?;
        }
        f.write_str("'")
    }
}

impl std::error::Error for InvalidFilter {}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the query value; an empty string is no filter.
    pub fn from_json(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        if let Ok(m) = serde_json::from_str::<BTreeMap<String, BTreeMap<String, bool>>>(s) {
            let fields = m.into_iter().map(|(k, v)| (k, v.into_iter().filter(|(_, on)| *on).map(|(v, _)| v).collect())).collect();
            return Ok(Self { fields });
        }
        match serde_json::from_str::<BTreeMap<String, Vec<String>>>(s) {
            Ok(m) => Ok(Self { fields: m.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect() }),
            Err(e) => Err(format!("invalid filters {s:?}: {e}")),
        }
    }

    /// The JSON the docker CLI sends (`{"key":{"value":true}}`).
    pub fn to_json(&self) -> String {
        let m: BTreeMap<&str, BTreeMap<&str, bool>> =
            self.fields.iter().map(|(k, v)| (k.as_str(), v.iter().map(|x| (x.as_str(), true)).collect())).collect();
        serde_json::to_string(&m).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Adds `key=value` (what `--filter key=value` does).
    pub fn add(&mut self, key: &str, value: &str) {
        self.fields.entry(key.to_owned()).or_default().insert(value.to_owned());
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Key → values, for APIs that take filters as a plain map.
    pub fn to_map(&self) -> BTreeMap<String, Vec<String>> {
        self.fields.iter().map(|(k, v)| (k.clone(), v.iter().cloned().collect())).collect()
    }

    /// Refuses keys this endpoint does not know.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), InvalidFilter> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(InvalidFilter { name: k.clone(), values: None }),
            None => Ok(()),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// The values of `key`, sorted.
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.fields.get(key).map(|s| s.iter().map(String::as_str).collect()).unwrap_or_default()
    }

    /// True when `key` has no values or one equals `source`.
    pub fn exact_match(&self, key: &str, source: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(v) if v.is_empty() => true,
            Some(v) => v.contains(source),
        }
    }

    /// Like [`exact_match`](Self::exact_match), or a value is a prefix of
    /// `source` (ids).
    pub fn fuzzy_match(&self, key: &str, source: &str) -> bool {
        if self.exact_match(key, source) {
            return true;
        }
        self.fields.get(key).is_some_and(|v| v.iter().any(|p| source.starts_with(p.as_str())))
    }

    /// `label=key` or `label=key=value` against a label map: every filter
    /// value must match.
    pub fn match_kv_list(&self, key: &str, sources: Option<&BTreeMap<String, String>>) -> bool {
        let Some(values) = self.fields.get(key) else { return true };
        if values.is_empty() {
            return true;
        }
        let Some(sources) = sources.filter(|s| !s.is_empty()) else { return false };
        values.iter().all(|v| match v.split_once('=') {
            Some((k, want)) => sources.get(k).is_some_and(|have| have == want),
            None => sources.contains_key(v.as_str()),
        })
    }

    /// A boolean filter (`dangling=true`); conflicting or other values are
    /// an error naming them.
    pub fn get_bool_or_default(&self, key: &str, default: bool) -> Result<bool, InvalidFilter> {
        let Some(values) = self.fields.get(key) else { return Ok(default) };
        if values.is_empty() {
            return Err(InvalidFilter { name: key.to_owned(), values: None });
        }
        let is_false = values.contains("0") || values.contains("false");
        let is_true = values.contains("1") || values.contains("true");
        if is_false == is_true {
            return Err(InvalidFilter { name: key.to_owned(), values: Some(values.iter().cloned().collect()) });
        }
        Ok(is_true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_json_forms() {
        let a = Filters::from_json(r#"{"status":{"running":true,"paused":true},"label":{"a=b":true}}"#).unwrap();
        let b = Filters::from_json(r#"{"status":["paused","running"],"label":["a=b"]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("status"), vec!["paused", "running"]);
        assert_eq!(Filters::from_json("").unwrap(), Filters::new());
        assert!(Filters::from_json("{nope").unwrap_err().contains("invalid filters"));
        assert!(Filters::from_json(r#"{"a":5}"#).is_err());
    }

    #[test]
    fn false_values_are_dropped() {
        let f = Filters::from_json(r#"{"status":{"running":false}}"#).unwrap();
        assert!(f.contains("status"));
        assert!(f.exact_match("status", "exited"));
    }

    #[test]
    fn round_trip() {
        let mut f = Filters::new();
        f.add("name", "web");
        f.add("label", "x=1");
        assert_eq!(f.to_json(), r#"{"label":{"x=1":true},"name":{"web":true}}"#);
        assert_eq!(Filters::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn validate_names_the_key() {
        let f = Filters::from_json(r#"{"nope":["x"]}"#).unwrap();
        assert_eq!(f.validate(&["name"]).unwrap_err().to_string(), "invalid filter 'nope'");
    }

    #[test]
    fn kv_list() {
        let f = Filters::from_json(r#"{"label":["a","b=2"]}"#).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_owned(), "x".to_owned());
        assert!(!f.match_kv_list("label", Some(&l)));
        l.insert("b".to_owned(), "2".to_owned());
        assert!(f.match_kv_list("label", Some(&l)));
        l.insert("b".to_owned(), "3".to_owned());
        assert!(!f.match_kv_list("label", Some(&l)));
        assert!(!f.match_kv_list("label", None));
        assert!(f.match_kv_list("other", None));
    }

    #[test]
    fn bools() {
        let f = Filters::from_json(r#"{"dangling":["true"]}"#).unwrap();
        assert_eq!(f.get_bool_or_default("dangling", false), Ok(true));
        let f = Filters::from_json(r#"{"dangling":["maybe"]}"#).unwrap();
        assert_eq!(f.get_bool_or_default("dangling", false).unwrap_err().to_string(), "invalid filter 'dangling=maybe'");
        let f = Filters::from_json(r#"{"dangling":["true","false"]}"#).unwrap();
        assert!(f.get_bool_or_default("dangling", false).is_err());
        assert_eq!(Filters::new().get_bool_or_default("dangling", true), Ok(true));
    }

    #[test]
    fn fuzzy() {
        let f = Filters::from_json(r#"{"id":["abc"]}"#).unwrap();
        assert!(f.fuzzy_match("id", "abcdef"));
        assert!(!f.fuzzy_match("id", "xabc"));
    }
}
