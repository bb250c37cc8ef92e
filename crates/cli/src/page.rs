//! The daemon's status page (`GET /`): one server-rendered HTML document, built by a pure
//! function from what `GET /api/v1/status` answers and the run history, so every question
//! about what it shows is a unit test with no server and no browser.
//!
//! The page needs no JavaScript to read: rules, pending updates, the last runs and two
//! small inline SVG charts are all in the HTML. A little inline script adds what cannot work
//! without it: the "update now" buttons (they POST with the bearer token, asked once and
//! kept in the tab's `sessionStorage`) and a refresh that fetches the page every 30 s and
//! swaps the `<main>` element's content (no reload, no flicker); without JavaScript a
//! `<noscript>` meta refresh reloads it instead. Nothing is loaded from elsewhere: no fonts,
//! no CDN, no images. Every string from the input is HTML-escaped.
//!
//! Stable hooks for tests and scripts: `data-rule="NAME"` on each rule, `data-pending=
//! "REFERENCE"` on each pending update, `data-container="NAME"` on its containers,
//! `data-run="ID"` on each run, and the ids `rules`, `pending`, `charts`, `runs`,
//! `chart-reclaimed`, `chart-disk`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use swab_engine::history::Record;

/// How many runs the page lists (the charts use every run given).
const RUNS_SHOWN: usize = 20;
/// How many actions of one run are listed before "and N more".
const ACTIONS_SHOWN: usize = 40;
/// How many days the reclaimed-bytes chart spans, ending at the status's `now`.
const CHART_DAYS: i64 = 14;

/// The whole page for `status` (the JSON of `GET /api/v1/status`) and `runs` (the history,
/// any order; the newest [`RUNS_SHOWN`] are listed). Missing or malformed fields render as
/// "unknown" or are left out; rendering never fails.
pub fn render(status: &Value, runs: &[Record]) -> String {
    let mut sorted: Vec<&Record> = runs.iter().collect();
    sorted.sort_by(|a, b| b.id.cmp(&a.id));
    let now =
        time(status.get("now")).unwrap_or_else(|| DateTime::from(std::time::SystemTime::now()));
    let host = text(status, "host");
    let mut page = String::with_capacity(16 * 1024);
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    let _ = writeln!(
        page,
        "<title>swab · {}</title>",
        esc(host.unwrap_or("status"))
    );
    page.push_str("<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>\n");
    let _ = writeln!(page, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(page, "<main id=\"main\" data-now=\"{}\">", now.to_rfc3339());
    page.push_str(&header(status, now));
    page.push_str(&rules_section(status, now));
    page.push_str(&pending_section(status, now));
    page.push_str(&charts_section(&sorted, now));
    page.push_str(&runs_section(&sorted, now));
    page.push_str("</main>\n");
    let _ = writeln!(page, "<script>{SCRIPT}</script>\n</body>\n</html>");
    page
}

/// `s` safe in HTML text and in quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `v[key]` as a string, if it is one.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An RFC 3339 time, if `v` holds one.
fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A span as "3d 4h", "2h 5m", "4m", "12s".
fn span(secs: i64) -> String {
    let s = secs.abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `t` as a `<time>` saying how far from `now` it is ("in 2h 5m", "4m ago"), with the
/// exact UTC time as its tooltip.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let rel = if secs.abs() < 5 {
        "now".to_owned()
    } else if secs > 0 {
        format!("in {}", span(secs))
    } else {
        format!("{} ago", span(secs))
    };
    let exact = t.format("%Y-%m-%d %H:%M:%S UTC");
    format!(
        "<time datetime=\"{}\" title=\"{exact}\">{rel}</time>",
        t.to_rfc3339()
    )
}

/// [`when`] for an optional JSON time, or `none` (already HTML) when it is absent.
fn when_or(v: Option<&Value>, now: DateTime<Utc>, none: &str) -> String {
    time(v).map_or_else(|| none.to_owned(), |t| when(t, now))
}

