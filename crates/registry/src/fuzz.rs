//! Property tests that throw arbitrary and near-valid input at everything this crate reads
//! from a registry or from the user's docker config: `WWW-Authenticate` challenges, `Link`
//! pagination headers, `Retry-After`, Docker Hub's rate-limit headers, `config.json` and a
//! credential helper's output.
//!
//! A janitor that runs unattended is fed whatever a registry, a proxy in front of it or a
//! hand-edited config file holds. Each of these readers must end in a value or a typed error,
//! never a panic that takes a whole run down, and an error about the config file must never
//! quote the secrets in it. The properties live in the crate (not in `tests/`) because most
//! of the parsers are crate-private.
//!
//! The runs are deterministic for CI: a fixed seed and 256 cases per property unless
//! `PROPTEST_RNG_SEED` or `PROPTEST_CASES` say otherwise (see [`config`]), and no failure
//! persistence files are written into the checkout.

use std::path::Path;
use std::process::{ExitStatus, Output};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, RngSeed};
use serde_json::{Map, Value, json};

use crate::challenge::parse_challenges;
use crate::client::{next_link, parse_retry_after};
use crate::credentials::{normalize_registry_key, read_helper_output};
use crate::{CredentialStore, Credentials, RateLimit, RegistryError, Secret};

/// The seed CI runs with, so a failure there reproduces on any machine.
const SEED: u64 = 0x5357_4142_4655_5a5a;

/// 256 cases from [`SEED`], no persistence files; `PROPTEST_CASES` and `PROPTEST_RNG_SEED`
/// override the count and the seed for a longer or different exploration. XorShift, because
/// ChaCha (proptest's other seeded generator) costs more than the tests themselves in an
/// unoptimized build.
fn config() -> ProptestConfig {
    let env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            256
        },
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: match env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            fixed @ RngSeed::Fixed(_) => fixed,
        },
        failure_persistence: None,
        ..env
    }
}

/// Pieces of challenges: schemes, parameters, quotes, escapes, separators and multi-byte
/// characters that land anywhere once concatenated.
const CHALLENGE_PIECES: &[&str] = &[
    "Bearer",
    "Basic",
    "bEaReR",
    "Negotiate",
    "realm",
    "service",
    "scope",
    "=",
    "==",
    "\"",
    "\\",
    "\\\"",
    ",",
    ", ",
    " ",
    "\t",
    ";",
    "\r\n",
    "realm=\"https://auth.example/token\"",
    "service=registry.example",
    "scope=\"repository:a/b:pull,push\"",
    "error_description=\"expired, renew\"",
    "\"unterminated",
    "abc==",
    "realm=",
    "=x",
    "\"\"",
    "é",
    "€",
    "😀",
    "\u{0}",
    "\u{feff}",
];

/// A scheme as registries spell it: an RFC 7230 token in any case.
fn scheme() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}"
}

/// One parameter, as (name, value, whether to quote the value). Bare values are tokens
/// (non-empty, as RFC 7235 requires); quoted ones are any printable text, quotes, backslashes
/// and commas included.
fn param() -> impl Strategy<Value = (String, String, bool)> {
    let name = "[A-Za-z][A-Za-z0-9_.-]{0,12}";
    prop_oneof![
        (name, "\\PC{0,30}").prop_map(|(n, v)| (n, v, true)),
        (name, "[A-Za-z0-9._~/:+=!#$%&'*^`|-]{1,20}").prop_map(|(n, v)| (n, v, false)),
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(","), Just(", "), Just(" , "), Just("\t,"), Just(" ")]
}

fn render_challenge(
    scheme: &str,
    params: &[((String, String, bool), &str)],
    first_space: &str,
) -> String {
    let mut out = scheme.to_owned();
    for (i, ((name, value, quoted), sep)) in params.iter().enumerate() {
        out.push_str(if i == 0 { first_space } else { sep });
        out.push_str(name);
        out.push('=');
        if *quoted {
            out.push('"');
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(value);
        }
    }
    out
}

