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
}
