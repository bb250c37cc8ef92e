//! `WWW-Authenticate` parsing (RFC 7235 challenges, as registries send them).
//!
//! Registries put commas inside quoted values (`scope="repository:a:pull,push"`), may send
//! several challenges in one header (`Basic realm="x", Bearer realm="y"`) and spell scheme
//! and parameter names in any case, so splitting on `,` is not enough: this is a small
//! cursor-based parser over the header text that never fails, it only drops what it cannot
//! read.

/// One challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme, lowercased: `bearer`, `basic`.
    pub scheme: String,
    /// Parameters in order; names lowercased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of a parameter (names compare case-insensitively).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

fn is_token_char(c: char) -> bool {
    // RFC 7230 tchar, plus `/` and `:` that some servers put in unquoted values.
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while self
            .peek()
            .is_some_and(|c| c == ' ' || c == '\t' || c == ',')
        {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| is_token_char(c)) {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    /// A quoted string after its opening quote; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        let mut value = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return value;
                }
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                _ => value.push(c),
            }
        }
        self.pos = self.text.len();
        value
    }

    /// An unquoted value: everything up to the next separator.
    fn bare_value(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| c != ',' && c != ' ' && c != '\t') {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }
}

/// Parses all challenges in one `WWW-Authenticate` value.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut cursor = Cursor {
        text: header,
        pos: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        cursor.skip_separators();
        if cursor.peek().is_none() {
            break;
        }
        let scheme = cursor.token().to_ascii_lowercase();
        if scheme.is_empty() {
            // A character that starts nothing we know: skip it rather than loop forever.
            cursor.pos += cursor.peek().map_or(1, char::len_utf8);
            continue;
        }
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        // Parameters until something that is not `name=value` (the next scheme) or the end.
        loop {
            cursor.skip_separators();
            let start = cursor.pos;
            let name = cursor.token().to_ascii_lowercase();
            cursor.skip_whitespace();
            if name.is_empty() || cursor.peek() != Some('=') {
                cursor.pos = start;
                break;
            }
            cursor.pos += 1;
            cursor.skip_whitespace();
            let value = if cursor.peek() == Some('"') {
                cursor.pos += 1;
                cursor.quoted()
            } else {
                cursor.bare_value().to_owned()
            };
            challenge.params.push((name, value));
        }
        challenges.push(challenge);
    }
    challenges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_owned(),
            params: params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn parses_challenges() {
        let cases: Vec<(&str, Vec<Challenge>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
                vec![challenge(
                    "bearer",
                    &[
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:samalba/my-app:pull,push"),
                    ],
                )],
            ),
            (
                r#"Basic realm="swab-test""#,
                vec![challenge("basic", &[("realm", "swab-test")])],
            ),
            (
                "bearer Realm=https://t.example/token ,  Service = reg.example",
                vec![challenge(
                    "bearer",
                    &[
                        ("realm", "https://t.example/token"),
                        ("service", "reg.example"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="a \"quoted\", realm\\x""#,
                vec![challenge("bearer", &[("realm", r#"a "quoted", realm\x"#)])],
            ),
            (
                r#"Basic realm="r", Bearer realm="https://t",service="s""#,
                vec![
                    challenge("basic", &[("realm", "r")]),
                    challenge("bearer", &[("realm", "https://t"), ("service", "s")]),
                ],
            ),
            (
                r#"Bearer realm="https://t",error="invalid_token",error_description="expired, renew""#,
                vec![challenge(
                    "bearer",
                    &[
                        ("realm", "https://t"),
                        ("error", "invalid_token"),
                        ("error_description", "expired, renew"),
                    ],
                )],
            ),
            (
                r#"Bearer realm="https://unterminated"#,
                vec![challenge("bearer", &[("realm", "https://unterminated")])],
            ),
            ("Negotiate", vec![challenge("negotiate", &[])]),
            ("", vec![]),
            (" , ", vec![]),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_challenges(header), expected, "header: {header}");
        }
    }

    #[test]
    fn param_lookup_ignores_case() {
        let parsed = parse_challenges(r#"Bearer REALM="x""#);
        assert_eq!(parsed[0].param("realm"), Some("x"));
        assert_eq!(parsed[0].param("Realm"), Some("x"));
        assert_eq!(parsed[0].param("service"), None);
    }

    #[test]
    fn garbage_does_not_loop_or_panic() {
        for header in ["\"\"\"", "=,=,=", "Bearer =x", "Bearer realm=", "€ Bearer"] {
            let _ = parse_challenges(header);
        }
        assert_eq!(
            parse_challenges("Bearer realm=")[0].param("realm"),
            Some("")
        );
    }
}
