//! Rewriting one service's `image:` in a compose file, byte for byte.
//!
//! A user's compose file is theirs: comments, blank lines, key order, line
//! endings and quoting must survive an update, so swab never re-serializes
//! the YAML. It locates the one scalar through serde-saphyr's byte spans,
//! splices the new value in the same quoting style, then parses the result
//! and checks that the document differs from the original in that value
//! only. If the check fails the edit is an error, never returned.

use crate::yaml::{self, Kind, Node};

/// Why [`set_image`] refused to edit a file.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The text is not YAML swab can read (this includes YAML tags).
    #[error("cannot read the compose file as YAML: {0}")]
    Syntax(String),
    /// No `services.<service>` in this file (it may be in another of the project's files).
    #[error("service {0} is not in this file")]
    ServiceNotFound(String),
    /// The service has no `image:` key here (e.g. it is set in another file).
    #[error("service {0} has no `image:` in this file")]
    NoImage(String),
    /// The current value is not the image swab expected to replace; the file
    /// changed since the container was created, or swab's idea of it is wrong.
    #[error("service {service} has image {found:?}, not {expected:?}")]
    NotOld {
        /// The service.
        service: String,
        /// The value in the file, unquoted.
        found: String,
        /// The value the caller expected.
        expected: String,
    },
    /// The value uses `$` interpolation, so the file does not name an image
    /// by itself; rewriting it would drop the user's variable.
    #[error("service {0}'s image uses a `$` variable")]
    Variable(String),
    /// The value or its service is written in a form swab does not rewrite:
    /// flow style (`web: {image: x}`), a block or multi-line scalar, an alias.
    #[error("service {service}'s image is written as {form}, which swab does not rewrite")]
    Form {
        /// The service.
        service: String,
        /// The form found.
        form: &'static str,
    },
    /// Duplicate keys make it unclear which value Compose uses.
    #[error("ambiguous: {0}")]
    Ambiguous(String),
    /// The new image cannot be written in the value's quoting style (for a
    /// plain value, it would need quotes) or contains a `$` or control character.
    #[error("image {0:?} cannot be written in place of the old value's quoting style")]
    Unwritable(String),
    /// The edited text did not parse back to the original document with only
    /// the image changed; a bug guard, reported instead of a damaged file.
    #[error("the edited file did not verify: {0}")]
    Verification(String),
}

/// `text` with `services.<service>.image` changed from `old` to `new`,
/// everything else (comments, layout, line endings, the value's quoting
/// style, a trailing comment) unchanged.
///
/// `old` is compared with the unquoted value. The result is parsed again and
/// compared with the original document before it is returned.
pub fn set_image(text: &str, service: &str, old: &str, new: &str) -> Result<String, EditError> {
    let root = yaml::parse(text).map_err(EditError::Syntax)?;
    let path = [("services", "services"), (service, "service")];
    let mut node = &root;
    for (key, what) in path {
        node = unique_child(node, key, what)?
            .ok_or_else(|| EditError::ServiceNotFound(service.to_owned()))?;
    }
    let form = |form| EditError::Form {
        service: service.to_owned(),
        form,
    };
    if node.aliased {
        return Err(form("an alias"));
    }
    if !matches!(node.kind, Kind::Map(_)) {
        return Err(EditError::NoImage(service.to_owned()));
    }
    if text[node.start..].starts_with('{') {
        return Err(form("a flow mapping"));
    }
    let image = unique_child(node, "image", "image")?
        .ok_or_else(|| EditError::NoImage(service.to_owned()))?;
    let Kind::Str(current) = &image.kind else {
        return Err(form("a non-string value"));
    };
    if image.aliased {
        return Err(form("an alias"));
    }
    let raw = image.raw(text);
    if raw.contains(['\n', '\r']) {
        return Err(form("a multi-line value"));
    }
    if raw.starts_with(['|', '>', '&', '!', '*']) {
        return Err(form("a block scalar or a tagged value"));
    }
    if current.contains('$') {
        return Err(EditError::Variable(service.to_owned()));
    }
    if current != old {
        return Err(EditError::NotOld {
            service: service.to_owned(),
            found: current.clone(),
            expected: old.to_owned(),
        });
    }
    let replacement = quote_like(raw, new).ok_or_else(|| EditError::Unwritable(new.to_owned()))?;
    let edited = format!(
        "{}{replacement}{}",
        &text[..image.start],
        &text[image.start + raw.len()..]
    );
    verify(&root, &edited, image.start, new)?;
    Ok(edited)
}