/// A URL a registry could put in `Link`, `,` and `;` included.
fn link_target() -> impl Strategy<Value = String> {
    prop_oneof![
        "/v2/[a-z0-9._/-]{1,30}/tags/list\\?last=[A-Za-z0-9_.-]{0,20}&n=[0-9]{1,4}",
        // `,` and `;` are legal in a URL and must not cut it; `<`, `>` and `"` cannot be in
        // a Link target.
        "https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?/[!-~&&[^<>\"]]{0,40}",
        "[^<>\"]{0,40}",
    ]
}

/// `rel` spellings the parser must take as "next".
fn next_rel() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("rel=\"next\""),
        Just("rel=next"),
        Just(" rel = \"next\" "),
        Just("rel=\"next\"\t"),
    ]
}

/// Parameters that do not make an entry the next page.
fn other_rel() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("rel=\"prev\""),
        Just("rel=prev"),
        Just("rel=\"first\""),
        Just("rel=\"last\""),
        Just("rel=\"nextpage\""),
        Just("rev=\"next\""),
        Just("title=\"next\""),
        Just("type=\"application/json\""),
    ]
}

/// JSON scalars with the awkward values: nulls, extreme and fractional numbers, odd text.
fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ]
}

/// Arbitrary JSON, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every secret the config generator writes starts with this, so an error message can be
/// searched for secrets without coincidental matches.
const SECRET_MARK: &str = "s3cr3t";

fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+/]{4,12}".prop_map(|s| format!("{SECRET_MARK}{s}"))
}

/// An `auth` value: valid base64 of `user:password`, with or without padding and
/// surrounding whitespace, base64 of arbitrary (often non-UTF-8) bytes, or plain garbage.
fn auth_value() -> impl Strategy<Value = String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    prop_oneof![
        ("[^:]{0,10}", secret(), any::<bool>(), "[ \t\n]{0,2}").prop_map(
            |(user, password, pad, ws)| {
                let text = format!("{user}:{password}");
                let encoded = if pad {
                    STANDARD.encode(text)
                } else {
                    STANDARD_NO_PAD.encode(text)
                };
                format!("{ws}{encoded}{ws}")
            }
        ),
        vec(any::<u8>(), 0..24).prop_map(|bytes| STANDARD.encode(bytes)),
        "[A-Za-z0-9+/=_-]{0,30}",
        secret(),
    ]
}

/// A value of `auths`: an entry with the right keys holding strings, secrets or wrong types,
/// or something that is not an entry at all.
fn auth_entry() -> impl Strategy<Value = Value> {
    let field = |s: BoxedStrategy<String>| {
        prop_oneof![
            2 => Just(None),
            3 => s.clone().prop_map(|v| Some(Value::String(v))),
            1 => s.prop_map(|v| Some(json!([v]))),
            1 => json_value().prop_map(Some),
        ]
    };
    prop_oneof![
        6 => (
            field(auth_value().boxed()),
            field("\\PC{0,10}".boxed()),
            field(secret().boxed()),
            field(secret().boxed()),
        )
            .prop_map(|(auth, username, password, token)| {
                let mut entry = Map::new();
                for (key, value) in [
                    ("auth", auth),
                    ("username", username),
                    ("password", password),
                    ("identitytoken", token),
                ] {
                    if let Some(value) = value {
                        entry.insert(key.to_owned(), value);
                    }
                }
                Value::Object(entry)
            }),
        1 => secret().prop_map(Value::String),
        1 => json_value(),
    ]
}

fn registry_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://index.docker.io/v1/".to_owned()),
        Just("docker.io".to_owned()),
        Just("ghcr.io".to_owned()),
        Just("HTTP://R.Example/v2/".to_owned()),
        Just("127.0.0.1:5000".to_owned()),
        Just(String::new()),
        "\\PC{0,12}",
    ]
}

