//! Every error kind, with its exact line, column and message.

use swab_rules::{Diagnostics, ErrorKind, Position, load_bytes, load_str};

/// Loads `text` and returns the rendered error lines.
fn errors(text: &str) -> Vec<String> {
    match load_str("t.yaml", text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
    }
}

/// A rule file with one rule whose body is `body` (indented by 4).
fn one_rule(body: &str) -> String {
    let mut text = String::from("version: 1\nrules:\n  - name: r\n");
    for line in body.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A rule file with the rules `prune-ci` and `old-images` (lines 3 to 6) and `hosts:` on
/// line 7, whose body is `body` (indented by 2, so a host's first key is at 8:5).
fn with_hosts(body: &str) -> String {
    let mut text = String::from(HOSTS_HEAD);
    text.push_str("hosts:\n");
    for line in body.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

const HOSTS_HEAD: &str = "version: 1\nrules:\n  - name: prune-ci\n    action: prune-containers\n  - name: old-images\n    action: prune-images\n";

#[test]
#[allow(clippy::too_many_lines)] // one table, one case per error kind
fn one_error_each() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key with suggestion",
            one_rule("action: prune-containers\nmatch:\n  olderthan: 2h"),
            "t.yaml:6:7: rule 'r': unknown key `olderthan` in `match`; did you mean `older_than`?",
        ),
        (
            "unknown key, misplaced",
            one_rule("action: prune-containers\nolder_than: 2h"),
            "t.yaml:5:5: rule 'r': unknown key `older_than` in a rule; `older_than` belongs under `match:`",
        ),
        (
            "unknown top-level key",
            "version: 1\nfoo: 1\nrules:\n  - name: r\n    action: prune-images\n".into(),
            "t.yaml:2:1: unknown key `foo` in the top level; expected one of `version`, `timezone`, `protect`, `rules`, `notify`, `hosts`",
        ),
        (
            "wrong type: number for duration",
            one_rule("action: prune-containers\nmatch:\n  older_than: 30"),
            "t.yaml:6:19: rule 'r': `older_than` is a number; expected a duration with a unit, such as `90s`, `2h` or `7d`",
        ),
        (
            "wrong type: mapping for list",
            one_rule("action: prune-containers\nmatch:\n  names: {a: b}"),
            "t.yaml:6:14: rule 'r': `names` is a mapping; expected a list of name patterns such as `ci-*`",
        ),
        (
            "wrong type: list element",
            one_rule("action: prune-containers\nmatch:\n  names: [ci, 7]"),
            "t.yaml:6:19: rule 'r': `names[1]` is a number; expected name patterns such as `ci-*`",
        ),
        (
            "wrong type: boolean",
            one_rule("action: prune-images\nmatch:\n  dangling: \"yes\""),
            "t.yaml:6:17: rule 'r': `dangling` is a string; expected `true` or `false`",
        ),
        (
            "bad duration",
            one_rule("action: prune-containers\nmatch:\n  older_than: 7 dayz"),
            "t.yaml:6:19: rule 'r': `older_than`: invalid duration `7 dayz` (unknown time unit \"dayz\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); expected a duration such as `90s`, `2h`, `7d` or `1w 2d`",
        ),
        (
            "overflowing duration never panics",
            one_rule("action: prune-containers\nmatch:\n  older_than: 18446744073709551615s1000ms"),
            "t.yaml:6:19: rule 'r': `older_than`: invalid duration `18446744073709551615s1000ms` (a number has more than 10 digits); expected a duration such as `90s`, `2h`, `7d` or `1w 2d`",
        ),
        (
            "bad size",
            one_rule("action: prune-images\nwhen:\n  images_size_above: 20XB"),
            "t.yaml:6:26: rule 'r': `images_size_above`: invalid size `20XB` (unknown unit `XB`); expected a size such as `500MB`, `20GB` or `1.5GiB`",
        ),
        (
            "bad percentage",
            one_rule("action: prune-images\nwhen:\n  disk_usage_above: 185%"),
            "t.yaml:6:25: rule 'r': `disk_usage_above`: invalid percentage `185%` (185% is more than 100%); expected 0% to 100%, such as `85%`",
        ),
        (
            "bad cron",
            one_rule("action: prune-images\nschedule: \"61 * * * *\""),
            "t.yaml:5:15: rule 'r': invalid schedule `61 * * * *`: a value is out of range (second/minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7); expected a crontab expression such as `0 3 * * *`, `*/5 * * * * *` (with seconds) or `@daily`",
        ),
        (
            "cron that never fires",
            one_rule("action: prune-images\nschedule: 0 0 30 2 *"),
            "t.yaml:5:15: rule 'r': invalid schedule `0 0 30 2 *`: no date ever matches it; expected a crontab expression such as `0 3 * * *`, `*/5 * * * * *` (with seconds) or `@daily`",
        ),
        (
            "bad time zone",
            "version: 1\ntimezone: Europe/Berlim\nrules:\n  - name: r\n    action: prune-images\n".into(),
            "t.yaml:2:11: unknown time zone `Europe/Berlim`; did you mean `Europe/Berlin`?",
        ),
        (
            "duplicate rule name, at the second",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\n  - name: r\n    action: prune-containers\n".into(),
            "t.yaml:5:11: rule 'r': duplicate rule name `r` (first used on line 3); rule names must be unique",
        ),
        (
            "bad rule name",
            "version: 1\nrules:\n  - name: Old_Stuff\n    action: prune-images\n".into(),
            "t.yaml:3:11: rule 'Old_Stuff': invalid rule name `Old_Stuff`; expected lowercase letters, digits, `-` and `_`, such as `stopped-ci-containers`",
        ),
        (
            "target on prune-volumes (no size estimate: it would remove everything)",
            one_rule("action: prune-volumes\nwhen: {disk_usage_above: 90%}\ntarget: {disk_usage_below: 80%}"),
            "t.yaml:6:5: rule 'r': `target` does not apply to action `prune-volumes`; it applies to `prune-images` only",
        ),
        (
            "keep_latest on prune-containers",
            one_rule("action: prune-containers\nkeep_latest: 3"),
            "t.yaml:5:5: rule 'r': `keep_latest` does not apply to action `prune-containers`; it applies to `prune-images` only",
        ),
        (
            "rollback_tag on prune-images",
            one_rule("action: prune-images\nrollback_tag: \"{tag}-prev\""),
            "t.yaml:5:5: rule 'r': `rollback_tag` does not apply to action `prune-images`; it applies to `update` only",
        ),
        (
            "match key that does not fit the action",
            one_rule("action: prune-images\nmatch:\n  status: [exited]"),
            "t.yaml:6:7: rule 'r': `status` does not apply to action `prune-images`; it applies to `prune-containers` only",
        ),
        (
            "target without when",
            one_rule("action: prune-images\ntarget:\n  disk_usage_below: 70%"),
            "t.yaml:5:5: rule 'r': `target` needs a `when` condition; add `when:` (such as `disk_usage_above: 85%`) or remove `target`",
        ),
        (
            "target not below trigger",
            one_rule("action: prune-images\nwhen: {disk_usage_above: 80%}\ntarget: {disk_usage_below: 90%}"),
            "t.yaml:6:13: rule 'r': `target` 90% is not below `when` 80%; expected a lower target so the rule can stop",
        ),
        (
            "when with two conditions",
            one_rule("action: prune-images\nwhen:\n  disk_usage_above: 80%\n  images_size_above: 10GB"),
            "t.yaml:6:7: rule 'r': `when` needs exactly one condition; expected one of `disk_usage_above`, `images_size_above`",
        ),
        (
            "empty rule list",
            "version: 1\nrules: []\n".into(),
            "t.yaml:2:8: `rules` is empty; expected at least one rule",
        ),
        (
            "rules key without value",
            "version: 1\nrules:\n".into(),
            "t.yaml:2:1: `rules` is empty; expected at least one rule",
        ),
        (
            "unsupported version",
            "version: 2\nrules:\n  - name: r\n    action: prune-images\n".into(),
            "t.yaml:1:10: unsupported version `2`; expected `version: 1`",
        ),
        (
            "version as string",
            "version: \"1\"\nrules:\n  - name: r\n    action: prune-images\n".into(),
            "t.yaml:1:10: `version` is a string; expected the number 1",
        ),
        (
            "missing version",
            "rules:\n  - name: r\n    action: prune-images\n".into(),
            "t.yaml:1:1: missing required key `version`; expected `version: 1` at the top of the file",
        ),
        (
            "missing rules",
            "version: 1\n".into(),
            "t.yaml:1:1: missing required key `rules`; expected a list of rules",
        ),
        (
            "missing name",
            "version: 1\nrules:\n  - action: prune-images\n".into(),
            "t.yaml:3:5: rule #1: missing required key `name`; expected a unique rule name such as `stopped-ci-containers`",
        ),
        (
            "missing action",
            "version: 1\nrules:\n  - name: r\n".into(),
            "t.yaml:3:5: rule 'r': missing required key `action`; expected one of `prune-containers`, `prune-images`, `update`, `restart`, `prune-volumes`, `prune-networks`, `prune-build-cache`",
        ),
        (
            "unknown action",
            one_rule("action: prune-image"),
            "t.yaml:4:13: rule 'r': unknown action `prune-image`; did you mean `prune-images`?",
        ),
        (
            "duplicate key",
            one_rule("action: prune-images\naction: update"),
            "t.yaml:5:5: rule 'r': duplicate key `action`; each key may appear only once",
        ),
        (
            "bad label selector",
            one_rule("action: prune-containers\nmatch:\n  labels: [\"ci=true\", \"!keep=1\"]"),
            "t.yaml:6:27: rule 'r': invalid label selector `!keep=1`: `!keep=1` mixes operators; use `key`, `!key`, `key=value` or `key!=value`; expected `key`, `!key`, `key=value` or `key!=value`",
        ),
        (
            "bad image pattern",
            "version: 1\nprotect:\n  images: [\"MyOrg/*\"]\nrules:\n  - name: r\n    action: prune-images\n".into(),
            "t.yaml:3:12: `images`: invalid pattern `MyOrg/*`: repository `MyOrg/*` has uppercase letters; Docker repository names are lowercase",
        ),
        (
            "bad container status",
            one_rule("action: prune-containers\nmatch:\n  status: [exited, running]"),
            "t.yaml:6:24: rule 'r': `status`: unknown value `running`; expected `exited`, `dead` or `created` (running containers are never pruned)",
        ),
        (
            "jitter without schedule",
            one_rule("action: prune-images\njitter: 5m"),
            "t.yaml:5:5: rule 'r': `jitter` only delays scheduled runs; add a `schedule` or remove `jitter`",
        ),
        (
            "restart without selector",
            one_rule("action: restart\nschedule: \"@weekly\""),
            "t.yaml:4:13: rule 'r': `restart` without `match.names`, `match.images` or `match.labels` would restart every running container; expected at least one of them",
        ),
        (
            "unquoted rollback template",
            one_rule("action: update\nrollback_tag: {tag}"),
            "t.yaml:5:19: rule 'r': `rollback_tag` is a mapping; expected a quoted tag template such as \"{tag}-swab-previous\" (unquoted `{` starts a YAML mapping)",
        ),
        (
            "bad rollback template",
            one_rule("action: update\nrollback_tag: \"{version}-old\""),
            "t.yaml:5:19: rule 'r': invalid rollback_tag `{version}-old`: the only placeholder is `{tag}`; expected a tag template such as `{tag}-swab-previous`, or null",
        ),
        (
            "rollback template that is the tag itself",
            one_rule("action: update\nrollback_tag: \"{tag}\""),
            "t.yaml:5:19: rule 'r': invalid rollback_tag `{tag}`: it must contain `{tag}` and more; expected a tag template such as `{tag}-swab-previous`, or null",
        ),
        (
            "rollback template without the tag",
            one_rule("action: update\nrollback_tag: \"previous\""),
            "t.yaml:5:19: rule 'r': invalid rollback_tag `previous`: it must contain `{tag}` and more; expected a tag template such as `{tag}-swab-previous`, or null",
        ),
        (
            "min_age on a prune rule",
            one_rule("action: prune-images\nmin_age: 3d"),
            "t.yaml:5:5: rule 'r': `min_age` does not apply to action `prune-images`; it applies to `update` only",
        ),
        (
            "a zero retry_after",
            one_rule("action: update\nretry_after: [1h, 0s]"),
            "t.yaml:5:23: rule 'r': `retry_after` is 0s; expected more than 0s",
        ),
        (
            "an empty retry_after",
            one_rule("action: update\nretry_after: []"),
            "t.yaml:5:18: rule 'r': `retry_after` is an empty list; expected at least one duration",
        ),
        (
            "max_attempts zero",
            one_rule("action: update\nmax_attempts: 0"),
            "t.yaml:5:19: rule 'r': `max_attempts` is 0; expected a whole number from 1 to 1000",
        ),
        (
            "window on a prune rule",
            one_rule("action: prune-images\nwindow: {start: \"0 2 * * 6\", for: 3h}"),
            "t.yaml:5:5: rule 'r': `window` does not apply to action `prune-images`; it applies to `update`, `restart`",
        ),
        (
            "window without for",
            one_rule("action: update\nwindow:\n  start: \"0 2 * * 6\""),
            "t.yaml:6:7: rule 'r': missing required key `for`; expected how long the window stays open, such as `3h`",
        ),
        (
            "window too long",
            one_rule("action: update\nwindow:\n  - start: \"0 2 * * 6\"\n    for: 8d"),
            "t.yaml:7:14: rule 'r': `for` is 8d; expected more than 0s and at most 7d",
        ),
        (
            "window start not cron",
            one_rule("action: restart\nmatch:\n  names: [web]\nwindow: {start: \"saturday\", for: 1h}"),
            "t.yaml:7:21: rule 'r': invalid schedule `saturday`: Invalid pattern: Pattern must have 5 or 6 fields when years are disallowed; expected a crontab expression such as `0 3 * * *`, `*/5 * * * * *` (with seconds) or `@daily`",
        ),
        (
            "notify_only without notify targets",
            one_rule("action: update\nnotify_only: true"),
            "t.yaml:3:5: rule 'r': `notify_only: true` sends notices through the rule set's `notify:` targets, and there are none; expected a top-level `notify:` section",
        ),
        (
            "compose_file without track",
            one_rule("action: update\ncompose_file: write"),
            "t.yaml:5:5: rule 'r': missing required key `track`; expected `track: semver` for `compose_file` to mean anything",
        ),
        (
            "container keys next to services",
            one_rule("action: update\nservices: all\nmatch:\n  names: [web]"),
            "t.yaml:6:5: rule 'r': `match` does not apply to a rule with `services:`, which updates Swarm services (Swarm rolls them out and back); put container updates in a rule of their own",
        ),
        (
            "services failure_action unknown",
            one_rule("action: update\nservices:\n  failure_action: retry"),
            "t.yaml:6:23: rule 'r': `failure_action`: unknown value `retry`; expected `rollback`, `pause` or `continue`",
        ),
        (
            "services on a prune rule",
            one_rule("action: prune-images\nservices: all"),
            "t.yaml:5:5: rule 'r': `services` does not apply to action `prune-images`; it applies to `update` only",
        ),
        (
            "compose_file unknown",
            one_rule("action: update\ntrack: semver\nconstraint: \"^1\"\ncompose_file: edit"),
            "t.yaml:7:19: rule 'r': `compose_file`: unknown value `edit`; expected `refuse` or `write`",
        ),
        (
            "a bad version constraint",
            one_rule("action: update\ntrack: semver\nconstraint: \"~one\""),
            "t.yaml:6:17: rule 'r': `constraint` is `~one` (unexpected character 'o' while parsing major version number); expected a version requirement such as `~1.25`, `^2` or `>=1.2, <2`",
        ),
        (
            "a tag pattern without its capture",
            one_rule("action: update\ntrack: semver\nconstraint: \"^1\"\ntag_pattern: \"-alpine$\""),
            "t.yaml:7:18: rule 'r': `tag_pattern` is `-alpine$`; expected exactly one capture group, around the version",
        ),
        (
            "a constraint without track",
            one_rule("action: update\nconstraint: \"^1\""),
            "t.yaml:5:5: rule 'r': missing required key `track`; expected `track: semver` for `constraint` to mean anything",
        ),
        (
            "hooks on a prune rule",
            one_rule("action: prune-images\nhooks:\n  pre_update: x"),
            "t.yaml:5:5: rule 'r': `hooks` does not apply to action `prune-images`; it applies to `update` only",
        ),
        (
            "unknown hook",
            one_rule("action: update\nhooks:\n  pre_updat: x"),
            "t.yaml:6:7: rule 'r': unknown key `pre_updat` in `hooks`; did you mean `pre_update`?",
        ),
        (
            "hook command not a string",
            one_rule("action: update\nhooks:\n  post_update: [a, b]"),
            "t.yaml:6:20: rule 'r': `post_update` is a list; expected a shell command (run with `sh -c`)",
        ),
        (
            "empty hook command",
            one_rule("action: update\nhooks:\n  pre_update: \" \""),
            "t.yaml:6:19: rule 'r': `pre_update` is an empty command; expected a shell command (run with `sh -c`)",
        ),
        (
            "hook timeout too long",
            one_rule("action: update\nhooks:\n  timeout: 2h"),
            "t.yaml:6:16: rule 'r': `timeout` is 2h; expected more than 0s and at most 1h",
        ),
        (
            "hook on_failure",
            one_rule("action: update\nhooks:\n  on_failure: ignore"),
            "t.yaml:6:19: rule 'r': `on_failure`: unknown value `ignore`; expected `rollback` or `warn`",
        ),
        (
            "hook label namespace",
            one_rule("action: update\nhooks:\n  labels: [swab, diun]"),
            "t.yaml:6:22: rule 'r': `labels`: unknown value `diun`; expected `swab` or `watchtower`",
        ),
        (
            "number out of range",
            one_rule("action: prune-images\nkeep_latest: 0"),
            "t.yaml:5:18: rule 'r': `keep_latest` is 0; expected a whole number from 1 to 10000",
        ),
        (
            "notify url",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: ftp://example.com\n".into(),
            "t.yaml:6:10: invalid notify url `ftp://example.com/...`: unknown scheme `ftp`; expected one of http, https, ntfy, gotify, discord, telegram, teams, slack, smtp, generic",
        ),
        (
            "notify url secret not echoed",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: telegram://123:SECRET-TOKEN@telegram\n".into(),
            "t.yaml:6:10: invalid notify url `telegram://...`: no chats; expected `?chats=@channel,123456`",
        ),
        (
            "notify url bad parameter",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: ntfy://u:pw@ntfy.sh/topic?prio=5\n".into(),
            "t.yaml:6:10: invalid notify url `ntfy://ntfy.sh/...`: unknown parameter `prio`; expected title, priority, tags, scheme",
        ),
        (
            "notify format",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: https://example.com/hook\n    format: xml\n".into(),
            "t.yaml:7:13: `format`: unknown value `xml`; expected `json`, `slack` or `teams`",
        ),
        (
            "notify event",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: https://example.com/hook\n    on: [changes, updates]\n".into(),
            "t.yaml:7:19: `on`: unknown value `updates`; expected one of `changes`, `failures`, `update`, `rollback`, `new_image`, `recovery`, `docker_down`",
        ),
        (
            "notify message form",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: https://example.com/hook\n    message: medium\n".into(),
            "t.yaml:7:14: `message`: unknown value `medium`; expected `short` or `long`",
        ),
        (
            "notify template placeholder",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: https://example.com/hook\n    title: \"{hostname} did {summary}\"\n".into(),
            "t.yaml:7:12: `title`: unknown placeholder `{hostname}`; expected one of `{host}`, `{event}`, `{title}`, `{summary}`, `{details}`, `{rule}`, `{name}`, `{image}`, `{error}`",
        ),
        (
            "notify docker_down_after",
            "version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n  - url: https://example.com/hook\n    docker_down_after: soon\n".into(),
            "t.yaml:7:24: `docker_down_after`: invalid duration `soon` (expected number at 0); expected a duration such as `90s`, `2h`, `7d` or `1w 2d`",
        ),
        (
            "hosts not a list",
            format!("{HOSTS_HEAD}hosts: build-1\n"),
            "t.yaml:7:8: `hosts` is a string; expected a list of hosts, each with a `name` and an `endpoint` or `context`",
        ),
        (
            "hosts empty",
            format!("{HOSTS_HEAD}hosts: []\n"),
            "t.yaml:7:8: `hosts` is an empty list; expected at least one host (without `hosts:`, swab acts on the one host from `--host`, `DOCKER_HOST` or the docker context)",
        ),
        (
            "hosts without value",
            format!("{HOSTS_HEAD}hosts:\n"),
            "t.yaml:7:1: `hosts` is empty; expected at least one host (without `hosts:`, swab acts on the one host from `--host`, `DOCKER_HOST` or the docker context)",
        ),
        (
            "a host that is not a mapping",
            with_hosts("- build-1"),
            "t.yaml:8:5: `hosts[0]` is a string; expected a mapping",
        ),
        (
            "unknown host key with suggestion",
            with_hosts("- name: a\n  context: a\n  lables: {role: ci}"),
            "t.yaml:10:5: unknown key `lables` in a host; did you mean `labels`?",
        ),
        (
            "tls key directly in the host",
            with_hosts("- name: a\n  endpoint: tcp://a:2376\n  ca: /etc/ca.pem"),
            "t.yaml:10:5: unknown key `ca` in a host; `ca` belongs under `tls:`",
        ),
        (
            "host instead of endpoint",
            with_hosts("- name: a\n  context: prod\n  host: tcp://a:2376"),
            "t.yaml:10:5: unknown key `host` in a host; the daemon's address goes in `endpoint`, not `host`",
        ),
        (
            "endpoint at the top level",
            format!("{HOSTS_HEAD}endpoint: tcp://a:2376\n"),
            "t.yaml:7:1: unknown key `endpoint` in the top level; `endpoint` belongs inside a host under `hosts:`",
        ),
        (
            "duplicate host key",
            with_hosts("- name: a\n  context: a\n  name: b"),
            "t.yaml:10:5: duplicate key `name`; each key may appear only once",
        ),
        (
            "host without name",
            with_hosts("- context: prod"),
            "t.yaml:8:5: missing required key `name`; expected a unique host name such as `build-1`",
        ),
        (
            "bad host name",
            with_hosts("- name: build 1\n  context: prod"),
            "t.yaml:8:11: `name` is `build 1`; expected 1 to 64 letters, digits, `.`, `_` or `-`, such as `build-1`",
        ),
        (
            "host name too long",
            with_hosts("- name: hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\n  context: prod"),
            "t.yaml:8:11: `name` is `hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh`; expected 1 to 64 letters, digits, `.`, `_` or `-`, such as `build-1`",
        ),
        (
            "host name a number",
            with_hosts("- name: 1\n  context: prod"),
            "t.yaml:8:11: `name` is a number; expected a host name such as `build-1`",
        ),
        (
            "duplicate host name, at the second",
            with_hosts("- name: a\n  context: prod\n- name: a\n  context: test"),
            "t.yaml:10:11: duplicate host name `a` (first used on line 8); host names must be unique",
        ),
        (
            "host without endpoint or context",
            with_hosts("- name: a\n  labels: {role: ci}"),
            "t.yaml:8:5: missing required key `endpoint`; expected `endpoint: unix:///var/run/docker.sock` or `tcp://HOST[:PORT]`, or `context: NAME` for a docker context",
        ),
        (
            "host with endpoint and context",
            with_hosts("- name: a\n  context: prod\n  endpoint: tcp://a:2376"),
            "t.yaml:10:5: `endpoint` and `context` cannot both be given; expected exactly one of them",
        ),
        (
            "ssh endpoint",
            with_hosts("- name: a\n  endpoint: ssh://me@a"),
            "t.yaml:9:15: invalid endpoint `ssh://me@a`: ssh is not supported; forward the socket (`ssh -L /tmp/docker.sock:/var/run/docker.sock HOST`) and use `unix:///tmp/docker.sock`; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)",
        ),
        (
            "http endpoint",
            with_hosts("- name: a\n  endpoint: http://a:2375"),
            "t.yaml:9:15: invalid endpoint `http://a:2375`: `http://` is not accepted here; write `tcp://` (with `tls:` for TLS); expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)",
        ),
        (
            "bare socket path",
            with_hosts("- name: a\n  endpoint: /var/run/docker.sock"),
            "t.yaml:9:15: invalid endpoint `/var/run/docker.sock`: a bare path has no scheme; write `unix:///var/run/docker.sock`; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)",
        ),
        (
            "endpoint port out of range",
            with_hosts("- name: a\n  endpoint: tcp://a:99999"),
            "t.yaml:9:15: invalid endpoint `tcp://a:99999`: the port `99999` is not a number from 1 to 65535; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)",
        ),
        (
            "empty endpoint",
            with_hosts("- name: a\n  endpoint: \" \""),
            "t.yaml:9:15: invalid endpoint ``: it is empty; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)",
        ),
        (
            "endpoint a number",
            with_hosts("- name: a\n  endpoint: 2376"),
            "t.yaml:9:15: `endpoint` is a number; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]`",
        ),
        (
            "tls on a unix socket",
            with_hosts("- name: a\n  endpoint: unix:///var/run/docker.sock\n  tls: {ca: /ca.pem}"),
            "t.yaml:10:5: `tls` applies only to a `tcp://` endpoint, not to a `unix://` socket; remove it (a unix socket needs no TLS, a docker context carries its own)",
        ),
        (
            "tls with a context",
            with_hosts("- name: a\n  context: prod\n  tls: {verify: false}"),
            "t.yaml:10:5: `tls` applies only to a `tcp://` endpoint, not to a docker context; remove it (a unix socket needs no TLS, a docker context carries its own)",
        ),
        (
            "unknown tls key",
            with_hosts("- name: a\n  endpoint: tcp://a:2376\n  tls:\n    verfiy: false"),
            "t.yaml:11:7: unknown key `verfiy` in `tls`; did you mean `verify`?",
        ),
        (
            "client certificate without key",
            with_hosts("- name: a\n  endpoint: tcp://a:2376\n  tls:\n    cert: /cert.pem"),
            "t.yaml:11:7: missing required key `key`; expected the client key that goes with `cert` (both or neither)",
        ),
        (
            "client key without certificate",
            with_hosts("- name: a\n  endpoint: tcp://a:2376\n  tls:\n    ca: /ca.pem\n    key: /key.pem"),
            "t.yaml:12:7: missing required key `cert`; expected the client certificate that goes with `key` (both or neither)",
        ),
        (
            "empty tls path",
            with_hosts("- name: a\n  endpoint: tcp://a:2376\n  tls:\n    ca: \"\""),
            "t.yaml:11:11: `ca` is empty; expected the path of a CA certificate (PEM)",
        ),
        (
            "tls verify not a boolean",
            with_hosts("- name: a\n  endpoint: tcp://a:2376\n  tls:\n    verify: \"no\""),
            "t.yaml:11:15: `verify` is a string; expected `true` or `false`",
        ),
        (
            "empty context",
            with_hosts("- name: a\n  context: \"\""),
            "t.yaml:9:14: `context` is empty; expected a docker context name such as `prod`",
        ),
        (
            "host labels not a mapping",
            with_hosts("- name: a\n  context: prod\n  labels: [role=ci]"),
            "t.yaml:10:13: `labels` is a list; expected a mapping of label keys to values, such as `{role: ci}`",
        ),
        (
            "host label key a selector cannot name",
            with_hosts("- name: a\n  context: prod\n  labels:\n    \"my role\": ci"),
            "t.yaml:11:7: invalid label key `my role`; expected a non-empty key without whitespace, `=` or `!`, such as `role`",
        ),
        (
            "host label value not a string",
            with_hosts("- name: a\n  context: prod\n  labels: {gpu: true}"),
            "t.yaml:10:19: `labels.gpu` is a boolean; expected a string (quote numbers and booleans, such as \"1\")",
        ),
        (
            "host rules empty",
            with_hosts("- name: a\n  context: prod\n  rules: []"),
            "t.yaml:10:12: `rules` is an empty list; expected at least one rule name (leave `rules` out for every rule)",
        ),
        (
            "host rule unknown, with suggestion",
            with_hosts("- name: a\n  context: prod\n  rules: [old-images, prune-cj]"),
            "t.yaml:10:25: `rules`: no rule named `prune-cj` in this file; did you mean `prune-ci`?",
        ),
        (
            "host rule unknown, without suggestion",
            with_hosts("- name: a\n  context: prod\n  rules: [nightly]"),
            "t.yaml:10:13: `rules`: no rule named `nightly` in this file; expected one of `prune-ci`, `old-images`",
        ),
        (
            "host rule not a string",
            with_hosts("- name: a\n  context: prod\n  rules: [prune-ci, {x: 1}]"),
            "t.yaml:10:23: `rules[1]` is a mapping; expected rule names of this file",
        ),
        (
            "syntax error",
            "version: 1\nrules:\n  - name: [r\n    action: prune-images\n".into(),
            "t.yaml:4:11: invalid YAML: illegal placement of ':' indicator",
        ),
        (
            "empty document",
            "# only a comment\n".into(),
            "t.yaml:1:1: the rule file is empty; expected a mapping with `version: 1` and `rules:`",
        ),
        (
            "two documents",
            "version: 1\n---\nversion: 1\n".into(),
            "t.yaml:3:1: invalid YAML: found a second YAML document (`---`); a rule file holds exactly one",
        ),
        (
            "not a mapping",
            "- a\n- b\n".into(),
            "t.yaml:1:1: `the file` is a list; expected a mapping",
        ),
    ];
    let mut failures = Vec::new();
    for (what, text, expected) in &cases {
        let got = errors(text);
        if got != [*expected] {
            failures.push(format!(
                "{what}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn three_mistakes_three_located_errors() {
    let text = "\
version: 1
timezone: Europe/Berlin
rules:
  - name: stopped-ci-containers
    action: prune-containers
    schedule: \"*/30 * * * *\"
    match:
      status: [exited, dead]
      older_than: 2 hourz
      names: [\"ci-*\"]
  - name: old-images
    action: prune-images
    keep_latest: 3
    match:
      unused_for: 7d
      danglin: true
  - name: stopped-ci-containers
    action: prune-volumes
";
    let diagnostics = load_str("ci.yaml", text).unwrap_err();
    let positions: Vec<_> = diagnostics
        .iter()
        .map(|e| (e.position, e.rule.as_ref().map(ToString::to_string)))
        .collect();
    assert_eq!(
        positions,
        [
            (
                Some(Position::new(9, 19)),
                Some("rule 'stopped-ci-containers'".to_owned())
            ),
            (
                Some(Position::new(16, 7)),
                Some("rule 'old-images'".to_owned())
            ),
            (
                Some(Position::new(17, 11)),
                Some("rule 'stopped-ci-containers'".to_owned())
            ),
        ]
    );
    assert!(matches!(
        diagnostics.errors()[0].kind,
        ErrorKind::InvalidDuration { .. }
    ));
    assert!(matches!(
        diagnostics.errors()[1].kind,
        ErrorKind::UnknownKey { .. }
    ));
    assert!(matches!(
        diagnostics.errors()[2].kind,
        ErrorKind::DuplicateRuleName { .. }
    ));
    let rendered = diagnostics.to_string();
    assert_eq!(rendered.lines().count(), 3);
    assert!(rendered.contains("ci.yaml:16:7: rule 'old-images': unknown key `danglin` in `match`; did you mean `dangling`?"));
}

#[test]
fn errors_in_several_rules_and_sections_are_all_reported() {
    let text = "\
version: 1
protect:
  contianers: [db-*]
rules:
  - name: a
    action: prune-containers
    keep_latest: 1
  - name: b
    action: prune-images
    match:
      older_than: 1d
notify:
  - url: https://x.example
    on: [changes, sometimes]
";
    let lines: Vec<String> = load_str("t.yaml", text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "t.yaml:3:3: unknown key `contianers` in `protect`; did you mean `containers`?",
            "t.yaml:7:5: rule 'a': `keep_latest` does not apply to action `prune-containers`; it applies to `prune-images` only",
            "t.yaml:11:7: rule 'b': `older_than` does not apply to action `prune-images`; it applies to `prune-containers`, `restart`, `prune-volumes`, `prune-networks`, `prune-build-cache`",
            "t.yaml:14:19: `on`: unknown value `sometimes`; expected one of `changes`, `failures`, `update`, `rollback`, `new_image`, `recovery`, `docker_down`",
        ]
    );
}

#[test]
fn input_guards() {
    let big = vec![b'#'; swab_rules::MAX_INPUT_BYTES + 1];
    let diagnostics = load_bytes("big.yaml", &big).unwrap_err();
    assert_eq!(
        diagnostics.to_string(),
        "big.yaml: input is 1048577 bytes; rule files must be at most 1 MiB (1048576 bytes)"
    );

    let diagnostics = load_bytes("bin.yaml", b"version: 1\nru\0les:\n").unwrap_err();
    assert_eq!(
        diagnostics.to_string(),
        "bin.yaml:2:3: input contains a NUL byte; expected a YAML text file"
    );

    let diagnostics = load_bytes("latin1.yaml", b"version: 1\n# caf\xe9\n").unwrap_err();
    assert_eq!(
        diagnostics.to_string(),
        "latin1.yaml:2:6: input is not valid UTF-8; expected UTF-8 encoded YAML"
    );

    let diagnostics = load_str("nul.yaml", "a: \"\0\"").unwrap_err();
    assert!(matches!(diagnostics.errors()[0].kind, ErrorKind::Binary));

    // Deep nesting is stopped by the parser's depth budget, not the stack.
    let deep = format!(
        "version: 1\nrules: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let diagnostics: Diagnostics = load_str("deep.yaml", &deep).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
}

#[test]
fn reader_and_stdin_names() {
    let text = b"version: 1\nrules: []\n";
    let error = swab_rules::load_reader(swab_rules::STDIN_NAME, &text[..]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "<stdin>:2:8: `rules` is empty; expected at least one rule"
    );
    let big = vec![b' '; 3 * swab_rules::MAX_INPUT_BYTES];
    let error = swab_rules::load_reader("big", &big[..]).unwrap_err();
    assert!(error.to_string().contains("at most 1 MiB"), "{error}");
    let missing = swab_rules::load_file("/nonexistent/rules.yaml").unwrap_err();
    assert!(matches!(missing, swab_rules::LoadError::Read { .. }));
}

#[test]
fn every_host_mistake_is_reported() {
    let text = "\
version: 1
rules:
  - name: prune-ci
    action: prune-containers
    keep_latest: 2
  - name: old-images
    action: prune-images
hosts:
  - name: build-1
    endpoint: ssh://build-1
    rules: [prune-ci]
  - name: fine
    endpoint: tcp://fine:2376
    tls: {ca: /ca.pem}
    rules: [old-images]
  - name: build-1
    url: tcp://x:2376
    labels: {\"\": x}
    rules: [old-image]
";
    let lines: Vec<String> = load_str("t.yaml", text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    // `prune-ci` has a mistake of its own, but it is declared, so the first host naming it
    // gets no second error; the valid host in between gets none at all.
    assert_eq!(
        lines,
        [
            "t.yaml:5:5: rule 'prune-ci': `keep_latest` does not apply to action `prune-containers`; it applies to `prune-images` only",
            "t.yaml:10:15: invalid endpoint `ssh://build-1`: ssh is not supported; forward the socket (`ssh -L /tmp/docker.sock:/var/run/docker.sock HOST`) and use `unix:///tmp/docker.sock`; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)",
            "t.yaml:16:5: missing required key `endpoint`; expected `endpoint: unix:///var/run/docker.sock` or `tcp://HOST[:PORT]`, or `context: NAME` for a docker context",
            "t.yaml:16:11: duplicate host name `build-1` (first used on line 9); host names must be unique",
            "t.yaml:17:5: unknown key `url` in a host; the daemon's address goes in `endpoint`, not `url`",
            "t.yaml:18:14: invalid label key ``; expected a non-empty key without whitespace, `=` or `!`, such as `role`",
            "t.yaml:19:13: `rules`: no rule named `old-image` in this file; did you mean `old-images`?",
        ]
    );
    let diagnostics = load_str("t.yaml", text).unwrap_err();
    let kinds: Vec<&ErrorKind> = diagnostics.iter().map(|e| &e.kind).collect();
    assert!(matches!(kinds[1], ErrorKind::InvalidEndpoint { .. }));
    assert!(matches!(
        kinds[3],
        ErrorKind::DuplicateHostName { first_line: 9, .. }
    ));
    assert!(matches!(kinds[5], ErrorKind::InvalidLabelKey { .. }));
    assert!(matches!(kinds[6], ErrorKind::UnknownRule { .. }));
    assert!(diagnostics.iter().skip(1).all(|e| e.rule.is_none()));
}

#[test]
fn hosts_without_rules_section_report_only_the_missing_rules() {
    let text = "version: 1\nhosts:\n  - name: a\n    context: prod\n    rules: [anything]\n";
    assert_eq!(
        errors(text),
        ["t.yaml:1:1: missing required key `rules`; expected a list of rules"]
    );
}
