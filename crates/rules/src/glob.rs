//! A tiny glob matcher: `*` matches any run of characters (including `/`),
//! `?` matches exactly one character; everything else matches itself.
//!
//! Hand-written instead of pulling in `globset` because swab only needs these
//! two wildcards, and names and image references cannot contain `[`, `{` or
//! `\` anyway, so no escaping or classes are needed. `*` crossing `/` is
//! deliberate: `registry.example.com/prod/*` must protect nested repositories
//! such as `registry.example.com/prod/team/app` too.

/// Whether `text` matches `pattern` in full.
///
/// Linear-space backtracking over the last `*` seen; worst case
/// `O(pattern * text)`, fine for names of at most a few hundred characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    // Docker names and references are ASCII: match bytes without allocating. Anything else
    // takes the `char` path so that `?` still matches one character, not one byte.
    if pattern.is_ascii() && text.is_ascii() {
        matches_slice(pattern.as_bytes(), text.as_bytes(), b'*', b'?')
    } else {
        let pattern: Vec<char> = pattern.chars().collect();
        let text: Vec<char> = text.chars().collect();
        matches_slice(&pattern, &text, '*', '?')
    }
}

fn matches_slice<T: Copy + PartialEq>(pattern: &[T], text: &[T], any: T, one: T) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == one || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == any {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == any)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn glob_cases() {
        let cases = [
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("ci-*", "ci-build-1", true),
            ("ci-*", "ci-", true),
            ("ci-*", "xci-1", false),
            ("db-?", "db-1", true),
            ("db-?", "db-12", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*.log", "a.b.log", true),
            ("prod/*", "prod/team/app", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("", "", true),
            ("", "x", false),
            ("**", "x", true),
            ("?", "é", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches(pattern, text), expected, "{pattern:?} vs {text:?}");
        }
    }
}
