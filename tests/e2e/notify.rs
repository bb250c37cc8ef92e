//! `swab daemon -vvv` notifying every HTTP channel at once through a local receiver: one
//! message per target for the run that removed a container, none for the runs that did
//! nothing, and no target's secret anywhere in the trace-level log.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::fmt::Write as _;
    use std::time::Duration;

    use rustix::process::Signal;
    use swab_testkit::receiver::Receiver;
    use swab_testkit::{env, unique};

    use crate::harness::swab;

    #[test]
    fn each_channel_gets_one_message_per_event_and_no_secret_is_logged() {
        let rx = Receiver::start();
        let (addr, url) = (rx.addr(), rx.url());
        let test_id = unique("d-channels");
        let label = format!("swab-test={test_id}");
        let victim = unique("swab-notify-c");
        env().cli(&[
            "run",
            "--name",
            &victim,
            "--label",
            &label,
            &env().image,
            "true",
        ]);
        // Each target's secret part names its channel, so a leak says where it came from.
        let targets = [
            format!("ntfy://swab:SECRET-ntfy@{addr}/swab-topic?scheme=http"),
            format!("gotify://{addr}/SECRET-gotify?disabletls=yes"),
            format!("discord://SECRET-discord@42?api={url}"),
            format!("telegram://7:SECRET-telegram@telegram?chats=-100&api={url}"),
            format!("{url}/teams/SECRET-teams"),
            format!("slack://hook:T1-B1-SECRETslack@webhook?api={url}"),
            format!("generic+http://{addr}/generic/SECRET-generic?template=json"),
            format!("{url}/json/SECRET-json"),
        ];
        let mut notify = String::from("notify:\n");
        for t in &targets {
            let _ = writeln!(notify, "  - url: \"{t}\"");
            if t.contains("/teams/") {
                notify.push_str("    format: teams\n");
            }
        }
        let rules = format!(
            "version: 1\n{notify}rules:\n  - name: c\n    action: prune-containers\n    schedule: \"*/2 * * * * *\"\n    match:\n      labels: [\"{label}\"]\n"
        );
        let mut daemon = swab()
            .home_file("r.yaml", &rules)
            .args([
                "-vvv",
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
            ])
            .spawn();
        daemon.wait_for_log("swab daemon started", Duration::from_secs(10));
        let got = rx.wait_for(targets.len(), Duration::from_secs(30));
        // Three more runs that find nothing: nothing more is sent.
        std::thread::sleep(Duration::from_secs(6));
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
        let got_after = rx.requests();
        assert_eq!(
            got_after.len(),
            got.len(),
            "no message for runs without changes"
        );

        let paths: Vec<&str> = got_after.iter().map(|r| r.path.as_str()).collect();
        for expected in [
            "/swab-topic",
            "/message?token=SECRET-gotify",
            "/api/webhooks/42/SECRET-discord",
            "/bot7:SECRET-telegram/sendMessage",
            "/teams/SECRET-teams",
            "/services/T1/B1/SECRETslack",
            "/generic/SECRET-generic",
            "/json/SECRET-json",
        ] {
            let n = paths.iter().filter(|p| **p == expected).count();
            assert_eq!(n, 1, "exactly one message at {expected}: {paths:?}");
        }
        let ntfy = got_after.iter().find(|r| r.path == "/swab-topic").unwrap();
        assert!(ntfy.text().contains("1 container"), "{}", ntfy.text());
        let json = got_after
            .iter()
            .find(|r| r.path == "/json/SECRET-json")
            .unwrap();
        assert_eq!(json.json()["summary"]["containers_removed"], 1);
        assert_eq!(json.json()["actions"][0]["name"], victim.as_str());

        let log = daemon.log();
        assert!(
            log.contains("notification sent"),
            "the log says what was sent"
        );
        assert!(log.contains("TRACE"), "the log is at trace level");
        for secret in ["SECRET", "T1-B1"] {
            assert!(
                !log.contains(secret),
                "a secret ({secret}) is in the -vvv log:\n{}",
                log.lines()
                    .filter(|l| l.contains(secret))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }

    /// An aiosmtpd sink with TLS on `port`, using the test environment's server
    /// certificate for 127.0.0.1: `starttls` requires STARTTLS before any mail (and before
    /// the login), else the connection is TLS from the start. Each mail is a JSON line in
    /// `out`, with whether the session was encrypted.
    const TLS_SINK: &str = r#"
import json, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
out, port, mode, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
class Handler:
    async def handle_DATA(self, server, session, envelope):
        # TLS from the first byte shows on the transport; STARTTLS in the session too.
        tls = server.transport.get_extra_info("ssl_object") is not None
        with open(out, "a") as f:
            f.write(json.dumps({"to": envelope.rcpt_tos, "tls": tls,
                                "data": envelope.content.decode("utf-8", "replace")}) + "\n")
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"swab" and data.password == b"pw-SECRET"
    return AuthResult(success=ok)
if mode == "starttls":
    c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth,
                   tls_context=ctx, require_starttls=True, auth_require_tls=True)
else:
    c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth,
                   ssl_context=ctx, auth_require_tls=False)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

    struct Sink {
        child: std::process::Child,
        out: std::path::PathBuf,
        port: u16,
    }

    impl Sink {
        fn start(dir: &std::path::Path, mode: &str) -> Sink {
            use std::io::BufRead as _;
            let port = crate::http::free_port();
            let out = dir.join(format!("{mode}.jsonl"));
            let python = std::env::var("SWAB_TEST_SMTP_PYTHON")
                .unwrap_or_else(|_| "/usr/bin/python3".to_owned());
            let tls = &env().tls_dir;
            let mut child = std::process::Command::new(python)
                .arg("-c")
                .arg(TLS_SINK)
                .arg(&out)
                .arg(port.to_string())
                .arg(mode)
                .arg(tls.join("server-cert.pem"))
                .arg(tls.join("server-key.pem"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3 with aiosmtpd (scripts/test-env.sh installs it)");
            let mut ready = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut ready)
                .unwrap();
            assert_eq!(ready.trim(), "ready", "the {mode} SMTP sink did not start");
            Sink { child, out, port }
        }

        fn mails(&self) -> Vec<serde_json::Value> {
            std::fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    impl Drop for Sink {
        fn drop(&mut self) {
            drop(self.child.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Mail over STARTTLS (`encryption=ExplicitTLS`) and over TLS from the first byte
    /// (`ImplicitTLS`), each with the server's certificate checked against the CA that
    /// `SSL_CERT_FILE` names: one encrypted mail each for the run that removed a container,
    /// and the password nowhere in the -vvv log. Without that CA, nothing is sent.
    #[test]
    fn mail_goes_over_starttls_and_implicit_tls_with_the_certificate_checked() {
        let dir = tempfile::tempdir().unwrap();
        let starttls = Sink::start(dir.path(), "starttls");
        let implicit = Sink::start(dir.path(), "implicit");
        let label = format!("swab-test={}", unique("d-smtp-tls"));
        let victim = unique("swab-notify-smtp");
        env().cli(&[
            "run",
            "--name",
            &victim,
            "--label",
            &label,
            &env().image,
            "true",
        ]);
        let query = "from=swab@example.com&to=ops@example.com";
        let rules = format!(
            "version: 1\nnotify:\n  - url: \"smtp://swab:pw-SECRET@127.0.0.1:{}/?{query}&encryption=ExplicitTLS\"\n    on: [changes]\n  - url: \"smtp://swab:pw-SECRET@127.0.0.1:{}/?{query}&encryption=ImplicitTLS\"\n    on: [changes]\nrules:\n  - name: c\n    action: prune-containers\n    schedule: \"*/2 * * * * *\"\n    match:\n      labels: [\"{label}\"]\n",
            starttls.port, implicit.port
        );
        let mut daemon = swab()
            .home_file("r.yaml", &rules)
            .env(
                "SSL_CERT_FILE",
                env().tls_dir.join("ca.pem").display().to_string(),
            )
            .args([
                "-vvv",
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
            ])
            .spawn();
        daemon.wait_for_log("swab daemon started", Duration::from_secs(10));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while (starttls.mails().is_empty() || implicit.mails().is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        // Runs that find nothing send nothing more.
        std::thread::sleep(Duration::from_secs(4));
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);
        let log = daemon.log();
        for sink in [&starttls, &implicit] {
            let mails = sink.mails();
            assert_eq!(mails.len(), 1, "{}: {mails:?}\n{log}", sink.out.display());
            assert_eq!(mails[0]["tls"], true, "{mails:?}");
            assert_eq!(mails[0]["to"], serde_json::json!(["ops@example.com"]));
            assert!(
                mails[0]["data"].as_str().unwrap().contains("1 container"),
                "{mails:?}"
            );
        }
        assert!(!log.contains("pw-SECRET"), "the password is in the log");

        // Without the test CA trusted, the server's certificate is refused: no mail.
        let second = unique("swab-notify-smtp");
        env().cli(&[
            "run",
            "--name",
            &second,
            "--label",
            &label,
            &env().image,
            "true",
        ]);
        let mut daemon = swab()
            .home_file("r.yaml", &rules)
            .args([
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
            ])
            .spawn();
        daemon.wait_for_log("notification not delivered", Duration::from_secs(60));
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(30)), 0);
        assert_eq!(starttls.mails().len(), 1, "{}", daemon.log());
        assert_eq!(implicit.mails().len(), 1, "{}", daemon.log());
    }
}
