//! Stage one: YAML text to a tree of located values.
//!
//! A derived struct with `deny_unknown_fields` stops at its first error, but
//! swab promises to report every mistake in a file at once. So serde-saphyr
//! deserializes into this small value tree instead, with each node wrapped in
//! `serde_saphyr::Spanned` to keep its line and column; the resolver then
//! walks the tree and checks keys and values itself, collecting errors.
//! Duplicate keys are passed through (`DuplicateKeyPolicy::PassThrough`) so
//! that they too are collected instead of aborting the parse.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Options, Spanned};

use crate::diag::{Diagnostics, ErrorKind, Position};

/// A YAML value with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub pos: Position,
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

impl Kind {
    /// The value's type with an article, for "`x` is a number" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Null => "empty (null)",
            Self::Bool(_) => "a boolean",
            Self::Int(_) | Self::Float(_) => "a number",
            Self::Str(_) => "a string",
            Self::Seq(_) => "a list",
            Self::Map(_) => "a mapping",
        }
    }
}

fn position(location: serde_saphyr::Location) -> Position {
    let clamp = |value: u64| u32::try_from(value).unwrap_or(u32::MAX).max(1);
    Position::new(clamp(location.line()), clamp(location.column()))
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned: Spanned<Kind> = Spanned::deserialize(deserializer)?;
        Ok(Self {
            kind: spanned.value,
            pos: position(spanned.referenced),
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

    fn visit_bytes<E: serde::de::Error>(self, value: &[u8]) -> Result<Kind, E> {
        Ok(Kind::Str(String::from_utf8_lossy(value).into_owned()))
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

/// Parses YAML text into a located tree, or one located syntax error.
///
/// YAML 1.2 booleans only (`yes`/`no`/`on`/`off` stay strings, so `on:` in
/// `notify` is a key, not `true`), and `0755` stays a string instead of
/// becoming octal. serde-saphyr's budget limits depth and size, so hostile
/// input cannot exhaust the stack.
pub(crate) fn parse(source_name: &str, text: &str) -> Result<Node, Diagnostics> {
    let mut options = Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.leading_zero_numbers_as_strings = true;
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|error| {
        let location = error.location().map(position);
        let message = syntax_message(&error);
        Diagnostics::single(source_name, location, ErrorKind::Syntax { message })
    })
}

/// The parser's message without its " at line L, column C" suffix (the
/// location is rendered in swab's own `FILE:LINE:COLUMN` prefix).
fn syntax_message(error: &serde_saphyr::Error) -> String {
    if matches!(error, serde_saphyr::Error::MultipleDocuments { .. }) {
        return "found a second YAML document (`---`); a rule file holds exactly one".to_owned();
    }
    let text = error.to_string();
    let first_line = text.lines().next().unwrap_or_default();
    match first_line.rfind(" at line ") {
        Some(index) => first_line[..index].to_owned(),
        None => first_line.to_owned(),
    }
}
