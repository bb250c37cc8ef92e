//! The `hosts:` section: the Docker hosts one rule file acts on.
//!
//! Read after `rules:`, because a host's `rules` must name rules of the file. Those names
//! come from the raw tree ([`declared_rule_names`]), not from the built rules, so that a
//! rule with an unrelated mistake still counts as declared and a host naming it gets no
//! second, misleading error. Validation is pure: TLS files are named, never opened, and
//! endpoints are checked by their syntax only.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::{Entries, Entry, Resolver, join_backticked, suggest};
use crate::diag::{ErrorKind, Position};
use crate::model::{Host, HostEndpoint, HostTls};
use crate::node::{Kind, Node};
use crate::select::check_key;

/// Keys of one `hosts:` entry.
const HOST_KEYS: &[&str] = &["name", "endpoint", "context", "tls", "labels", "rules"];
/// The host keys that say how to reach a host, for the hint when one is written at the
/// top level.
pub(super) const ENDPOINT_KEYS: &[&str] = &["endpoint", "context", "tls"];
/// Keys of a host's `tls:`.
pub(super) const TLS_KEYS: &[&str] = &["ca", "cert", "key", "verify"];
/// Longest host name: it names a report section and the host's state.
const MAX_HOST_NAME: usize = 64;

/// The `name` of every item under `rules:` that has a string one, valid or not.
pub(super) fn declared_rule_names(rules: Option<&Node>) -> Vec<&str> {
    let Some(Node {
        kind: Kind::Seq(items),
        ..
    }) = rules
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match &item.kind {
            Kind::Map(pairs) => {
                pairs
                    .iter()
                    .find_map(|(key, value)| match (&key.kind, &value.kind) {
                        (Kind::Str(key), Kind::Str(name)) if key == "name" => Some(name.as_str()),
                        _ => None,
                    })
            }
            _ => None,
        })
        .collect()
}

/// `[A-Za-z0-9._-]`, 1 to 64 characters.
fn is_host_name(name: &str) -> bool {
    (1..=MAX_HOST_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks an endpoint's syntax: `unix://` and an absolute path, or `tcp://` and
/// `host[:port]`. The error is the reason, for [`ErrorKind::InvalidEndpoint`].
fn check_endpoint(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("it is empty".to_owned());
    }
    if let Some(path) = url.strip_prefix("unix://") {
        return if path.len() > 1 && path.starts_with('/') {
            Ok(())
        } else if path.is_empty() || path == "/" {
            Err("the socket path is missing".to_owned())
        } else {
            Err(format!(
                "the socket path must be absolute (three slashes: `unix:///{path}`)"
            ))
        };
    }
    if let Some(authority) = url.strip_prefix("tcp://") {
        return check_authority(authority);
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(match scheme {
            "ssh" => "ssh is not supported; forward the socket (`ssh -L /tmp/docker.sock:/var/run/docker.sock HOST`) and use `unix:///tmp/docker.sock`".to_owned(),
            "http" | "https" => format!("`{scheme}://` is not accepted here; write `tcp://` (with `tls:` for TLS)"),
            _ if scheme.eq_ignore_ascii_case("tcp") || scheme.eq_ignore_ascii_case("unix") => {
                format!("write the scheme in lowercase: `{}://`", scheme.to_ascii_lowercase())
            }
            _ => format!("the scheme `{scheme}` is not supported"),
        });
    }
    if url.starts_with('/') {
        return Err(format!("a bare path has no scheme; write `unix://{url}`"));
    }
    Err(format!(
        "it has no scheme; write `tcp://{url}` or `unix:///PATH`"
    ))
}

/// `host[:port]` after `tcp://`: a non-empty host (an IPv6 address in brackets) and an
/// optional port from 1 to 65535, and nothing else.
fn check_authority(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("the host is missing after `tcp://`".to_owned());
    }
    if authority.contains(['/', '?', '#', '@']) || authority.contains(char::is_whitespace) {
        return Err(
            "a `tcp://` endpoint is only `HOST[:PORT]`, without a path, user or spaces".to_owned(),
        );
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return Err("the `[` of an IPv6 address is not closed".to_owned());
        };
        let is_ipv6 = address.contains(':')
            && address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
        if !is_ipv6 {
            return Err(format!("`[{address}]` is not an IPv6 address"));
        }
        match after.strip_prefix(':') {
            Some(port) => (address, Some(port)),
            None if after.is_empty() => (address, None),
            None => return Err(format!("unexpected `{after}` after `]`")),
        }
    } else {
        match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err("an IPv6 address needs brackets, such as `tcp://[::1]:2376`".to_owned());
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing after `tcp://`".to_owned());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!("`{host}` is not a host name or IP address"));
    }
    match port {
        None => Ok(()),
        Some(port) => match port.parse::<u32>() {
            Ok(1..=65_535) if port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ if port.is_empty() => Err("the port after `:` is missing".to_owned()),
            _ => Err(format!("the port `{port}` is not a number from 1 to 65535")),
        },
    }
}

