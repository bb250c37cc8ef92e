//! YAML text to a tree of values that remember where they came from.
//!
//! Both halves of the crate need more than the values: the hash needs to know
//! whether a scalar was written plain (Compose's YAML library, go-yaml v3,
//! gives `017` and `0x10` numeric meanings that differ from serde-saphyr's, so
//! the raw spelling decides whether swab can follow), and the editor needs the
//! byte range of the one value it rewrites. serde-saphyr's `Spanned` supplies
//! both: the byte span of each node, and a `defined` location that differs from
//! `referenced` when the node was reached through an alias.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, MergeKeyPolicy, Options, Spanned};

/// A YAML value with its source position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    /// Byte offset of the node's first character (for a quoted scalar, its quote).
    pub start: usize,
    /// Byte length of a scalar's source text; unreliable for collections.
    pub len: usize,
    /// 1-based line of the node.
    pub line: u64,
    /// Reached through an alias (`*name`): the value is a copy of another node.
    pub aliased: bool,
}

/// The value itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The source text of a scalar (including quotes or block indicators).
    pub fn raw<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.start + self.len).unwrap_or("")
    }

    /// The value of `key` in a mapping; `None` for a missing key or a non-mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned: Spanned<Kind> = Spanned::deserialize(deserializer)?;
        let span = spanned.referenced.span();
        let to_usize = |value: Option<u64>| value.and_then(|v| usize::try_from(v).ok());
        Ok(Self {
            kind: spanned.value,
            start: to_usize(span.byte_offset()).unwrap_or(0),
            len: to_usize(span.byte_len()).unwrap_or(0),
            line: spanned.referenced.line(),
            aliased: spanned.referenced != spanned.defined,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Kind, E> {
        Ok(Kind::Int(i128::from(value)))
    }

    fn visit_i128<E>(self, value: i128) -> Result<Kind, E> {
        Ok(Kind::Int(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Kind, E> {
        Ok(Kind::Int(i128::from(value)))
    }

    fn visit_u128<E>(self, value: u128) -> Result<Kind, E> {
        Ok(Kind::Int(i128::try_from(value).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Kind, E> {
        Ok(Kind::Float(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Kind, E> {
        Ok(Kind::Str(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Kind, E> {
        Ok(Kind::Str(value))
    }

    fn visit_bytes<E: serde::de::Error>(self, _value: &[u8]) -> Result<Kind, E> {
        Err(E::custom("binary values are not supported"))
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        Kind::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = access.next_entry::<Node, Node>()? {
            entries.push(entry);
        }
        Ok(Kind::Map(entries))
    }
}

/// Parses one compose file.
///
/// The options follow go-yaml v3 where serde-saphyr can: YAML 1.2 booleans
/// only, and duplicate keys kept (so the caller can refuse them, as Compose
/// does). Merge keys stay ordinary `<<` keys, so a service that uses one is
/// reported as using an unsupported key instead of failing the whole file;
/// tags (`!reset`, `!override`) are rejected because their meaning is
/// Compose's, not YAML's.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.merge_keys = MergeKeyPolicy::AsOrdinary;
    options.reject_unsupported_tags = true;
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|error| {
        let text = error.to_string();
        text.lines().next().unwrap_or_default().to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_scalars_with_their_quotes() {
        let text = "a:\n  b: 'x y'  # c\n  c: \"q\"\n  d: plain text\n";
        let root = parse(text).unwrap();
        let a = root.get("a").unwrap();
        assert_eq!(a.get("b").unwrap().raw(text), "'x y'");
        assert_eq!(a.get("c").unwrap().raw(text), "\"q\"");
        assert_eq!(a.get("d").unwrap().raw(text), "plain text");
        assert_eq!(a.get("d").unwrap().line, 4);
    }

    #[test]
    fn aliases_are_marked() {
        let text = "x: &v hello\ny: *v\nz: hello\n";
        let root = parse(text).unwrap();
        assert!(!root.get("x").unwrap().aliased);
        assert!(root.get("y").unwrap().aliased);
        assert!(!root.get("z").unwrap().aliased);
    }

    #[test]
    fn merge_keys_stay_ordinary_keys() {
        let text = "x: &v {a: 1}\ny:\n  <<: *v\n  b: 2\n";
        let root = parse(text).unwrap();
        assert!(root.get("y").unwrap().get("<<").is_some());
    }

    #[test]
    fn tags_are_rejected() {
        assert!(parse("a: !reset []\n").is_err());
    }
}
