//! Each channel against a local receiver that records requests: the method, path, headers
//! and JSON fields the real service's API documents, exactly one message per event, retries
//! bounded, and no secret in what is returned. Targets come from a rule file, as users
//! write them (the receiver's address through `api=`, `scheme=http`, `generic+http://`).

use std::time::Duration;

use swab_notify::{Delivery, Event, Notifier, docker_event, notice_event, report_events};
use swab_plan::plan::{ActionKind, Note, NoteScope};
use swab_plan::report::{ActionReport, Report, Status, Summary};
use swab_plan::updates::Notice;
use swab_rules::Notify;
use swab_testkit::receiver::{Answer, Receiver};

const WAIT: Duration = Duration::from_secs(10);

fn targets(entries: &str) -> Vec<Notify> {
    let text =
        format!("version: 1\nrules:\n  - name: r\n    action: prune-images\nnotify:\n{entries}");
    swab_rules::load_str("t.yaml", &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .notify
}

fn notifier() -> Notifier {
    Notifier::with_delivery(Delivery {
        tries: 3,
        backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(2),
    })
    .unwrap()
}

fn down() -> Event {
    docker_event("unix:///run/docker.sock", false, 300)
}

fn notice() -> Event {
    notice_event(
        "unix:///run/docker.sock",
        &Notice {
            rule: "watch".into(),
            reference: "nginx:1.27".into(),
            target: None,
            digest: "sha256:abc".into(),
            containers: vec!["web".into()],
            eligible_at: None,
            text: "nginx:1.27 has a new digest sha256:abc".into(),
        },
    )
}

fn action(action: ActionKind, name: &str, status: Status, error: Option<&str>) -> ActionReport {
    ActionReport {
        rule: "nightly".into(),
        action,
        id: format!("id-{name}"),
        name: name.into(),
        reason: format!("{name}: nginx:1.27 has a new digest"),
        status,
        error: error.map(str::to_owned),
        bytes: None,
    }
}

fn report() -> Report {
    let actions = vec![
        action(ActionKind::RecreateContainer, "web", Status::Done, None),
        action(ActionKind::RecreateContainer, "api", Status::Done, None),
        action(
            ActionKind::RecreateContainer,
            "db",
            Status::RolledBack,
            Some("health gate: unhealthy"),
        ),
        action(ActionKind::RemoveImage, "old:1", Status::Done, None),
    ];
    Report {
        swab_version: "test",
        dry_run: false,
        host: "unix:///run/docker.sock".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:05Z".into(),
        summary: Summary::of(&actions),
        actions,
        kept: Vec::new(),
        notes: vec![Note {
            scope: NoteScope::Recovery,
            message: "finished the update of cache interrupted by a crash".into(),
        }],
        rate_limits: std::collections::BTreeMap::new(),
        retries: swab_plan::report::Retries::default(),
    }
}

#[tokio::test]
async fn ntfy_posts_the_body_with_title_priority_tags_and_basic_auth() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: ntfy://alice:pw-SECRET@{}/swab-updates?scheme=http&priority=high&tags=whale\n",
        rx.addr()
    ));
    assert!(notifier().send(&t, &down()).await.is_empty());
    let got = rx.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "exactly one message");
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/swab-updates")
    );
    assert_eq!(
        r.header("title"),
        Some("swab on unix:///run/docker.sock: Docker unreachable")
    );
    assert_eq!(r.header("priority"), Some("4"));
    assert_eq!(r.header("tags"), Some("whale"));
    // base64("alice:pw-SECRET")
    assert_eq!(
        r.header("authorization"),
        Some("Basic YWxpY2U6cHctU0VDUkVU")
    );
    assert_eq!(
        r.text(),
        "the Docker daemon has not answered for 300s; runs wait for it"
    );
}

#[tokio::test]
async fn gotify_posts_json_with_the_token_in_the_query() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: gotify://{}/AppTok3n?disabletls=yes&priority=8\n",
        rx.addr()
    ));
    assert!(notifier().send(&t, &notice()).await.is_empty());
    let got = rx.wait_for(1, WAIT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/message?token=AppTok3n");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        got[0].json(),
        serde_json::json!({
            "title": "swab on unix:///run/docker.sock: new image for nginx:1.27",
            "message": "nginx:1.27 has a new digest sha256:abc",
            "priority": 8,
        })
    );
}

