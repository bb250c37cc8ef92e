//! Splitting a string `command:`/`entrypoint:` into words the way Compose does.
//!
//! compose-go (`types/command.go`) calls `shellwords.Parse` from
//! github.com/mattn/go-shellwords (v1.0.12 in Compose 2.40) with environment
//! and backtick expansion off. That is not a shell: a backslash escapes the
//! next character even inside double quotes, and the parser silently stops at
//! an unquoted `;`, `&`, `|`, `<` or `>` (so `echo a && echo b` becomes
//! `["echo", "a"]`). swab splits the plain subset (spaces, tabs and newlines,
//! both quote kinds, backslash escapes) and refuses the rest rather than
//! reproduce the truncation: `\t` and `\n` escapes also changed meaning in
//! later go-shellwords releases, so they are refused too.

/// Why a command string is outside the subset swab splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub &'static str);

/// The words of `line`, or why swab will not split it.
pub(crate) fn split(line: &str) -> Result<Vec<String>, Refused> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut have_word = false;
    let mut single = false;
    let mut double = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !single {
            let Some(next) = chars.next() else {
                return Err(Refused("ends with a lone backslash"));
            };
            if next == 't' || next == 'n' {
                return Err(Refused(
                    "uses a `\\t` or `\\n` escape, whose meaning differs between go-shellwords versions",
                ));
            }
            word.push(next);
            have_word = true;
            continue;
        }
        if matches!(c, ' ' | '\t' | '\r' | '\n') && !single && !double {
            if have_word {
                words.push(std::mem::take(&mut word));
                have_word = false;
            }
            continue;
        }
        match c {
            '\'' if !double => {
                single = !single;
                have_word = true;
            }
            '"' if !single => {
                double = !double;
                have_word = true;
            }
            '`' | '(' | ')' | ';' | '&' | '|' | '<' | '>' if !single && !double => {
                return Err(Refused(
                    "has an unquoted shell operator (`;&|<>()` or a backtick), where go-shellwords stops or fails",
                ));
            }
            c => {
                word.push(c);
                have_word = true;
            }
        }
    }
    if single || double {
        return Err(Refused("has an unterminated quote"));
    }
    if have_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_go_shellwords() {
        let cases: [(&str, &[&str]); 9] = [
            ("sleep 300", &["sleep", "300"]),
            ("  a\t b \n", &["a", "b"]),
            (
                r#"sh -c 'echo "hi there" && sleep 3' x\ y"#,
                &["sh", "-c", "echo \"hi there\" && sleep 3", "x y"],
            ),
            (r#"a"b c"d"#, &["ab cd"]),
            (r#"'' "" x"#, &["", "", "x"]),
            (r#""a\"b" 'c\d'"#, &["a\"b", "c\\d"]),
            (r"\a\$", &["a$"]),
            ("", &[]),
            ("\"a;b|c\"", &["a;b|c"]),
        ];
        for (line, expected) in cases {
            assert_eq!(split(line).unwrap(), expected, "{line:?}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_reproduce() {
        for line in [
            "echo a && echo b",
            "a; b",
            "a | b",
            "x > y",
            "$(x)",
            "`x`",
            "'open",
            "\"open",
            "a\\",
            r"a\tb",
        ] {
            assert!(split(line).is_err(), "{line:?}");
        }
    }
}