/// A helper name: valid, path-like (refused before anything runs) or not a string.
fn helper_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z0-9._-]{0,10}".prop_map(Value::String),
        Just(json!("../../bin/sh")),
        Just(json!("/bin/sh")),
        "\\PC{0,10}".prop_map(Value::String),
        json_value(),
    ]
}

/// A docker config: `auths`, `credsStore` and `credHelpers` with random content, plus
/// unknown keys.
fn docker_config() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(prop_oneof![
            4 => btree_map(registry_key(), auth_entry(), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            1 => json_value(),
        ]),
        proptest::option::of(helper_name()),
        proptest::option::of(prop_oneof![
            3 => btree_map(registry_key(), helper_name(), 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            1 => json_value(),
        ]),
        btree_map("\\PC{0,8}", json_value(), 0..3),
    )
        .prop_map(|(auths, creds_store, cred_helpers, extra)| {
            let mut config: Map<String, Value> = extra.into_iter().collect();
            for (key, value) in [
                ("auths", auths),
                ("credsStore", creds_store),
                ("credHelpers", cred_helpers),
            ] {
                if let Some(value) = value {
                    config.insert(key.to_owned(), value);
                }
            }
            Value::Object(config)
        })
}

/// Damages serialized JSON: cut short, or a byte (often invalid UTF-8) put somewhere.
fn damage(mut bytes: Vec<u8>, cut: Option<usize>, insert: Option<(usize, u8)>) -> Vec<u8> {
    if let Some((at, byte)) = insert {
        let at = at % (bytes.len() + 1);
        bytes.insert(at, byte);
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

/// Every string in a JSON tree that starts with [`SECRET_MARK`].
fn secrets_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains(SECRET_MARK) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| secrets_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| secrets_in(v, out)),
        _ => {}
    }
}