#[tokio::test]
async fn discord_posts_content_and_honours_retry_after_on_429() {
    let rx = Receiver::scripted(vec![Answer::status(429).header("Retry-After", "0.2")]);
    let t = targets(&format!(
        "  - url: discord://T0KEN-SECRET@112233?api={}\n",
        rx.url()
    ));
    let started = std::time::Instant::now();
    assert!(notifier().send(&t, &down()).await.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "waited as told"
    );
    let got = rx.wait_for(2, WAIT);
    assert_eq!(
        got.len(),
        2,
        "one refused, one taken: one message delivered"
    );
    assert_eq!(got[0], got[1]);
    assert_eq!(got[1].path, "/api/webhooks/112233/T0KEN-SECRET");
    assert_eq!(
        got[1].json(),
        serde_json::json!({ "content": "swab on unix:///run/docker.sock: Docker unreachable\n\nthe Docker daemon has not answered for 300s; runs wait for it" })
    );
}

#[tokio::test]
async fn discord_content_is_cut_to_2000_characters() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: discord://t@1?api={}\n    body: \"{{details}}\"\n",
        rx.url()
    ));
    let mut event = down();
    event.details = "ü".repeat(5000);
    assert!(notifier().send(&t, &event).await.is_empty());
    let content = rx.wait_for(1, WAIT)[0].json()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(content.chars().count(), 2000);
    assert!(content.ends_with("ü…"));
}

#[tokio::test]
async fn telegram_sends_once_per_chat_and_checks_ok() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: telegram://110201543:AAH-SECRET@telegram?chats=@swabchan,-100123&parsemode=HTML&api={}\n",
        rx.url()
    ));
    let mut event = down();
    event.summary = "a <b> & c".into();
    assert!(notifier().send(&t, &event).await.is_empty());
    let got = rx.wait_for(2, WAIT);
    assert_eq!(got.len(), 2, "one message per chat");
    for (r, chat) in got.iter().zip(["@swabchan", "-100123"]) {
        assert_eq!(r.path, "/bot110201543:AAH-SECRET/sendMessage");
        assert_eq!(
            r.json(),
            serde_json::json!({
                "chat_id": chat,
                "text": "swab on unix:///run/docker.sock: Docker unreachable\n\na &lt;b&gt; &amp; c",
                "parse_mode": "HTML",
            })
        );
    }

    // 200 with "ok": false is a failure, and not retried.
    let rx = Receiver::scripted(vec![Answer {
        status: 200,
        headers: Vec::new(),
        body: r#"{"ok":false,"description":"chat not found"}"#.into(),
    }]);
    let t = targets(&format!(
        "  - url: telegram://1:AAH-SECRET@telegram?chats=5&api={}\n",
        rx.url()
    ));
    let problems = notifier().send(&t, &down()).await;
    assert_eq!(problems.len(), 1);
    assert!(!problems[0].contains("SECRET"), "{problems:?}");
    assert_eq!(rx.wait_for(1, WAIT).len(), 1);
}

#[tokio::test]
async fn teams_posts_an_adaptive_card() {
    let rx = Receiver::start();
    let webhook = format!(
        "{}/workflows/abc/triggers/manual/paths/invoke?sig=SECRET",
        rx.url()
    );
    let encoded: String = webhook
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let t = targets(&format!(
        "  - url: teams://?host={encoded}\n  - url: {webhook}\n    format: teams\n"
    ));
    assert!(notifier().send(&t, &down()).await.is_empty());
    let got = rx.wait_for(2, WAIT);
    assert_eq!(got.len(), 2, "one message per target");
    assert_eq!(got[0].json(), got[1].json());
    assert_eq!(
        got[0].path,
        "/workflows/abc/triggers/manual/paths/invoke?sig=SECRET"
    );
    let card = got[0].json();
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.2");
    let blocks = attachment["content"]["body"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "TextBlock");
    assert_eq!(
        blocks[0]["text"],
        "swab on unix:///run/docker.sock: Docker unreachable"
    );
    assert_eq!(
        blocks[1]["text"],
        "the Docker daemon has not answered for 300s; runs wait for it"
    );
}