impl Resolver<'_> {
    /// The `hosts:` list; `rule_names` are the names declared under `rules:`. Every host is
    /// checked on its own, so one host's mistakes do not hide another's.
    pub(super) fn hosts(&mut self, entry: &Entry<'_>, rule_names: &[&str]) -> Option<Vec<Host>> {
        let node = entry.value;
        let empty = |value: &str| {
            ErrorKind::OutOfRange {
            key: "hosts".to_owned(),
            value: value.to_owned(),
            expected: "at least one host (without `hosts:`, swab acts on the one host from `--host`, `DOCKER_HOST` or the docker context)".to_owned(),
        }
        };
        let items = match &node.kind {
            Kind::Seq(items) if !items.is_empty() => items,
            Kind::Seq(_) => {
                self.error(node.pos, empty("an empty list"));
                return None;
            }
            // `hosts:` with nothing under it: the value has no position of its own.
            Kind::Null => {
                self.error(entry.key_pos, empty("empty"));
                return None;
            }
            _ => {
                self.wrong_type(
                    "hosts",
                    node,
                    "a list of hosts, each with a `name` and an `endpoint` or `context`",
                );
                return None;
            }
        };
        let mut first_lines: HashMap<&str, u32> = HashMap::new();
        let mut hosts = Vec::new();
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            match self.host(index, item, rule_names, &mut first_lines) {
                Some(host) => hosts.push(host),
                None => ok = false,
            }
        }
        ok.then_some(hosts)
    }

    /// One `hosts:` entry; `first_lines` holds the names seen so far with their lines.
    fn host<'n>(
        &mut self,
        index: usize,
        node: &'n Node,
        rule_names: &[&str],
        first_lines: &mut HashMap<&'n str, u32>,
    ) -> Option<Host> {
        let before = self.errors.len();
        let entries = self.entries(&format!("hosts[{index}]"), node, HOST_KEYS, "a host")?;
        let name = self.host_name(node, &entries, first_lines);
        let endpoint = self.host_endpoint(node, &entries);
        let labels = entries
            .get("labels")
            .map_or(Some(BTreeMap::new()), |entry| self.host_labels(entry.value));
        let rules = match entries.get("rules") {
            None => Some(None),
            Some(entry) => self.host_rules(entry.value, rule_names).map(Some),
        };
        if self.errors.len() != before {
            return None;
        }
        Some(Host {
            name: name?,
            endpoint: endpoint?,
            labels: labels?,
            rules: rules?,
            position: node.pos,
        })
    }

    /// The host's `name`: present, `[A-Za-z0-9._-]{1,64}`, not used by an earlier host.
    fn host_name<'n>(
        &mut self,
        node: &Node,
        entries: &Entries<'n>,
        first_lines: &mut HashMap<&'n str, u32>,
    ) -> Option<String> {
        let Some(entry) = entries.get("name") else {
            self.error(
                node.pos,
                ErrorKind::MissingKey {
                    key: "name".to_owned(),
                    expected: "a unique host name such as `build-1`".to_owned(),
                },
            );
            return None;
        };
        let value = entry.value;
        let Kind::Str(name) = &value.kind else {
            self.wrong_type("name", value, "a host name such as `build-1`");
            return None;
        };
        if !is_host_name(name) {
            self.error(
                value.pos,
                ErrorKind::OutOfRange {
                    key: "name".to_owned(),
                    value: format!("`{name}`"),
                    expected: "1 to 64 letters, digits, `.`, `_` or `-`, such as `build-1`"
                        .to_owned(),
                },
            );
            return None;
        }
        if let Some(&first_line) = first_lines.get(name.as_str()) {
            self.error(
                value.pos,
                ErrorKind::DuplicateHostName {
                    name: name.clone(),
                    first_line,
                },
            );
            return None;
        }
        first_lines.insert(name, value.pos.line);
        Some(name.clone())
    }

    /// Exactly one of `endpoint` and `context`, and `tls` only with a `tcp://` endpoint.
    fn host_endpoint(&mut self, node: &Node, entries: &Entries<'_>) -> Option<HostEndpoint> {
        let tls_entry = entries.get("tls");
        match (entries.get("endpoint"), entries.get("context")) {
            (None, None) => {
                self.error(
                    node.pos,
                    ErrorKind::MissingKey {
                        key: "endpoint".to_owned(),
                        expected: "`endpoint: unix:///var/run/docker.sock` or `tcp://HOST[:PORT]`, or `context: NAME` for a docker context".to_owned(),
                    },
                );
                None
            }
            (Some(endpoint), Some(context)) => {
                let (later, earlier) = if endpoint.key_pos > context.key_pos {
                    (endpoint, context)
                } else {
                    (context, endpoint)
                };
                self.error(
                    later.key_pos,
                    ErrorKind::ConflictingKeys {
                        key: later.key.to_owned(),
                        other: earlier.key.to_owned(),
                    },
                );
                None
            }
            (None, Some(context)) => {
                if let Some(tls) = tls_entry {
                    self.tls_without_tcp(tls, "a docker context");
                }
                self.non_empty(
                    "context",
                    context.value,
                    "a docker context name such as `prod`",
                )
                .map(HostEndpoint::Context)
            }
            (Some(endpoint), None) => self.url_endpoint(endpoint, tls_entry),
        }
    }

    /// A `unix://` or `tcp://` endpoint with its `tls:`.
    fn url_endpoint(
        &mut self,
        endpoint: &Entry<'_>,
        tls_entry: Option<&Entry<'_>>,
    ) -> Option<HostEndpoint> {
        let text = self.string(
            "endpoint",
            endpoint.value,
            "`unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]`",
        )?;
        let url = text.trim();
        if let Err(reason) = check_endpoint(url) {
            self.error(
                endpoint.value.pos,
                ErrorKind::InvalidEndpoint {
                    value: url.to_owned(),
                    reason,
                },
            );
            return None;
        }
        let tls = match tls_entry {
            None => None,
            Some(tls) if url.starts_with("unix://") => {
                self.tls_without_tcp(tls, "a `unix://` socket");
                return None;
            }
            Some(tls) => Some(self.host_tls(tls.value)?),
        };
        Some(HostEndpoint::Url {
            url: url.to_owned(),
            tls,
        })
    }

    fn tls_without_tcp(&mut self, tls: &Entry<'_>, endpoint: &str) {
        self.error(
            tls.key_pos,
            ErrorKind::TlsWithoutTcp {
                endpoint: endpoint.to_owned(),
            },
        );
    }

    /// A string that is not empty or blank, trimmed.
    fn non_empty(&mut self, key: &str, node: &Node, expected: &str) -> Option<String> {
        let text = self.string(key, node, expected)?.trim();
        if text.is_empty() {
            self.error(
                node.pos,
                ErrorKind::OutOfRange {
                    key: key.to_owned(),
                    value: "empty".to_owned(),
                    expected: expected.to_owned(),
                },
            );
            return None;
        }
        Some(text.to_owned())
    }

    /// A host's `tls:` mapping; `tls: {}` (or an empty `tls:`) is TLS against the system
    /// roots.
    fn host_tls(&mut self, node: &Node) -> Option<HostTls> {
        let before = self.errors.len();
        let entries = self.entries("tls", node, TLS_KEYS, "`tls`")?;
        let mut tls = HostTls::default();
        for (key, slot, expected) in [
            ("ca", &mut tls.ca, "the path of a CA certificate (PEM)"),
            (
                "cert",
                &mut tls.cert,
                "the path of a client certificate (PEM)",
            ),
            (
                "key",
                &mut tls.key,
                "the path of the client certificate's key (PEM)",
            ),
        ] {
            if let Some(entry) = entries.get(key) {
                *slot = self
                    .non_empty(key, entry.value, expected)
                    .map(PathBuf::from);
            }
        }
        if let Some(entry) = entries.get("verify")
            && let Some(verify) = self.boolean("verify", entry.value)
        {
            tls.verify = verify;
        }
        // A client certificate is useless without its key, and the other way round.
        for (present, missing, what) in [
            ("cert", "key", "the client key"),
            ("key", "cert", "the client certificate"),
        ] {
            if let (Some(entry), None) = (entries.get(present), entries.get(missing)) {
                self.error(
                    entry.key_pos,
                    ErrorKind::MissingKey {
                        key: missing.to_owned(),
                        expected: format!("{what} that goes with `{present}` (both or neither)"),
                    },
                );
            }
        }
        (self.errors.len() == before).then_some(tls)
    }

    /// A host's `labels:`, a mapping of strings to strings; keys must be selectable as
    /// `key=value`.
    fn host_labels(&mut self, node: &Node) -> Option<BTreeMap<String, String>> {
        let pairs: &[(Node, Node)] = match &node.kind {
            Kind::Map(pairs) => pairs,
            Kind::Null => &[],
            _ => {
                self.wrong_type(
                    "labels",
                    node,
                    "a mapping of label keys to values, such as `{role: ci}`",
                );
                return None;
            }
        };
        let before = self.errors.len();
        let mut labels = BTreeMap::new();
        let mut seen: Vec<&str> = Vec::new();
        for (key_node, value) in pairs {
            let Kind::Str(key) = &key_node.kind else {
                self.wrong_type("a key in `labels`", key_node, "a string key");
                continue;
            };
            if seen.contains(&key.as_str()) {
                self.error(key_node.pos, ErrorKind::DuplicateKey { key: key.clone() });
                continue;
            }
            seen.push(key);
            // Hosts are picked by `key=value`, so a key must be one a selector can name.
            if check_key(key).is_err() {
                self.error(
                    key_node.pos,
                    ErrorKind::InvalidLabelKey { key: key.clone() },
                );
                continue;
            }
            let Kind::Str(text) = &value.kind else {
                self.wrong_type(
                    &format!("labels.{key}"),
                    value,
                    "a string (quote numbers and booleans, such as \"1\")",
                );
                continue;
            };
            labels.insert(key.clone(), text.clone());
        }
        (self.errors.len() == before).then_some(labels)
    }

    /// A host's `rules:`: a non-empty list of rule names of the file, each kept once, in
    /// the order written.
    fn host_rules(&mut self, node: &Node, rule_names: &[&str]) -> Option<Vec<String>> {
        let items = self.strings("rules", node, "rule names of this file")?;
        if items.is_empty() {
            self.error(
                node.pos,
                ErrorKind::OutOfRange {
                    key: "rules".to_owned(),
                    value: "an empty list".to_owned(),
                    expected: "at least one rule name (leave `rules` out for every rule)"
                        .to_owned(),
                },
            );
            return None;
        }
        let mut names: Vec<String> = Vec::new();
        let mut ok = true;
        for (name, pos) in items {
            // With no rule declared at all, `rules:` itself is reported; checking against
            // nothing would only add noise.
            if !rule_names.is_empty() && !rule_names.contains(&name) {
                self.unknown_rule(name, pos, rule_names);
                ok = false;
            } else if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
        }
        ok.then_some(names)
    }

    fn unknown_rule(&mut self, name: &str, pos: Position, rule_names: &[&str]) {
        let hint = match suggest(name, rule_names.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("expected one of {}", join_backticked(rule_names)),
        };
        self.error(
            pos,
            ErrorKind::UnknownRule {
                value: name.to_owned(),
                hint,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints() {
        for ok in [
            "unix:///var/run/docker.sock",
            "unix:///tmp/my docker.sock",
            "tcp://build-1.internal:2376",
            "tcp://build-1.internal",
            "tcp://10.0.0.5:1",
            "tcp://10.0.0.5:65535",
            "tcp://[::1]:2376",
            "tcp://[::1]",
            "tcp://[fe80::1:2]:2375",
            "tcp://[::ffff:10.0.0.1]:2375",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("", "it is empty"),
            ("unix://", "the socket path is missing"),
            ("unix:///", "the socket path is missing"),
            (
                "unix://var/run/docker.sock",
                "the socket path must be absolute (three slashes: `unix:///var/run/docker.sock`)",
            ),
            ("tcp://", "the host is missing after `tcp://`"),
            ("tcp://:2376", "the host is missing after `tcp://`"),
            ("tcp://h:", "the port after `:` is missing"),
            ("tcp://h:0", "the port `0` is not a number from 1 to 65535"),
            (
                "tcp://h:65536",
                "the port `65536` is not a number from 1 to 65535",
            ),
            (
                "tcp://h:+80",
                "the port `+80` is not a number from 1 to 65535",
            ),
            (
                "tcp://h:http",
                "the port `http` is not a number from 1 to 65535",
            ),
            (
                "tcp://::1:2376",
                "an IPv6 address needs brackets, such as `tcp://[::1]:2376`",
            ),
            ("tcp://[::1", "the `[` of an IPv6 address is not closed"),
            ("tcp://[]:2376", "`[]` is not an IPv6 address"),
            ("tcp://[host]:2376", "`[host]` is not an IPv6 address"),
            ("tcp://[::1]2376", "unexpected `2376` after `]`"),
            (
                "tcp://h:2376/",
                "a `tcp://` endpoint is only `HOST[:PORT]`, without a path, user or spaces",
            ),
            (
                "tcp://me@h:2376",
                "a `tcp://` endpoint is only `HOST[:PORT]`, without a path, user or spaces",
            ),
            ("tcp://h*st:2376", "`h*st` is not a host name or IP address"),
            ("TCP://h:2376", "write the scheme in lowercase: `tcp://`"),
            (
                "https://h:2376",
                "`https://` is not accepted here; write `tcp://` (with `tls:` for TLS)",
            ),
            (
                "npipe:////./pipe/docker_engine",
                "the scheme `npipe` is not supported",
            ),
            (
                "/var/run/docker.sock",
                "a bare path has no scheme; write `unix:///var/run/docker.sock`",
            ),
            (
                "h:2376",
                "it has no scheme; write `tcp://h:2376` or `unix:///PATH`",
            ),
        ] {
            assert_eq!(check_endpoint(bad), Err(reason.to_owned()), "{bad}");
        }
        assert!(
            check_endpoint("ssh://me@h")
                .unwrap_err()
                .starts_with("ssh is not supported")
        );
    }
}
