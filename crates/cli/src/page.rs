//! The status page (`GET /`): server-rendered HTML from the status and the history.

use std::fmt::Write as _;

use swab_engine::history::Record;

/// The page for `status` (what `GET /api/v1/status` answers) and the newest `runs`.
pub fn render(status: &serde_json::Value, runs: &[Record]) -> String {
    let mut out = String::from("<!doctype html><meta charset=utf-8><title>swab</title><main>");
    let _ = write!(
        out,
        "<h1>swab on {}</h1><ul>",
        escape(status["host"].as_str().unwrap_or(""))
    );
    for rule in status["rules"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<li data-rule=\"{0}\">{0}</li>",
            escape(rule["name"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</ul><ol>");
    for run in runs {
        let _ = write!(out, "<li data-run=\"{0}\">{0}</li>", escape(&run.id));
    }
    out.push_str("</ol></main>");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
