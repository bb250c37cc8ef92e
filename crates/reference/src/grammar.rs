//! The pieces of Docker's reference grammar, shared by [`ImageRef::parse`](crate::ImageRef::parse)
//! and by pattern parsers that allow wildcards (`allow_wildcards`: `*` and `?` count as valid
//! characters).

use crate::{DEFAULT_REGISTRY, ImageRefError};

/// Longest tag Docker accepts.
const MAX_TAG_LEN: usize = 128;

/// Splits `name[:tag][@digest]`; the tag separator is the last `:` after the
/// last `/`, so the port in `localhost:5000/x` is not a tag.
pub fn split(text: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name_and_tag, digest) = match text.split_once('@') {
        Some((left, right)) => (left, Some(right)),
        None => (text, None),
    };
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    match name_and_tag[last_slash..].rfind(':') {
        Some(colon) => {
            let colon = last_slash + colon;
            (
                &name_and_tag[..colon],
                Some(&name_and_tag[colon + 1..]),
                digest,
            )
        }
        None => (name_and_tag, None, digest),
    }
}

/// Whether a first path component names a registry host: it has a `.` or a
/// port `:`, or is `localhost` (Docker's own rule).
pub fn is_registry(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// Maps the legacy Docker Hub host names to `docker.io`.
pub fn canonical_registry(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY,
        other => other,
    }
}

/// Whether `tag` is a tag Docker accepts (1 to 128 of `[A-Za-z0-9_.-]`).
pub fn valid_tag_chars(tag: &str, allow_wildcards: bool) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '.' | '-')
                || (allow_wildcards && matches!(c, '*' | '?'))
        })
}

/// Whether `digest` is `algorithm:hex` as Docker accepts it.
pub fn valid_digest(digest: &str, allow_wildcards: bool) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return allow_wildcards
            && !digest.is_empty()
            && digest.chars().all(|c| c == '*' || c == '?');
    };
    let ok = |c: char, extra: &[char]| {
        c.is_ascii_alphanumeric()
            || extra.contains(&c)
            || (allow_wildcards && matches!(c, '*' | '?'))
    };
    !algorithm.is_empty()
        && !hex.is_empty()
        && algorithm.chars().all(|c| ok(c, &['+', '.', '_', '-']))
        && hex.chars().all(|c| ok(c, &['=', '_', '-']))
}

/// Checks a repository path (with its registry host): lowercase, allowed characters, no
/// empty component.
pub fn valid_path_chars(path: &str, allow_wildcards: bool) -> Result<(), ImageRefError> {
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            return Err(ImageRefError::Uppercase(path.to_owned()));
        }
        let ok = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '.' | '_' | '-' | '/' | ':')
            || (allow_wildcards && matches!(c, '*' | '?'));
        if !ok {
            return Err(ImageRefError::InvalidCharacter(path.to_owned()));
        }
    }
    if path.split('/').any(str::is_empty) {
        return Err(ImageRefError::EmptyComponent(path.to_owned()));
    }
    Ok(())
}

/// Whether `text` is a bare image ID (`sha256:` and 64 hex digits), not a reference.
pub fn is_image_id(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}