/// A milliseconds duration as "850 ms", "12.3 s", "4m 5s".
fn millis(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{}.{} s", ms / 1000, ms % 1000 / 100),
        _ => format!("{}m {}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// A small colored label; `kind` picks the color (`ok`, `bad`, `warn`, `dim`).
fn badge(kind: &str, label: &str) -> String {
    format!("<span class=\"badge {kind}\">{}</span>", esc(label))
}

fn header(status: &Value, now: DateTime<Utc>) -> String {
    let up = status.get("docker_up").and_then(Value::as_bool);
    let docker = match up {
        Some(true) => badge("ok", "docker up"),
        Some(false) => badge("bad", "docker down"),
        None => badge("dim", "docker ?"),
    };
    let version = text(status, "version").unwrap_or("?");
    let host = text(status, "host").unwrap_or("unknown host");
    let since = when_or(status.get("started_at"), now, "?");
    let checked = when_or(status.get("updates_checked_at"), now, "never");
    format!(
        "<header><h1>swab <small>{}</small></h1>{docker}\
         <p class=\"meta\"><span class=\"host\">{}</span> · started {since} · \
         updates checked {checked} · <span id=\"refreshed\">as of {}</span></p></header>\n",
        esc(version),
        esc(host),
        when(now, now).replace(">now<", &format!(">{}<", now.format("%H:%M:%S UTC"))),
    )
}

fn rules_section(status: &Value, now: DateTime<Utc>) -> String {
    let rules = status
        .get("rules")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut out = format!(
        "<section id=\"rules\"><h2>Rules <small>{}</small></h2>\n",
        rules.len()
    );
    if rules.is_empty() {
        out.push_str("<p class=\"empty\">No rules.</p>\n");
    }
    for rule in rules {
        out.push_str(&rule_card(rule, now));
    }
    out.push_str("</section>\n");
    out
}

fn rule_card(rule: &Value, now: DateTime<Utc>) -> String {
    let name = text(rule, "name").unwrap_or("?");
    let action = text(rule, "action").unwrap_or("?");
    let schedule = text(rule, "schedule").map_or_else(
        || "<span class=\"dim\">on demand</span>".to_owned(),
        |s| format!("<code>{}</code>", esc(s)),
    );
    let next = when_or(rule.get("next_fire"), now, "<span class=\"dim\">—</span>");
    format!(
        "<article class=\"rule\" data-rule=\"{n}\"><h3>{n} <span class=\"action\">{}</span></h3>\
         <dl><div><dt>schedule</dt><dd>{schedule}</dd></div>\
         <div><dt>next</dt><dd class=\"next\">{next}</dd></div>\
         <div class=\"wide\"><dt>window</dt><dd class=\"window\">{}</dd></div>\
         <div class=\"wide\"><dt>last run</dt><dd class=\"last\">{}</dd></div></dl></article>\n",
        esc(action),
        window(rule.get("window")),
        last_run(rule.get("last_run"), now),
        n = esc(name),
    )
}

fn window(w: Option<&Value>) -> String {
    let Some(w) = w.filter(|w| w.is_object()) else {
        return "<span class=\"dim\">always</span>".to_owned();
    };
    let open = w.get("open").and_then(Value::as_bool).unwrap_or(false);
    let detail = text(w, "detail").map_or_else(String::new, |d| {
        format!(" <span class=\"dim\">{}</span>", esc(d))
    });
    let state = if open {
        badge("ok", "open")
    } else {
        badge("warn", "closed")
    };
    format!("{state}{detail}")
}

fn last_run(last: Option<&Value>, now: DateTime<Utc>) -> String {
    let Some(last) = last.filter(|l| l.is_object()) else {
        return "<span class=\"dim\">never</span>".to_owned();
    };
    let result = text(last, "result").unwrap_or("?");
    let kind = match result {
        "ok" => "ok",
        "failed" => "bad",
        _ => "dim",
    };
    let mut out = badge(kind, result);
    let at = when_or(last.get("at"), now, "");
    match text(last, "id") {
        Some(id) => {
            let _ = write!(out, " <a href=\"#run-{}\">{at}</a>", esc(id));
        }
        None => {
            let _ = write!(out, " {at}");
        }
    }
    if let Some(ms) = last.get("duration_ms").and_then(Value::as_u64) {
        let _ = write!(out, " <span class=\"dim\">in {}</span>", millis(ms));
    }
    if let Some(summary) = text(last, "summary") {
        let _ = write!(out, "<br><span class=\"summary\">{}</span>", esc(summary));
    }
    out
}

/// One pending update of one rule.
struct Pending<'a> {
    rule: &'a str,
    update: &'a Value,
}

fn pending_updates(status: &Value) -> Vec<Pending<'_>> {
    let rules = status.get("rules").and_then(Value::as_array);
    let mut out = Vec::new();
    for rule in rules.into_iter().flatten() {
        let name = text(rule, "name").unwrap_or("?");
        let updates = rule.get("pending_updates").and_then(Value::as_array);
        out.extend(
            updates
                .into_iter()
                .flatten()
                .map(|update| Pending { rule: name, update }),
        );
    }
    out
}

fn pending_section(status: &Value, now: DateTime<Utc>) -> String {
    let pending = pending_updates(status);
    let mut out = format!(
        "<section id=\"pending\"><h2>Pending updates <small>{}</small></h2>\n",
        pending.len()
    );
    if pending.is_empty() {
        out.push_str("<p class=\"empty\">Nothing pending.</p>\n");
    } else {
        out.push_str("<ul class=\"cards\">\n");
        for p in &pending {
            out.push_str(&pending_item(p, now));
        }
        out.push_str("</ul>\n");
        out.push_str(
            "<noscript><p class=\"dim\">\"Update now\" needs JavaScript; without it, \
             POST /api/v1/containers/NAME/update with the API token.</p></noscript>\n",
        );
    }
    out.push_str("</section>\n");
    out
}

