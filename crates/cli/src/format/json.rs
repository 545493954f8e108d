//! JSON as docker's CLI shows it: objects keep the daemon's key order (Go
//! marshals struct fields in declaration order, which `serde_json::Value`
//! would sort away), `{{json .}}` encodes without HTML escaping like docker's
//! template function, and `inspect` re-indents the daemon's bytes with four
//! spaces as `json.Indent` does, leaving every string exactly as sent.

use std::fmt::Write as _;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
    /// A Go nil slice (typed field that was `null`): prints `[]`, encodes `null`.
    NilList,
    /// A Go nil map: prints `map[]`, encodes `null`.
    NilMap,
}

impl Json {
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn int(n: i64) -> Json {
        Json::Num(n.into())
    }

    /// An object from pairs, in the given order.
    pub fn obj<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null | Json::NilList | Json::NilMap)
    }

    /// Converts a `serde_json::Value` (whose objects are sorted, as Go
    /// sorts map keys).
    pub fn from_value(v: serde_json::Value) -> Json {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(b),
            serde_json::Value::Number(n) => Json::Num(n),
            serde_json::Value::String(s) => Json::Str(s),
            serde_json::Value::Array(a) => Json::Arr(a.into_iter().map(Json::from_value).collect()),
            serde_json::Value::Object(m) => Json::Obj(
                m.into_iter()
                    .map(|(k, v)| (k, Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Serialises any serde value keeping struct field order (serialises to
    /// text first, then reads it back in order).
    pub fn from_serialize<T: serde::Serialize>(v: &T) -> Json {
        serde_json::to_vec(v)
            .ok()
            .and_then(|b| Json::parse(&b).ok())
            .unwrap_or(Json::Null)
    }

    /// Compact JSON; `escape_html` as Go's `json.Marshal` (`<` → `\u003c`).
    pub fn encode(&self, escape_html: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, escape_html);
        out
    }

    fn write(&self, out: &mut String, escape_html: bool) {
        match self {
            Json::Null | Json::NilList | Json::NilMap => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => quote_into(out, s, escape_html),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out, escape_html);
                }
                out.push(']');
            }
            Json::Obj(m) => {
                out.push('{');
                let mut first = true;
                for (k, v) in m {
                    if is_hidden(k) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    quote_into(out, k, escape_html);
                    out.push(':');
                    v.write(out, escape_html);
                }
                out.push('}');
            }
        }
    }
}

/// Keys starting with NUL carry data for template methods (`.Label "x"`)
/// and are never shown.
pub fn is_hidden(key: &str) -> bool {
    key.starts_with('\0')
}

/// A JSON string literal as Go's encoder writes it.
pub fn quote_into(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
                Json::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(Json::Num(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Num(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(n)
                    .map(Json::Num)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::Str(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Json::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut v: Vec<(String, Json)> = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, Json>()? {
                    // a repeated key: the last one wins, as in Go
                    if let Some(slot) = v.iter_mut().find(|(key, _)| *key == k) {
                        slot.1 = x;
                    } else {
                        v.push((k, x));
                    }
                }
                Ok(Json::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Re-indents JSON text as Go's `json.Indent(dst, src, "", indent)`:
/// whitespace between tokens is replaced, everything else (string escapes,
/// number spellings) is kept byte for byte; `[]` and `{}` stay compact.
pub fn indent(src: &[u8], indent: &str) -> Result<String, String> {
    // validate first so that the re-indenter can trust the token structure
    serde_json::from_slice::<serde::de::IgnoredAny>(src).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut i = 0;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(indent.as_bytes());
        }
    };
    while i < src.len() {
        let c = src[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if need_indent && c != b']' && c != b'}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                let start = i;
                i += 1;
                while i < src.len() {
                    match src[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                out.extend_from_slice(&src[start..i.min(src.len())]);
                continue;
            }
            b'[' | b'{' => {
                out.push(c);
                need_indent = true;
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => {
                out.push(c);
                out.push(b' ');
            }
            b']' | b'}' => {
                if need_indent {
                    // an empty array or object
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Go's `json.Compact`: whitespace outside strings removed, everything
/// else kept byte for byte.
pub fn compact(src: &[u8]) -> Result<String, String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(src).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(src.len());
    let mut in_str = false;
    let mut escaped = false;
    for &c in src {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        out.push(c);
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let j = Json::parse(
            br#"{"Id":"x","Created":"t","Args":[],"State":{"Status":"running","Running":true}}"#,
        )
        .unwrap();
        assert_eq!(
            j.encode(false),
            r#"{"Id":"x","Created":"t","Args":[],"State":{"Status":"running","Running":true}}"#
        );
        assert_eq!(
            j.get("State")
                .and_then(|s| s.get("Status"))
                .and_then(Json::as_str),
            Some("running")
        );
    }

    #[test]
    fn escapes_like_go() {
        let j = Json::str("a<b>&\"c\"\n\u{1}\u{2028}");
        assert_eq!(
            j.encode(true),
            r#""a\u003cb\u003e\u0026\"c\"\n\u0001\u2028""#
        );
        assert_eq!(j.encode(false), r#""a<b>&\"c\"\n\u0001\u2028""#);
    }

    #[test]
    fn hidden_keys_are_not_encoded() {
        let j = Json::obj([
            ("A", Json::int(1)),
            ("\0labels", Json::obj([("x", Json::str("y"))])),
        ]);
        assert_eq!(j.encode(false), r#"{"A":1}"#);
    }

    #[test]
    fn indent_like_go() {
        let src = br#"[{"Id":"a\u003cb","Args":[],"Env":["A=1","B=2"],"Labels":{},"N":1.50,"S":{"x":null}}]"#;
        let want = "[\n    {\n        \"Id\": \"a\\u003cb\",\n        \"Args\": [],\n        \"Env\": [\n            \"A=1\",\n            \"B=2\"\n        ],\n        \"Labels\": {},\n        \"N\": 1.50,\n        \"S\": {\n            \"x\": null\n        }\n    }\n]";
        assert_eq!(indent(src, "    ").unwrap(), want);
        assert!(indent(b"{nope", "  ").is_err());
        assert_eq!(indent(b"[]", "    ").unwrap(), "[]");
    }

    #[test]
    fn compact_keeps_order_and_text() {
        assert_eq!(
            compact(b"{ \"b\": 1.50,\n \"a\": \"x y\\\" \" }").unwrap(),
            r#"{"b":1.50,"a":"x y\" "}"#
        );
    }

    #[test]
    fn strings_with_brackets_and_escaped_quotes_survive_indent() {
        let src = br#"{"a":"[{,:\"}]"}"#;
        assert_eq!(indent(src, "  ").unwrap(), "{\n  \"a\": \"[{,:\\\"}]\"\n}");
    }
}
