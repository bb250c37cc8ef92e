//! The bytes Go's `encoding/json` would write for Compose's model.
//!
//! The hash is over exact bytes, so this writer reproduces the parts of
//! `json.Marshal` that matter: struct fields in declaration order (an `Obj` is
//! kept in the order the caller built it), Go maps with keys sorted bytewise
//! (`Json::map`), compact output, and Go's string escaping, which differs from
//! serde_json's: `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026` (HTML
//! safety), U+2028 and U+2029 are escaped, and control characters other than
//! `\b \f \n \r \t` are written as `\u00XX` (Go 1.22 and later; see
//! `encoding/json/encode.go`, `appendString`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A JSON value in Go's marshalling order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i128),
    /// A Go `float32`, written the way `strconv.FormatFloat(f, 'f', -1, 32)` does; callers
    /// keep it in the range where Go does not switch to exponent notation.
    F32(f32),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// A Go map: keys sorted bytewise, as `encoding/json` sorts them.
    pub fn map(entries: BTreeMap<String, Json>) -> Self {
        Self::Obj(entries.into_iter().collect())
    }

    /// A string value.
    pub fn str(value: impl Into<String>) -> Self {
        Self::Str(value.into())
    }

    /// A `[]string`.
    pub fn strings(values: &[String]) -> Self {
        Self::Arr(values.iter().cloned().map(Self::Str).collect())
    }

    /// Compact JSON text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Self::Int(value) => {
                let _ = write!(out, "{value}");
            }
            Self::F32(value) => {
                let _ = write!(out, "{value}");
            }
            Self::Str(value) => write_string(value, out),
            Self::Arr(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Obj(entries) => {
                out.push('{');
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
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

fn write_string(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_like_go() {
        let cases = [
            ("plain", r#""plain""#),
            ("a<b>&c", r#""a\u003cb\u003e\u0026c""#),
            ("q\"\\", r#""q\"\\""#),
            ("\n\r\t\u{8}\u{c}\u{1}\u{1f}", r#""\n\r\t\b\f\u0001\u001f""#),
            ("\u{2028}\u{2029}é", "\"\\u2028\\u2029é\""),
        ];
        for (input, expected) in cases {
            assert_eq!(Json::str(input).to_text(), expected, "{input:?}");
        }
    }

    #[test]
    fn maps_are_sorted_and_objects_keep_order() {
        let map = Json::map(BTreeMap::from([
            ("b".to_owned(), Json::Int(1)),
            ("B".to_owned(), Json::Null),
            ("a".to_owned(), Json::Bool(true)),
        ]));
        let obj = Json::Obj(vec![
            ("z".to_owned(), map),
            ("a".to_owned(), Json::F32(0.5)),
        ]);
        assert_eq!(obj.to_text(), r#"{"z":{"B":null,"a":true,"b":1},"a":0.5}"#);
    }

    #[test]
    fn float32_like_go() {
        assert_eq!(Json::F32(2.0).to_text(), "2");
        assert_eq!(Json::F32(0.1).to_text(), "0.1");
        assert_eq!(Json::F32(1.25).to_text(), "1.25");
    }
}