#[tokio::test]
async fn slack_and_json_webhooks() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: slack://hook:T000-B000-XXXSECRET@webhook?api={0}\n  - url: {0}/hooks/json\n    on: [changes]\n",
        rx.url()
    ));
    let run = report_events(&report());
    // The run itself, then 2 updates, 1 rollback, 1 recovery.
    assert_eq!(run.len(), 5);
    assert!(notifier().send(&t, &run[0]).await.is_empty());
    let got = rx.wait_for(2, WAIT);
    assert_eq!(got.len(), 2, "one message per target for the run");
    let slack = got
        .iter()
        .find(|r| r.path.starts_with("/services/"))
        .unwrap();
    assert_eq!(slack.path, "/services/T000/B000/XXXSECRET");
    let text = slack.json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("swab on unix:///run/docker.sock: run with failures\n\n"),
        "{text}"
    );
    assert!(
        text.contains("- rolled_back recreate_container db: health gate: unhealthy"),
        "{text}"
    );
    let json = got.iter().find(|r| r.path == "/hooks/json").unwrap().json();
    assert_eq!(json["swab_version"], "test", "the whole report, as before");
    assert_eq!(json["summary"]["failed"], 1);
}

#[tokio::test]
async fn generic_posts_json_with_keys_headers_and_extra_fields() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: \"generic+http://{}/in?template=json&titlekey=subject&messagekey=text&@X-Api-Key=K-SECRET&$source=swab&keep=yes\"\n",
        rx.addr()
    ));
    assert!(notifier().send(&t, &down()).await.is_empty());
    let got = rx.wait_for(1, WAIT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/in?keep=yes");
    assert_eq!(got[0].header("x-api-key"), Some("K-SECRET"));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        got[0].json(),
        serde_json::json!({
            "source": "swab",
            "subject": "swab on unix:///run/docker.sock: Docker unreachable",
            "text": "the Docker daemon has not answered for 300s; runs wait for it",
        })
    );
}

#[tokio::test]
async fn each_event_is_one_message_to_each_target_that_wants_it() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: {0}/default\n    format: slack\n  - url: {0}/updates\n    format: slack\n    on: [update, rollback, recovery]\n",
        rx.url()
    ));
    let events = report_events(&report());
    assert!(notifier().send_each(&t, &events).await.is_empty());
    let got = rx.wait_for(5, WAIT);
    let on = |path: &str| got.iter().filter(|r| r.path == path).count();
    assert_eq!(on("/default"), 1, "the run");
    assert_eq!(on("/updates"), 4, "2 updates, 1 rollback, 1 recovery");
    let texts: Vec<String> = got
        .iter()
        .filter(|r| r.path == "/updates")
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(texts[0].starts_with("swab on unix:///run/docker.sock: updated web"));
    assert!(texts[2].contains("rolled back db"));
    assert!(texts[2].ends_with("health gate: unhealthy"));
    assert!(texts[3].contains("finished the update of cache"));

    // A dry run is nothing to tell.
    let mut dry = report();
    dry.dry_run = true;
    assert!(report_events(&dry).is_empty());
}

#[tokio::test]
async fn a_failing_target_is_tried_three_times_and_reported_without_its_secret() {
    let rx = Receiver::scripted(vec![Answer::status(502); 5]);
    let t = targets(&format!(
        "  - url: discord://T0KEN-SECRET@1?api={}\n",
        rx.url()
    ));
    let problems = notifier().send(&t, &down()).await;
    assert_eq!(problems, ["discord://...: answered 502 Bad Gateway"]);
    assert_eq!(rx.wait_for(3, WAIT).len(), 3, "3 tries, then given up");

    // A client error is not retried.
    let rx = Receiver::scripted(vec![Answer::status(404)]);
    let t = targets(&format!("  - url: {}/hooks/SECRET\n", rx.url()));
    let problems = notifier().send(&t, &down()).await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("http://127.0.0.1:"), "{problems:?}");
    assert!(!problems[0].contains("SECRET"), "{problems:?}");
    assert_eq!(rx.wait_for(1, WAIT).len(), 1);

    // A target that failed is not tried again for the rest of a run's events.
    let rx = Receiver::scripted(vec![Answer::status(500); 3]);
    let t = targets(&format!(
        "  - url: {}/hooks/x\n    format: slack\n    on: [update, rollback]\n",
        rx.url()
    ));
    let problems = notifier().send_each(&t, &report_events(&report())).await;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[1].ends_with("update not sent after an earlier failure"),
        "{problems:?}"
    );
    assert_eq!(
        rx.wait_for(3, WAIT).len(),
        3,
        "3 tries of the first update, no more"
    );

    // A Retry-After beyond the cap ends the tries.
    let rx = Receiver::scripted(vec![Answer::status(429).header("Retry-After", "3600")]);
    let t = targets(&format!("  - url: {}/hooks/x\n", rx.url()));
    let problems = notifier().send(&t, &down()).await;
    assert!(problems[0].contains("asked to wait 3600s"), "{problems:?}");
    assert_eq!(rx.wait_for(1, WAIT).len(), 1);

    // Nobody listening: a connection error, tried and reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let t = targets(&format!(
        "  - url: ntfy://u:SECRET@127.0.0.1:{port}/t?scheme=http\n"
    ));
    let problems = notifier().send(&t, &down()).await;
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with(&format!("ntfy://127.0.0.1:{port}/...: ")),
        "{problems:?}"
    );
    assert!(!problems[0].contains("SECRET"));
}