/// The child of a mapping, refusing duplicate keys.
fn unique_child<'n>(node: &'n Node, key: &str, what: &str) -> Result<Option<&'n Node>, EditError> {
    let Kind::Map(entries) = &node.kind else {
        return Ok(None);
    };
    let mut found = entries
        .iter()
        .filter(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == key));
    let first = found.next();
    if found.next().is_some() {
        return Err(EditError::Ambiguous(format!(
            "{what} key `{key}` appears more than once"
        )));
    }
    Ok(first.map(|(_, v)| v))
}

/// `new` written in the quoting style of `raw`, or `None` if it cannot be.
fn quote_like(raw: &str, new: &str) -> Option<String> {
    if new.is_empty() || new.contains('$') || new.chars().any(char::is_control) {
        return None;
    }
    if raw.starts_with('\'') {
        return Some(format!("'{}'", new.replace('\'', "''")));
    }
    if raw.starts_with('"') {
        return Some(format!(
            "\"{}\"",
            new.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    // A plain scalar: only characters image references use, starting with an
    // alphanumeric, so that it cannot turn into a comment, a mapping or a number.
    let safe = new
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && new.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '@' | '-' | '+')
        });
    safe.then(|| new.to_owned())
}

/// Parses `edited` and checks it equals `original` except for the scalar at
/// byte `start`, which must now be the string `new`.
fn verify(original: &Node, edited: &str, start: usize, new: &str) -> Result<(), EditError> {
    let reparsed =
        yaml::parse(edited).map_err(|e| EditError::Verification(format!("does not parse: {e}")))?;
    let mut replaced = false;
    if same(original, &reparsed, start, new, &mut replaced) && replaced {
        Ok(())
    } else {
        Err(EditError::Verification(
            "the document changed in more than the image value".to_owned(),
        ))
    }
}