fn pending_item(p: &Pending<'_>, now: DateTime<Utc>) -> String {
    let u = p.update;
    let reference = text(u, "reference").unwrap_or("?");
    let state = match text(u, "status") {
        Some(held @ ("held_back" | "pending")) => {
            let why = text(u, "held_back").map_or_else(String::new, |w| {
                format!(" <span class=\"why\">{}</span>", esc(w))
            });
            let eligible = time(u.get("eligible_at")).map_or_else(String::new, |t| {
                format!(" <span class=\"dim\">· eligible {}</span>", when(t, now))
            });
            let label = if held == "pending" {
                "waiting for window"
            } else {
                "held back"
            };
            format!("{}{why}{eligible}", badge("warn", label))
        }
        Some("update_available" | "outdated") => badge("ok", "available"),
        Some(other) => badge("dim", other),
        None => badge("dim", "?"),
    };
    let containers = u.get("containers").and_then(Value::as_array);
    let mut list = String::new();
    for c in containers.into_iter().flatten().filter_map(Value::as_str) {
        let c = esc(c);
        let _ = write!(
            list,
            "<li data-container=\"{c}\"><span class=\"cname\">{c}</span> \
             <button type=\"button\" class=\"update\" data-update=\"{c}\" hidden>update now</button> \
             <output class=\"answer\" data-for=\"{c}\"></output></li>"
        );
    }
    format!(
        "<li class=\"pending\" data-pending=\"{r}\" data-pending-rule=\"{}\">\
         <div class=\"ref\"><code>{r}</code> <span class=\"dim\">rule {}</span></div>\
         <div class=\"state\">{state}</div><ul class=\"containers\">{list}</ul></li>\n",
        esc(p.rule),
        esc(p.rule),
        r = esc(reference),
    )
}

/// A run's start time: its report's `started_at`.
fn started(r: &Record) -> Option<DateTime<Utc>> {
    time(r.report.get("started_at"))
}