// The receiver's waits block a thread: the watcher needs another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_down_is_one_message_per_outage_and_one_when_back() {
    let rx = Receiver::start();
    let t = targets(&format!(
        "  - url: {0}/slow\n    format: slack\n    docker_down_after: 300ms\n  - url: {0}/never\n    format: slack\n    docker_down_after: 1h\n  - url: {0}/other\n    format: slack\n    on: [failures]\n",
        rx.url()
    ));
    let (up_tx, up_rx) = tokio::sync::watch::channel(true);
    let watcher = tokio::spawn(swab_notify::watch_docker(
        notifier(),
        t,
        "unix:///run/docker.sock".into(),
        up_rx,
    ));
    up_tx.send(false).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.requests().is_empty(), "not before docker_down_after");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let got = rx.requests();
    assert_eq!(got.len(), 1, "one message for the outage: {got:?}");
    assert_eq!(got[0].path, "/slow");
    assert!(
        got[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("Docker unreachable")
    );
    up_tx.send(true).unwrap();
    let got = rx.wait_for(2, WAIT);
    assert_eq!(got.len(), 2);
    assert!(
        got[1].json()["text"]
            .as_str()
            .unwrap()
            .contains("Docker reachable again")
    );
    // A short outage tells nobody.
    up_tx.send(false).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    up_tx.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests().len(), 2);
    drop(up_tx);
    watcher.await.unwrap();
}

/// SMTP against aiosmtpd (installed by scripts/test-env.sh: Debian's python3-aiosmtpd):
/// a mail with the rendered title as subject, to every recipient, after a login. (A
/// wrong password is not tested here: aiosmtpd answers a failed login only after ~30 s.)
mod with_daemon {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    const SINK: &str = r#"
import json, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
out, port = sys.argv[1], int(sys.argv[2])
class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(out, "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "data": envelope.content.decode("utf-8", "replace")}) + "\n")
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"swab" and data.password == b"pw-SECRET"
    return AuthResult(success=ok)
c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth,
               auth_require_tls=False)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

    #[tokio::test]
    async fn smtp_sends_one_mail_to_every_recipient_after_a_login() {
        let dir = std::env::temp_dir().join(format!("swab-smtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("mails.jsonl");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        // Debian's python3-aiosmtpd is for /usr/bin/python3 (test-env.sh exports it).
        let python = std::env::var("SWAB_TEST_SMTP_PYTHON").unwrap_or_else(|_| {
            if std::path::Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3".to_owned()
            } else {
                "python3".to_owned()
            }
        });
        let mut sink = Command::new(python)
            .args(["-c", SINK, out.to_str().unwrap(), &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test-env.sh installs python3 and python3-aiosmtpd)");
        let mut ready = String::new();
        BufReader::new(sink.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(
            ready.trim(),
            "ready",
            "aiosmtpd did not start: install python3-aiosmtpd (scripts/test-env.sh does)"
        );

        let t = targets(&format!(
            "  - url: smtp://swab:pw-SECRET@127.0.0.1:{port}/?from=swab@example.com&to=ops@example.com,dev@example.com&encryption=None\n    message: long\n"
        ));
        let problems = notifier().send(&t, &down()).await;
        drop(sink.stdin.take());
        let _ = sink.wait();
        assert!(problems.is_empty(), "{problems:?}");
        let mails: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(mails.len(), 1, "exactly one mail: {mails:?}");
        assert_eq!(mails[0]["from"], "swab@example.com");
        assert_eq!(
            mails[0]["to"],
            serde_json::json!(["ops@example.com", "dev@example.com"])
        );
        let data = mails[0]["data"].as_str().unwrap();
        assert!(
            data.contains("Subject: swab on unix:///run/docker.sock: Docker unreachable"),
            "{data}"
        );
        assert!(
            data.contains("the Docker daemon has not answered for 300s"),
            "{data}"
        );
    }
}