fn same(a: &Node, b: &Node, start: usize, new: &str, replaced: &mut bool) -> bool {
    if a.start == start && matches!(a.kind, Kind::Str(_)) {
        *replaced = true;
        return b.start == start && b.kind == Kind::Str(new.to_owned());
    }
    match (&a.kind, &b.kind) {
        (Kind::Seq(x), Kind::Seq(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| same(x, y, start, new, replaced))
        }
        (Kind::Map(x), Kind::Map(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((xk, xv), (yk, yv))| {
                    same(xk, yk, start, new, replaced) && same(xv, yv, start, new, replaced)
                })
        }
        (x, y) => x == y && a.aliased == b.aliased,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_only_the_value() {
        let cases: &[(&str, &str, &str)] = &[
            // (input, service, expected)
            (
                "services:\n  web:\n    image: nginx:1.25.1\n",
                "web",
                "services:\n  web:\n    image: nginx:1.25.3\n",
            ),
            (
                "services:\n  web:\n    image: 'nginx:1.25.1'\n",
                "web",
                "services:\n  web:\n    image: 'nginx:1.25.3'\n",
            ),
            (
                "services:\n  web:\n    image: \"nginx:1.25.1\"\n",
                "web",
                "services:\n  web:\n    image: \"nginx:1.25.3\"\n",
            ),
            (
                "services:\n  web:\n    image: nginx:1.25.1   # pinned\n    ports: [80]\n",
                "web",
                "services:\n  web:\n    image: nginx:1.25.3   # pinned\n    ports: [80]\n",
            ),
            (
                "services:\n  web:\n    image: \"nginx:1.25.1\"  # image: nginx:1.25.1\n",
                "web",
                "services:\n  web:\n    image: \"nginx:1.25.3\"  # image: nginx:1.25.1\n",
            ),
            (
                "services:\r\n  web:\r\n    image: nginx:1.25.1\r\n    tty: true\r\n",
                "web",
                "services:\r\n  web:\r\n    image: nginx:1.25.3\r\n    tty: true\r\n",
            ),
            (
                "services:\n    web:\n        image: nginx:1.25.1\n        restart: always\n",
                "web",
                "services:\n    web:\n        image: nginx:1.25.3\n        restart: always\n",
            ),
            // Other services with the same image are untouched, whichever comes first.
            (
                "services:\n  a:\n    image: nginx:1.25.1\n  web:\n    image: nginx:1.25.1\n  b:\n    image: nginx:1.25.1\n",
                "web",
                "services:\n  a:\n    image: nginx:1.25.1\n  web:\n    image: nginx:1.25.3\n  b:\n    image: nginx:1.25.1\n",
            ),
            // `image` in comments, in other keys and in values before the real key.
            (
                "# web:\n#   image: nginx:1.25.1\nservices:\n  web:\n    # image: nginx:1.25.1\n    labels:\n      image: nginx:1.25.1\n    environment: [image=nginx:1.25.1]\n    image: nginx:1.25.1\n",
                "web",
                "# web:\n#   image: nginx:1.25.1\nservices:\n  web:\n    # image: nginx:1.25.1\n    labels:\n      image: nginx:1.25.1\n    environment: [image=nginx:1.25.1]\n    image: nginx:1.25.3\n",
            ),
            // A service named in a comment before the real one.
            (
                "x-note: hi # web\nservices:\n  # web is below\n  db:\n    image: nginx:1.25.1\n  web:\n\n    image: nginx:1.25.1\n",
                "web",
                "x-note: hi # web\nservices:\n  # web is below\n  db:\n    image: nginx:1.25.1\n  web:\n\n    image: nginx:1.25.3\n",
            ),
        ];
        for (input, service, expected) in cases {
            assert_eq!(
                set_image(input, service, "nginx:1.25.1", "nginx:1.25.3").as_deref(),
                Ok(*expected),
                "{input}"
            );
        }
    }

    #[test]
    fn quotes_in_the_old_style() {
        assert_eq!(
            set_image("services:\n  w:\n    image: 'a'\n", "w", "a", "it's").unwrap(),
            "services:\n  w:\n    image: 'it''s'\n"
        );
        assert_eq!(
            set_image("services:\n  w:\n    image: \"a\"\n", "w", "a", "q\"\\").unwrap(),
            "services:\n  w:\n    image: \"q\\\"\\\\\"\n"
        );
        assert_eq!(
            set_image("services:\n  w:\n    image: 'x''y'\n", "w", "x'y", "z").unwrap(),
            "services:\n  w:\n    image: 'z'\n"
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, EditError)] = &[
            (
                "services:\n  db:\n    image: a\n",
                "nginx:1",
                EditError::ServiceNotFound("web".into()),
            ),
            (
                "services:\n  web:\n    tty: true\n",
                "nginx:1",
                EditError::NoImage("web".into()),
            ),
            (
                "services:\n  web:\n    image: nginx:2\n",
                "nginx:1",
                EditError::NotOld {
                    service: "web".into(),
                    found: "nginx:2".into(),
                    expected: "nginx:1".into(),
                },
            ),
            (
                "services:\n  web:\n    image: nginx:${TAG}\n",
                "nginx:1",
                EditError::Variable("web".into()),
            ),
            (
                "services:\n  web: {image: nginx:1}\n",
                "nginx:1",
                EditError::Form {
                    service: "web".into(),
                    form: "a flow mapping",
                },
            ),
            (
                "services:\n  web:\n    image: >-\n      nginx:1\n",
                "nginx:1",
                EditError::Form {
                    service: "web".into(),
                    form: "a multi-line value",
                },
            ),
            (
                "services:\n  web:\n    image: nginx:1\n    image: nginx:1\n",
                "nginx:1",
                EditError::Ambiguous("image key `image` appears more than once".into()),
            ),
            (
                "x: &i nginx:1\nservices:\n  web:\n    image: *i\n",
                "nginx:1",
                EditError::Form {
                    service: "web".into(),
                    form: "an alias",
                },
            ),
            (
                "services:\n  web:\n    image: [\n",
                "nginx:1",
                EditError::Syntax(String::new()),
            ),
        ];
        for (input, old, expected) in cases {
            let got = set_image(input, "web", old, "nginx:3");
            match (&got, expected) {
                (Err(EditError::Syntax(_)), EditError::Syntax(_)) => {}
                _ => assert_eq!(got.as_ref(), Err(expected), "{input}"),
            }
        }
        // A plain value cannot take something that would need quotes.
        assert_eq!(
            set_image("services:\n  web:\n    image: a\n", "web", "a", "b # c"),
            Err(EditError::Unwritable("b # c".into()))
        );
        assert_eq!(
            set_image("services:\n  web:\n    image: 'a'\n", "web", "a", "$x"),
            Err(EditError::Unwritable("$x".into()))
        );
    }
}