/// `report.summary[key]` as a number (0 when absent).
fn summary_count(r: &Record, key: &str) -> u64 {
    r.report
        .get("summary")
        .and_then(|s| s.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn charts_section(runs: &[&Record], now: DateTime<Utc>) -> String {
    format!(
        "<section id=\"charts\"><h2>History</h2><div class=\"charts\">\
         <figure id=\"chart-reclaimed\"><figcaption>Reclaimed per day (UTC)</figcaption>{}</figure>\
         <figure id=\"chart-disk\"><figcaption>Disk used by Docker</figcaption>{}</figure>\
         </div></section>\n",
        reclaimed_chart(runs, now),
        disk_chart(&disk_points(runs)),
    )
}

const NO_DATA: &str = "<p class=\"nodata\">no data yet</p>";
/// The charts' drawing area, in SVG user units (they scale to the figure's width).
const CHART_W: f64 = 300.0;
const CHART_H: f64 = 90.0;

/// Bytes reclaimed per UTC day over the [`CHART_DAYS`] days ending at `now`.
fn reclaimed_per_day(runs: &[&Record], now: DateTime<Utc>) -> Vec<(NaiveDate, u64)> {
    let mut days: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let today = now.date_naive();
    for i in 0..CHART_DAYS {
        days.insert(today - chrono::Days::new(i.unsigned_abs()), 0);
    }
    for r in runs {
        if let Some(day) = started(r).map(|t| t.date_naive())
            && let Some(sum) = days.get_mut(&day)
        {
            *sum += summary_count(r, "bytes_reclaimed");
        }
    }
    days.into_iter().collect()
}

#[allow(clippy::cast_precision_loss)]
fn reclaimed_chart(runs: &[&Record], now: DateTime<Utc>) -> String {
    let days = reclaimed_per_day(runs, now);
    if runs.iter().all(|r| started(r).is_none()) {
        return NO_DATA.to_owned();
    }
    let max = days.iter().map(|d| d.1).max().unwrap_or(0);
    if max == 0 {
        return format!("<p class=\"nodata\">nothing reclaimed in the last {CHART_DAYS} days</p>");
    }
    let slot = CHART_W / days.len() as f64;
    let mut bars = String::new();
    for (i, (day, bytes)) in days.iter().enumerate() {
        let h = (*bytes as f64 / max as f64) * (CHART_H - 4.0);
        let h = if *bytes > 0 { h.max(1.5) } else { 0.0 };
        let _ = write!(
            bars,
            "<rect class=\"bar\" data-day=\"{day}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{day}: {}</title></rect>",
            i as f64 * slot + 1.0,
            CHART_H - h,
            slot - 2.0,
            swab_engine::format_bytes(*bytes),
        );
    }
    let first = days.first().map(|d| d.0.format("%b %d").to_string());
    let last = days.last().map(|d| d.0.format("%b %d").to_string());
    format!(
        "{}<div class=\"axis\"><span>{}</span><span>max {}</span><span>{}</span></div>",
        svg(&bars),
        first.unwrap_or_default(),
        swab_engine::format_bytes(max),
        last.unwrap_or_default(),
    )
}

/// Disk usage over time: each run that measured it, oldest first.
fn disk_points(runs: &[&Record]) -> Vec<(DateTime<Utc>, u64)> {
    let mut points: Vec<(DateTime<Utc>, u64)> = runs
        .iter()
        .filter_map(|r| Some((started(r)?, r.disk_used_bytes?)))
        .collect();
    points.sort_by_key(|p| p.0);
    points
}

/// A line through `points` (sorted by time).
#[allow(clippy::cast_precision_loss)]
fn disk_chart(points: &[(DateTime<Utc>, u64)]) -> String {
    if points.is_empty() {
        return NO_DATA.to_owned();
    }
    let (t0, t1) = (points[0].0, points[points.len() - 1].0);
    let spread = (t1 - t0).num_seconds().max(1) as f64;
    // The range measured, not from zero: a disk that goes from 40 to 38 GB should show it.
    let lo = points.iter().map(|p| p.1).min().unwrap_or(0);
    let hi = points.iter().map(|p| p.1).max().unwrap_or(0);
    let range = hi.saturating_sub(lo) as f64;
    let xy = |(t, b): &(DateTime<Utc>, u64)| {
        let x = if points.len() == 1 {
            CHART_W / 2.0
        } else {
            4.0 + (*t - t0).num_seconds() as f64 / spread * (CHART_W - 8.0)
        };
        let y = if range == 0.0 {
            CHART_H / 2.0
        } else {
            CHART_H - 6.0 - (*b - lo) as f64 / range * (CHART_H - 12.0)
        };
        (x, y)
    };
    let line: Vec<String> = points
        .iter()
        .map(|p| {
            let (x, y) = xy(p);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let mut body = format!("<polyline class=\"line\" points=\"{}\"/>", line.join(" "));
    for p in points {
        let (x, y) = xy(p);
        let _ = write!(
            body,
            // A zero-length line with round caps: a dot that stays round when the chart
            // stretches (a circle would become an ellipse).
            "<line class=\"dot\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\"><title>{}: {}</title></line>",
            p.0.format("%Y-%m-%d %H:%M UTC"),
            swab_engine::format_bytes(p.1),
        );
    }
    format!(
        "{}<div class=\"axis\"><span>{}</span><span>now {}{}</span><span>{}</span></div>",
        svg(&body),
        t0.format("%b %d"),
        swab_engine::format_bytes(points[points.len() - 1].1),
        if lo == hi {
            String::new()
        } else {
            format!(
                " <span class=\"dim\">({}–{})</span>",
                swab_engine::format_bytes(lo),
                swab_engine::format_bytes(hi)
            )
        },
        t1.format("%b %d"),
    )
}

fn svg(body: &str) -> String {
    format!(
        "<svg viewBox=\"0 0 {CHART_W} {CHART_H}\" preserveAspectRatio=\"none\" role=\"img\">\
         <line class=\"base\" x1=\"0\" y1=\"{CHART_H}\" x2=\"{CHART_W}\" y2=\"{CHART_H}\"/>{body}</svg>"
    )
}

fn runs_section(runs: &[&Record], now: DateTime<Utc>) -> String {
    let mut out = format!(
        "<section id=\"runs\"><h2>Last runs <small>{} of {}</small></h2>\n",
        runs.len().min(RUNS_SHOWN),
        runs.len()
    );
    if runs.is_empty() {
        out.push_str("<p class=\"empty\">No runs yet.</p>\n");
    }
    for r in runs.iter().take(RUNS_SHOWN) {
        out.push_str(&run_item(r, now));
    }
    out.push_str("</section>\n");
    out
}

/// What a run's result reads as: `failed` if anything failed, `dry-run`, or `ok`.
fn run_result(r: &Record) -> (&'static str, &'static str) {
    let failed_action = r
        .report
        .get("actions")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|a| text(a, "status") == Some("failed")));
    if summary_count(r, "failed") > 0 || failed_action {
        ("bad", "failed")
    } else if r.report.get("dry_run").and_then(Value::as_bool) == Some(true) {
        ("dim", "dry-run")
    } else {
        ("ok", "ok")
    }
}

/// The run's summary as "3 removed · 1 updated · 1.2 GB".
fn run_summary(r: &Record) -> String {
    let removed: u64 = [
        "containers_removed",
        "images_removed",
        "volumes_removed",
        "networks_removed",
    ]
    .iter()
    .map(|k| summary_count(r, k))
    .sum();
    let updated =
        summary_count(r, "containers_recreated") + summary_count(r, "containers_restarted");
    let mut parts = Vec::new();
    for (n, what) in [
        (removed, "removed"),
        (summary_count(r, "images_pulled"), "pulled"),
        (updated, "updated"),
        (summary_count(r, "skipped"), "skipped"),
        (summary_count(r, "failed"), "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let bytes = summary_count(r, "bytes_reclaimed");
    if bytes > 0 {
        parts.push(format!("{} reclaimed", swab_engine::format_bytes(bytes)));
    }
    if parts.is_empty() {
        "nothing to do".to_owned()
    } else {
        parts.join(" · ")
    }
}

fn run_item(r: &Record, now: DateTime<Utc>) -> String {
    let (kind, result) = run_result(r);
    let at = started(r).map_or_else(|| "?".to_owned(), |t| when(t, now));
    let trigger = serde_json::to_value(r.trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let actions = r.report.get("actions").and_then(Value::as_array);
    let actions = actions.map_or(&[][..], Vec::as_slice);
    let open = if kind == "bad" { " open" } else { "" };
    format!(
        "<details class=\"run\" id=\"run-{id}\" data-run=\"{id}\"{open}><summary>\
         {} <span class=\"at\">{at}</span> <span class=\"rules\">{}</span> \
         <span class=\"dim\">{} · {}</span> <span class=\"summary\">{}</span></summary>{}</details>\n",
        badge(kind, result),
        esc(&r.rules.join(", ")),
        esc(&trigger),
        millis(r.duration_ms),
        esc(&run_summary(r)),
        action_list(actions),
        id = esc(&r.id),
    )
}

fn action_list(actions: &[Value]) -> String {
    if actions.is_empty() {
        return "<p class=\"dim\">No actions.</p>".to_owned();
    }
    let mut out = String::from("<ul class=\"actions\">");
    for a in actions.iter().take(ACTIONS_SHOWN) {
        let status = text(a, "status").unwrap_or("?");
        let kind = match status {
            "done" => "ok",
            "failed" => "bad",
            "rolled_back" => "warn",
            _ => "dim",
        };
        let name = text(a, "name").or_else(|| text(a, "id")).unwrap_or("?");
        let bytes = a
            .get("bytes")
            .and_then(Value::as_u64)
            .filter(|b| *b > 0)
            .map_or_else(String::new, |b| {
                format!(
                    " <span class=\"dim\">{}</span>",
                    swab_engine::format_bytes(b)
                )
            });
        let error = text(a, "error").map_or_else(String::new, |e| {
            format!("<div class=\"error\">{}</div>", esc(e))
        });
        let _ = write!(
            out,
            "<li data-status=\"{}\">{} <span class=\"aname\">{}</span> \
             <span class=\"dim\">{}</span>{bytes}{error}</li>",
            esc(status),
            badge(kind, &status.replace('_', " ")),
            esc(name),
            esc(text(a, "action").unwrap_or("")),
        );
    }
    if actions.len() > ACTIONS_SHOWN {
        let _ = write!(
            out,
            "<li class=\"dim\">… and {} more</li>",
            actions.len() - ACTIONS_SHOWN
        );
    }
    out.push_str("</ul>");
    out
}

const STYLE: &str = r#"
:root{--bg:#f7f7f5;--fg:#1d1f21;--card:#fff;--line:#dcdcd6;--dim:#6b6e72;--accent:#2f6fbb;
--ok:#1f7a3a;--ok-bg:#e3f3e7;--bad:#b3261e;--bad-bg:#fbe4e2;--warn:#8a5a00;--warn-bg:#fdf0d5;--bar:#2f6fbb}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e3e3e0;--card:#1e2125;--line:#33373d;
--dim:#9a9ea4;--accent:#7fb0ef;--ok:#7fd49a;--ok-bg:#173323;--bad:#ff9c92;--bad-bg:#3d1a18;
--warn:#f0c26b;--warn-bg:#3a2c10;--bar:#7fb0ef}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:20px;margin:0;display:inline-block;margin-right:8px}
h2{font-size:15px;margin:18px 0 8px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
h3{font-size:15px;margin:0 0 6px;overflow-wrap:anywhere}
small{font-weight:normal;color:var(--dim)}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
a{color:var(--accent)}
.meta{margin:4px 0 0;color:var(--dim);overflow-wrap:anywhere}
.host{font-family:ui-monospace,monospace;font-size:12.5px}
.dim,.empty,.nodata{color:var(--dim)}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;white-space:nowrap;vertical-align:1px}
.badge.ok{color:var(--ok);background:var(--ok-bg)}.badge.bad{color:var(--bad);background:var(--bad-bg)}
.badge.warn{color:var(--warn);background:var(--warn-bg)}.badge.dim{color:var(--dim);background:var(--line)}
#rules{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:8px}
#rules>h2,#rules>p{grid-column:1/-1;margin-bottom:0}
.rule,.pending,.run,figure{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px;min-width:0}
.action{font-weight:normal;color:var(--dim);font-size:13px}
dl{margin:0;display:grid;grid-template-columns:1fr 1fr;gap:4px 12px}
dl .wide{grid-column:1/-1}
dt{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
dd{margin:0;overflow-wrap:anywhere}
.cards{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:8px}
.ref{margin-bottom:4px;overflow-wrap:anywhere}
.why{font-size:13px}
.containers{list-style:none;margin:6px 0 0;padding:0}
.containers li{padding:3px 0;border-top:1px solid var(--line);overflow-wrap:anywhere}
.cname{font-family:ui-monospace,monospace;font-size:12.5px}
button{font:inherit;font-size:12px;padding:1px 9px;border-radius:6px;border:1px solid var(--accent);background:transparent;color:var(--accent);cursor:pointer}
button:hover{background:var(--accent);color:var(--card)}button:disabled{opacity:.5;cursor:wait}
output{display:block;font-size:12.5px}output.ok{color:var(--ok)}output.bad{color:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:8px}
figure{margin:0}figcaption{font-size:12px;color:var(--dim);margin-bottom:6px}
svg{display:block;width:100%;height:90px;overflow:visible}
.bar{fill:var(--bar)}.bar:hover{opacity:.7}.base{stroke:var(--line);stroke-width:1}
.line{fill:none;stroke:var(--bar);stroke-width:1.5;vector-effect:non-scaling-stroke}
.dot{stroke:var(--bar);stroke-width:6;stroke-linecap:round;vector-effect:non-scaling-stroke}
.axis{display:flex;justify-content:space-between;font-size:11px;color:var(--dim);margin-top:3px}
.run{margin-bottom:6px;padding:6px 12px}
.run summary{cursor:pointer;overflow-wrap:anywhere}
.run .rules{font-weight:600}
.actions{list-style:none;margin:6px 0 2px;padding:0;font-size:13px}
.actions li{padding:2px 0;border-top:1px solid var(--line);overflow-wrap:anywhere}
.error{color:var(--bad);font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
@media (max-width:480px){main{padding:8px}#rules,.cards{grid-template-columns:1fr}}
"#;

const SCRIPT: &str = r#"
(function(){
var KEY="swab-api-token",answers={};
function show(){
  document.querySelectorAll("button.update").forEach(function(b){b.hidden=false;});
  Object.keys(answers).forEach(function(c){
    var o=document.querySelector('output[data-for="'+CSS.escape(c)+'"]');
    if(o){o.className="answer "+answers[c][0];o.textContent=answers[c][1];}
  });
}
function say(c,kind,msg){answers[c]=[kind,msg];show();}
function token(){
  var t=sessionStorage.getItem(KEY);
  if(!t){t=window.prompt("API token (kept for this tab only)");if(t){t=t.trim();sessionStorage.setItem(KEY,t);}}
  return t;
}
document.addEventListener("click",function(e){
  var b=e.target.closest("button.update");if(!b)return;
  var c=b.getAttribute("data-update"),t=token();
  if(!t){say(c,"bad","no token given");return;}
  b.disabled=true;say(c,"","updating…");
  fetch("/api/v1/containers/"+encodeURIComponent(c)+"/update",{method:"POST",
    headers:{"Authorization":"Bearer "+t,"Content-Type":"application/json"},body:"{}"})
  .then(function(r){return r.text().then(function(s){var j={};try{j=JSON.parse(s);}catch(_){}return [r,j,s];});})
  .then(function(x){
    var r=x[0],j=x[1];
    if(r.status===401||r.status===403)sessionStorage.removeItem(KEY);
    if(r.ok)say(c,"ok","started run "+(j.id||j.run_id||"")+" ("+r.status+")");
    else say(c,"bad",(j.title||("HTTP "+r.status))+(j.detail?": "+j.detail:""));
  })
  .catch(function(err){say(c,"bad","request failed: "+err);})
  .finally(function(){b.disabled=false;});
});
function refresh(){
  if(document.hidden)return;
  fetch(location.pathname,{cache:"no-store"}).then(function(r){if(!r.ok)throw r.status;return r.text();})
  .then(function(html){
    var next=new DOMParser().parseFromString(html,"text/html").getElementById("main");
    var main=document.getElementById("main");if(!next||!main)return;
    var open={};main.querySelectorAll("details[open]").forEach(function(d){open[d.id]=1;});
    main.innerHTML=next.innerHTML;
    main.querySelectorAll("details.run").forEach(function(d){if(open[d.id])d.open=true;});
    show();
  }).catch(function(){});
}
show();setInterval(refresh,30000);
document.addEventListener("visibilitychange",function(){if(!document.hidden)refresh();});
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use swab_engine::history::Trigger;

    pub(crate) fn sample_status() -> Value {
        json!({
            "version": "0.1.0", "started_at": "2026-11-29T10:00:00Z", "now": "2026-11-29T12:00:00Z",
            "host": "unix:///var/run/docker.sock", "docker_up": true,
            "updates_checked_at": "2026-11-29T11:50:00Z",
            "rules": [
                {"name": "nightly", "action": "prune-images", "schedule": "0 3 * * *",
                 "next_fire": "2026-11-30T03:00:00Z",
                 "window": {"open": false, "detail": "opens 2026-11-30T02:00:00Z"},
                 "last_run": {"id": "20261129T030000Z-aaaa", "at": "2026-11-29T03:00:00Z",
                   "result": "ok", "duration_ms": 1234,
                   "summary": "reclaimed 1.2 GB (3 containers); 0 skipped, 0 failed"},
                 "pending_updates": []},
                {"name": "<script>alert(1)</script>", "action": "update", "schedule": null,
                 "next_fire": null, "window": null, "last_run": null,
                 "pending_updates": [
                    {"reference": "nginx:1.27", "containers": ["web", "<b>evil</b>"],
                     "status": "held_back", "held_back": "cooldown: 2d left",
                     "eligible_at": "2026-12-01T12:00:00Z"},
                    {"reference": "redis:7", "containers": ["cache"],
                     "status": "outdated", "held_back": null, "eligible_at": null}]}
            ]
        })
    }

    pub(crate) fn sample_runs() -> Vec<Record> {
        let report = |started: &str, bytes: u64, actions: Value| {
            json!({"started_at": started, "finished_at": started, "dry_run": false,
                "actions": actions, "notes": [],
                "summary": {"containers_removed": 1, "images_removed": 2, "volumes_removed": 0,
                  "networks_removed": 0, "images_pulled": 0, "containers_recreated": 0,
                  "containers_restarted": 0, "bytes_reclaimed": bytes, "skipped": 0, "failed": 0}})
        };
        vec![
            Record {
                id: "20261128T030000Z-bbbb".into(),
                rules: vec!["nightly".into()],
                trigger: Trigger::Schedule,
                duration_ms: 800,
                report: report("2026-11-28T03:00:00Z", 500_000_000, json!([])),
                disk_used_bytes: Some(40_000_000_000),
            },
            Record {
                id: "20261129T030000Z-aaaa".into(),
                rules: vec!["nightly".into()],
                trigger: Trigger::Schedule,
                duration_ms: 1234,
                report: report(
                    "2026-11-29T03:00:00Z",
                    1_200_000_000,
                    json!([{"rule": "nightly", "action": "remove-image", "id": "sha256:1",
                        "name": "old:<1>", "reason": "unused", "status": "failed",
                        "error": "conflict: <in use>", "bytes": 0}]),
                ),
                disk_used_bytes: Some(38_000_000_000),
            },
        ]
    }

    #[test]
    fn strings_from_the_input_are_escaped() {
        let page = render(&sample_status(), &sample_runs());
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<b>evil</b>"));
        assert!(page.contains("&lt;b&gt;evil&lt;/b&gt;"));
        assert!(page.contains("conflict: &lt;in use&gt;"));
        assert!(page.contains("old:&lt;1&gt;"));
        assert_eq!(esc(r#"a&"'<>"#), "a&amp;&quot;&#39;&lt;&gt;");
    }

    #[test]
    fn rules_pending_updates_and_runs_appear() {
        let page = render(&sample_status(), &sample_runs());
        assert!(page.contains("data-rule=\"nightly\""));
        assert!(page.contains("<code>0 3 * * *</code>"));
        assert!(page.contains("in 15h 0m")); // next fire
        assert!(page.contains("opens 2026-11-30T02:00:00Z"));
        assert!(page.contains("reclaimed 1.2 GB (3 containers)"));
        assert!(page.contains("data-pending=\"nginx:1.27\""));
        assert!(page.contains("cooldown: 2d left"));
        assert!(page.contains("data-update=\"web\""));
        let redis = &page[page.find("data-pending=\"redis:7\"").unwrap()..];
        assert!(redis[..redis.find("</li>").unwrap()].contains(">available<"));
        assert!(page.contains("data-run=\"20261129T030000Z-aaaa\""));
        // Newest first.
        let newer = page.find("data-run=\"20261129T030000Z-aaaa\"").unwrap();
        let older = page.find("data-run=\"20261128T030000Z-bbbb\"").unwrap();
        assert!(newer < older);
        assert!(page.contains("3 removed · 1.2 GB reclaimed"));
        assert!(page.contains("data-status=\"failed\""));
    }

    #[test]
    fn the_reclaimed_chart_has_a_bar_per_day_and_says_no_data_without_runs() {
        let page = render(&sample_status(), &sample_runs());
        assert_eq!(page.matches("class=\"bar\"").count(), 14);
        assert!(page.contains("data-day=\"2026-11-29\""));
        assert!(page.contains("2026-11-29: 1.2 GB"));
        assert!(page.contains("2026-11-28: 500.0 MB"));
        // Runs that reclaimed nothing.
        let mut idle = sample_runs();
        for r in &mut idle {
            r.report["summary"]["bytes_reclaimed"] = json!(0);
        }
        let page = render(&sample_status(), &idle);
        assert!(page.contains("nothing reclaimed in the last 14 days"));
        let disk = &page[page.find("id=\"chart-disk\"").unwrap()..];
        let disk = &disk[..disk.find("</figure>").unwrap()];
        assert!(disk.contains("<polyline"));
        assert!(disk.contains("now 38.0 GB"));
        // Records from before the daemon measured the disk.
        let mut old = sample_runs();
        for r in &mut old {
            r.disk_used_bytes = None;
        }
        let page = render(&sample_status(), &old);
        let disk = &page[page.find("id=\"chart-disk\"").unwrap()..];
        assert!(disk[..disk.find("</figure>").unwrap()].contains("no data yet"));

        let empty = render(&sample_status(), &[]);
        assert_eq!(empty.matches("no data yet").count(), 2);
        assert!(!empty.contains("class=\"bar\""));
    }

    #[test]
    fn an_empty_status_renders() {
        let page = render(&json!({}), &[]);
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("No rules."));
        assert!(page.contains("Nothing pending."));
        assert!(page.contains("No runs yet."));
        assert!(page.ends_with("</html>\n"));
        let page = render(&Value::Null, &[]);
        assert!(page.contains("No rules."));
    }

    #[test]
    fn relative_times_and_durations() {
        assert_eq!(span(59), "59s");
        assert_eq!(span(-3_700), "1h 1m");
        assert_eq!(span(90_000), "1d 1h");
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(12_345), "12.3 s");
        assert_eq!(millis(245_000), "4m 5s");
    }

    #[test]
    fn the_disk_chart_draws_a_line_through_the_measurements() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let chart = disk_chart(&[
            (t("2026-11-28T03:00:00Z"), 40_000_000_000),
            (t("2026-11-29T03:00:00Z"), 38_000_000_000),
        ]);
        assert!(chart.contains("<polyline"));
        assert_eq!(chart.matches("class=\"dot\"").count(), 2);
        assert!(chart.contains("now 38.0 GB <span class=\"dim\">(38.0 GB–40.0 GB)</span>"));
        // The higher usage is drawn higher (smaller y).
        assert!(chart.contains("points=\"4.0,6.0 296.0,84.0\""), "{chart}");
        assert_eq!(disk_chart(&[]), NO_DATA);
    }
}

/// The renderer in a real browser, before any daemon serves it: the page as a file,
/// loaded by headless chromium. Lives with the daemon tests because it needs their
/// environment (which installs chromium).
#[cfg(all(test, feature = "docker-tests"))]
mod with_daemon {
    use swab_testkit::browser::{self, Scheme};

    use super::tests::{sample_runs, sample_status};

    #[test]
    fn the_rendered_page_loads_in_chromium_and_fits_a_phone() {
        if browser::chromium().is_none() {
            swab_testkit::skip(
                "page::the_rendered_page_loads_in_chromium_and_fits_a_phone",
                "chromium is not installed",
            );
            return;
        }
        let page = super::render(&sample_status(), &sample_runs());
        let file = browser::artifacts_dir().join("status-page-sample.html");
        std::fs::write(&file, page).unwrap();
        let url = format!("file://{}", file.display());

        let dom = browser::dump_dom(&url);
        assert!(dom.contains("data-rule=\"nightly\""), "{dom}");
        assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(dom.contains("data-pending=\"nginx:1.27\""));
        assert!(dom.contains("data-run=\"20261129T030000Z-aaaa\""));
        // The script ran: the "update now" buttons are shown.
        assert!(dom.contains("data-update=\"web\">update now"), "{dom}");
        assert!(!dom.contains("data-update=\"web\" hidden"));

        let width = browser::scroll_width(&url, 375);
        assert!(width <= 375, "the page is {width} px wide at 375 px");

        for (name, width, height, scheme) in [
            ("status-page-sample-wide-light", 1280, 1000, Scheme::Light),
            ("status-page-sample-wide-dark", 1280, 1000, Scheme::Dark),
            ("status-page-sample-phone-light", 390, 1700, Scheme::Light),
            ("status-page-sample-phone-dark", 390, 1700, Scheme::Dark),
        ] {
            let path = browser::screenshot(&url, name, width, height, scheme);
            eprintln!("screenshot: {}", path.display());
        }
    }

    /// Serves `page` at every GET and answers the update POSTs like the API does: 202 with
    /// a run id for `web` with the right token, a problem object otherwise. Returns its
    /// port and the requests it saw (request line and `authorization` header).
    fn fake_api(page: String) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let (mut auth, mut length) = (String::new(), 0usize);
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    let lower = header.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        header.trim().clone_into(&mut auth);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                log.lock().unwrap().push(format!("{} {auth}", line.trim()));
                let (status, kind, answer) = if line.starts_with("GET ") {
                    ("200 OK", "text/html; charset=utf-8", page.clone())
                } else if line.starts_with("POST /api/v1/containers/web/update ")
                    && auth == "Authorization: Bearer t0k3n"
                {
                    (
                        "202 Accepted",
                        "application/json",
                        r#"{"id":"20261129T120000Z-beef","state":"running"}"#.to_owned(),
                    )
                } else {
                    (
                        "422 Unprocessable Entity",
                        "application/problem+json",
                        r#"{"title":"no update rule selects this container","detail":"<b>cache</b> is protected","status":422}"#.to_owned(),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        (port, seen)
    }

    /// The "update now" buttons: the token kept in the tab, the POST with it, and the
    /// answers (a 202 and a problem object) shown next to each container, as text.
    #[test]
    fn update_now_posts_with_the_token_and_shows_the_answers() {
        if browser::chromium().is_none() {
            swab_testkit::skip(
                "page::update_now_posts_with_the_token_and_shows_the_answers",
                "chromium is not installed",
            );
            return;
        }
        // The token as if asked before; then an operator's two clicks.
        let clicks = "<script>sessionStorage.setItem('swab-api-token', 't0k3n');\
                      document.querySelector('button[data-update=\"web\"]').click();\
                      document.querySelector('button[data-update=\"cache\"]').click();</script>";
        let page = super::render(&sample_status(), &sample_runs())
            .replace("</body>", &format!("{clicks}</body>"));
        let (port, seen) = fake_api(page);
        let dom = browser::dump_dom_after(&format!("http://127.0.0.1:{port}/"), 5000);
        let answer = |c: &str| {
            let at = dom.find(&format!("data-for=\"{c}\"")).unwrap();
            dom[at..at + dom[at..].find("</output>").unwrap()].to_owned()
        };
        assert!(
            answer("web").contains("started run 20261129T120000Z-beef (202)"),
            "{dom}"
        );
        assert!(
            answer("cache").contains(
                "no update rule selects this container: &lt;b&gt;cache&lt;/b&gt; is protected"
            ),
            "{dom}"
        );
        let seen = seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|r| r
                    == "POST /api/v1/containers/web/update HTTP/1.1 Authorization: Bearer t0k3n"),
            "{seen:?}"
        );
    }
}