fn exit_status(code: i32) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt as _;
    ExitStatus::from_raw(code << 8)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn challenges_from_arbitrary_text_never_panic(header in "(?s).{0,200}") {
        for challenge in parse_challenges(&header) {
            // Whatever was read is well-formed: a lowercase token and named parameters.
            prop_assert!(!challenge.scheme.is_empty());
            prop_assert_eq!(challenge.scheme.to_ascii_lowercase(), challenge.scheme.clone());
            for (name, _) in &challenge.params {
                prop_assert!(!name.is_empty());
                prop_assert_eq!(name.to_ascii_lowercase(), name.clone());
            }
        }
    }

    #[test]
    fn challenges_from_mangled_pieces_never_panic(
        picks in vec(0..CHALLENGE_PIECES.len(), 0..24),
    ) {
        let header: String = picks.iter().map(|&i| CHALLENGE_PIECES[i]).collect();
        let _ = parse_challenges(&header);
    }

    /// Challenges rendered from parts parse back to those parts, whatever the quoting,
    /// escapes, commas inside quotes, case and separators.
    #[test]
    fn challenges_round_trip(
        challenges in vec(
            (scheme(), vec((param(), separator()), 0..5), prop_oneof![Just(" "), Just("  ")]),
            1..4,
        ),
        between in separator(),
    ) {
        let header = challenges
            .iter()
            .map(|(scheme, params, space)| render_challenge(scheme, params, space))
            .collect::<Vec<_>>()
            .join(between);
        let parsed = parse_challenges(&header);
        prop_assert_eq!(parsed.len(), challenges.len(), "header: {}", header);
        for (got, (scheme, params, _)) in parsed.iter().zip(&challenges) {
            prop_assert_eq!(&got.scheme, &scheme.to_ascii_lowercase(), "header: {}", header);
            let want: Vec<(String, String)> = params
                .iter()
                .map(|((name, value, _), _)| (name.to_ascii_lowercase(), value.clone()))
                .collect();
            prop_assert_eq!(&got.params, &want, "header: {}", header);
        }
    }

    /// `next_link` on any text: no panic, and a link it finds is one that was between
    /// angle brackets. What it returns is then joined to the current URL, which must fail
    /// with an error, not a panic, when the link is garbage.
    #[test]
    fn link_from_arbitrary_text_never_panics(header in "(?s).{0,200}") {
        if let Some(target) = next_link(&header) {
            let bracketed = format!("<{target}>");
            prop_assert!(header.contains(&bracketed), "{:?} from {:?}", target, header);
            let base = reqwest::Url::parse("https://r.example/v2/a/tags/list?n=100").unwrap();
            let _ = base.join(&target);
        }
    }

    #[test]
    fn link_from_mangled_entries_never_panics(
        entries in vec(
            (link_target(), any::<bool>(), any::<bool>(), vec(other_rel(), 0..3), next_rel()),
            0..4,
        ),
        sep in prop_oneof![Just(","), Just(", "), Just(",,"), Just(" ")],
    ) {
        let header = entries
            .iter()
            .map(|(url, open, close, params, rel)| {
                let mut entry = format!(
                    "{}{url}{}",
                    if *open { "<" } else { "" },
                    if *close { ">" } else { "" }
                );
                for p in params.iter().chain(std::iter::once(rel)) {
                    entry.push(';');
                    entry.push_str(p);
                }
                entry
            })
            .collect::<Vec<_>>()
            .join(sep);
        let _ = next_link(&header);
    }

    /// A `Link` header built around a URL gives that URL back, among other entries and
    /// parameters; without a `next` entry it gives nothing.
    #[test]
    fn link_round_trips(
        before in vec((link_target(), other_rel()), 0..3),
        target in link_target(),
        params_before in vec(other_rel(), 0..2),
        rel in next_rel(),
        params_after in vec(other_rel(), 0..2),
        after in vec((link_target(), other_rel()), 0..3),
        space in prop_oneof![Just(""), Just(" "), Just("\t")],
    ) {
        let entry = |url: &str, params: &[&str]| {
            let mut entry = format!("{space}<{url}>{space}");
            for p in params {
                entry.push(';');
                entry.push_str(p);
            }
            entry
        };
        let others = |list: &[(String, &str)]| {
            list.iter().map(|(url, rel)| entry(url, &[*rel])).collect::<Vec<_>>()
        };
        let mut params = params_before.clone();
        params.push(rel);
        params.extend(&params_after);
        let mut entries = others(&before);
        entries.push(entry(&target, &params));
        entries.extend(others(&after));
        let header = entries.join(",");
        prop_assert_eq!(next_link(&header), Some(target), "header: {}", header);
        let mut without = others(&before);
        without.extend(others(&after));
        prop_assert_eq!(next_link(&without.join(",")), None);
    }

    #[test]
    fn retry_after_never_panics(value in "(?s).{0,60}") {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let _ = parse_retry_after(&value, now);
    }

    /// Dates in the RFC 2822 shape with out-of-range fields and odd zones, and delay seconds
    /// of any size: no panic, and a number of seconds reads as exactly that delay.
    #[test]
    fn retry_after_near_valid(
        fields in (
            prop_oneof![Just("Sun"), Just("Mon"), Just("Xyz"), Just("")],
            0u32..40,
            prop_oneof![Just("Nov"), Just("Feb"), Just("Foo")],
            prop_oneof![0i64..100_000, Just(i64::MAX), Just(-1)],
            0u32..30, 0u32..70, 0u32..70,
            prop_oneof![Just("GMT"), Just("UT"), Just("+9999"), Just("-0000"), Just("EST"), Just("Z"), Just("")],
        ),
        seconds in any::<u64>(),
        padding in "[ \t]{0,2}",
    ) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (weekday, day, month, year, h, m, s, zone) = fields;
        let date = format!("{weekday}, {day:02} {month} {year} {h:02}:{m:02}:{s:02} {zone}");
        let _ = parse_retry_after(&date, now);
        prop_assert_eq!(
            parse_retry_after(&format!("{padding}{seconds}{padding}"), now),
            Some(Duration::from_secs(seconds))
        );
    }

    /// A real HTTP date reads as the time until it, or zero once it has passed.
    #[test]
    fn retry_after_dates_round_trip(offset in -2_000_000_000i64..2_000_000_000) {
        let now_secs = 1_700_000_000i64;
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs.unsigned_abs());
        let date = chrono::DateTime::from_timestamp(now_secs + offset, 0).unwrap().to_rfc2822();
        prop_assert_eq!(
            parse_retry_after(&date, now),
            Some(Duration::from_secs(offset.max(0).unsigned_abs())),
            "{}", date
        );
    }

    #[test]
    fn rate_limit_never_panics(
        limit in proptest::option::of("(?s).{0,30}"),
        remaining in proptest::option::of("(?s).{0,30}"),
    ) {
        if let Some(parsed) = RateLimit::from_headers(limit.as_deref(), remaining.as_deref()) {
            let _ = parsed.to_string();
        }
    }

    /// Hub's header shape with any numbers and spacing reads back as those numbers.
    #[test]
    fn rate_limit_round_trips(
        limit in any::<u64>(),
        remaining in any::<u64>(),
        limit_window in proptest::option::of(any::<u64>()),
        remaining_window in proptest::option::of(any::<u64>()),
        space in "[ \t]{0,2}",
        // Another parameter, never `w=`.
        extra in proptest::option::of("[a-vx-z][a-z]{0,4}=[a-z0-9]{0,5}"),
    ) {
        let render = |count: u64, window: Option<u64>| {
            let mut text = format!("{space}{count}{space}");
            if let Some(extra) = &extra {
                text = format!("{text};{space}{extra}");
            }
            if let Some(w) = window {
                text = format!("{text};{space}w={w}{space}");
            }
            text
        };
        let parsed = RateLimit::from_headers(
            Some(&render(limit, limit_window)),
            Some(&render(remaining, remaining_window)),
        );
        prop_assert_eq!(
            parsed,
            Some(RateLimit {
                limit,
                remaining,
                window_seconds: limit_window.or(remaining_window),
            })
        );
        let _ = parsed.map(|p| p.to_string());
    }

    #[test]
    fn docker_config_from_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..300)) {
        match CredentialStore::from_docker_config_json(&bytes, Path::new("config.json")) {
            Ok(_) | Err(RegistryError::Config { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
        }
    }

    /// Configs with the right keys and random content, possibly cut short or with a stray
    /// byte: reading the file and looking up every registry it names ends in credentials,
    /// nothing, or a config or helper error, and an error never quotes a secret. Helpers are
    /// looked up in a directory that does not exist, so none ever runs.
    #[test]
    fn docker_config_lookups_never_panic_or_leak(
        config in docker_config(),
        cut in proptest::option::of(any::<usize>()),
        insert in proptest::option::of((any::<usize>(), any::<u8>())),
        asked in vec(registry_key(), 0..3),
    ) {
        let mut secrets = Vec::new();
        secrets_in(&config, &mut secrets);
        let mut registries: Vec<String> = match &config["auths"] {
            Value::Object(auths) => auths.keys().cloned().collect(),
            _ => Vec::new(),
        };
        registries.extend(asked);
        registries.push("docker.io".to_owned());
        let bytes = damage(serde_json::to_vec(&config).unwrap(), cut, insert);
        let store = match CredentialStore::from_docker_config_json(&bytes, Path::new("config.json")) {
            Ok(store) => store.with_helper_dir("/nonexistent/swab-fuzz"),
            Err(err) => {
                prop_assert!(matches!(err, RegistryError::Config { .. }), "{err:?}");
                let text = err.to_string();
                for secret in &secrets {
                    prop_assert!(!text.contains(secret.as_str()), "{} leaks {}", text, secret);
                }
                return Ok(());
            }
        };
        let rt = runtime();
        for registry in &registries {
            match rt.block_on(store.get(registry)) {
                Ok(_) => {}
                Err(err @ (RegistryError::Config { .. } | RegistryError::CredentialHelper { .. })) => {
                    let text = err.to_string();
                    for secret in &secrets {
                        prop_assert!(!text.contains(secret.as_str()), "{} leaks {}", text, secret);
                    }
                }
                Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
            }
        }
    }

    /// A well-formed `auth` entry always gives back its user and password (split at the
    /// first colon), with or without base64 padding and surrounding whitespace.
    #[test]
    fn docker_config_auth_round_trips(
        user in "[^:]{1,12}",
        password in "\\PC{0,20}",
        pad in any::<bool>(),
        ws in "[ \t\n]{0,2}",
        key in registry_key(),
    ) {
        let engine = if pad {
            base64::engine::general_purpose::STANDARD
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD
        };
        let auth = format!("{ws}{}{ws}", engine.encode(format!("{user}:{password}")));
        let key = if key.trim().is_empty() { "r.example".to_owned() } else { key };
        let config = json!({"auths": {key.clone(): {"auth": auth}}});
        let store = CredentialStore::from_docker_config_json(
            &serde_json::to_vec(&config).unwrap(),
            Path::new("config.json"),
        )
        .unwrap();
        let got = runtime().block_on(store.get(&key)).unwrap();
        prop_assert_eq!(got, Some(Credentials::basic(user, password)));
    }

    /// A helper's output, any bytes with any exit status: an answer or a reason, and the
    /// reason quotes at most 300 characters of what the helper printed.
    #[test]
    fn helper_output_never_panics(
        code in prop_oneof![Just(0), Just(1), Just(2), Just(255)],
        stdout in vec(any::<u8>(), 0..400),
        stderr in vec(any::<u8>(), 0..400),
    ) {
        let output = Output { status: exit_status(code), stdout, stderr };
        if let Err(reason) = read_helper_output(&output) {
            prop_assert!(reason.chars().count() <= 360, "{} chars", reason.chars().count());
        }
    }

    /// Answers with the right keys holding any JSON, other keys, cut short or with a stray
    /// byte: no panic; a well-formed answer gives exactly its credentials.
    #[test]
    fn helper_answers_never_panic(
        username in prop_oneof![
            Just(json!("<token>")),
            "\\PC{0,10}".prop_map(Value::String),
            json_value(),
        ],
        secret in prop_oneof![
            3 => "\\PC{0,12}".prop_map(Value::String),
            1 => json_value(),
        ],
        extra in btree_map("\\PC{0,8}", json_value(), 0..3),
        cut in proptest::option::of(any::<usize>()),
        insert in proptest::option::of((any::<usize>(), any::<u8>())),
    ) {
        let mut answer: Map<String, Value> = extra.into_iter().collect();
        answer.insert("Username".to_owned(), username.clone());
        answer.insert("Secret".to_owned(), secret.clone());
        let stdout = serde_json::to_vec(&Value::Object(answer)).unwrap();
        let damaged = cut.is_some() || insert.is_some();
        let stdout = damage(stdout, cut, insert);
        let got = read_helper_output(&Output { status: exit_status(0), stdout, stderr: Vec::new() });
        if let (false, Value::String(user), Value::String(secret)) = (damaged, &username, &secret) {
            let want = if secret.is_empty() {
                None
            } else if user == "<token>" {
                Some(Credentials::IdentityToken { token: Secret::new(secret.clone()) })
            } else {
                Some(Credentials::basic(user.clone(), secret.clone()))
            };
            prop_assert_eq!(got, Ok(want));
        }
    }

    #[test]
    fn registry_keys_never_panic(key in "(?s).{0,60}") {
        let _ = normalize_registry_key(&key);
    }
}
