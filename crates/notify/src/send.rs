//! Delivery: each target that wants an event gets one message, retried with back-off when
//! it fails, all targets at once, each bounded in time. Logs name a target by its scheme
//! and host only ([`swab_rules::channel::redact`]); nothing here returns an error to the
//! run.

use std::time::Duration;

use swab_rules::Notify;
use swab_rules::channel::{Channel, Encryption, Smtp, redact};

use crate::event::Event;
use crate::payload::{HttpRequest, requests};
use crate::render::{Rendered, render};

/// How hard a message is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts per request, the first included (3).
    pub tries: u32,
    /// The wait before the second attempt, doubled for each next one (2 s).
    pub backoff: Duration,
    /// The bound on one attempt: connect, send, answer (10 s).
    pub timeout: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the tries (30 s).
    pub max_retry_after: Duration,
}

impl Default for Delivery {
    fn default() -> Delivery {
        Delivery {
            tries: 3,
            backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Sends events to targets.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    delivery: Delivery,
}

/// Why one attempt failed, and whether another may succeed.
struct Failed {
    why: String,
    retry: bool,
    wait: Option<Duration>,
}

impl Notifier {
    /// A notifier with the default [`Delivery`].
    ///
    /// # Errors
    ///
    /// When TLS cannot be set up (no CA certificates on the system, say): the caller runs
    /// on and says why nothing is sent.
    pub fn new() -> Result<Notifier, String> {
        Notifier::with_delivery(Delivery::default())
    }

    /// A notifier with `delivery` (tests use short waits).
    ///
    /// # Errors
    ///
    /// As [`Notifier::new`].
    pub fn with_delivery(delivery: Delivery) -> Result<Notifier, String> {
        let client = reqwest::Client::builder()
            .timeout(delivery.timeout)
            .connect_timeout(delivery.timeout)
            // A redirect would send the body (and Authorization) somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                format!("cannot set up HTTPS for notifications ({e}); install CA certificates")
            })?;
        Ok(Notifier { client, delivery })
    }

    /// Sends `event` to every target of `targets` that wants it, all at once. Returns one
    /// line per target that did not take it (no secrets in it); empty when all did.
    pub async fn send(&self, targets: &[Notify], event: &Event) -> Vec<String> {
        let sends = targets
            .iter()
            .filter(|t| event.wanted(&t.on))
            .map(|t| self.send_one(t, event));
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Sends `events` in order to each target that wants them, all targets at once. A
    /// target that did not take one message is not tried for the rest of `events` (so a
    /// dead target costs one message's retries, not one per event). The problems of all.
    pub async fn send_each(&self, targets: &[Notify], events: &[Event]) -> Vec<String> {
        let per_target = targets.iter().map(|target| async move {
            let mut problems = Vec::new();
            let wanted = events.iter().filter(|e| e.wanted(&target.on));
            for event in wanted {
                if problems.is_empty() {
                    problems.extend(self.send_one(target, event).await);
                } else {
                    problems.push(format!(
                        "{}: {} not sent after an earlier failure",
                        redact(&target.url),
                        event.name()
                    ));
                }
            }
            problems
        });
        futures_util::future::join_all(per_target)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// One target, with retries: `Some(why)` when it did not take the message.
    async fn send_one(&self, target: &Notify, event: &Event) -> Option<String> {
        let shown = redact(&target.url);
        let rendered = render(target, event);
        let result = match &target.channel {
            Channel::Smtp(smtp) => {
                self.retrying(|| send_mail(smtp, &rendered, self.delivery.timeout))
                    .await
            }
            _ => {
                let mut result = Ok(());
                for request in requests(target, event, &rendered) {
                    result = self.retrying(|| self.send_http(&request)).await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
        };
        match result {
            Ok(()) => {
                tracing::info!(target = %shown, event = event.name(), "notification sent");
                None
            }
            Err(why) => {
                tracing::warn!(target = %shown, event = event.name(), error = %why, "notification not delivered");
                Some(format!("{shown}: {why}"))
            }
        }
    }

    async fn retrying<F, Fut>(&self, attempt: F) -> Result<(), String>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), Failed>>,
    {
        let mut backoff = self.delivery.backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Ok(()) => return Ok(()),
                Err(failed) => {
                    if !failed.retry || tries >= self.delivery.tries {
                        return Err(failed.why);
                    }
                    let wait = match failed.wait {
                        Some(wait) if wait > self.delivery.max_retry_after => {
                            return Err(format!(
                                "{}; asked to wait {}s, longer than swab waits",
                                failed.why,
                                wait.as_secs()
                            ));
                        }
                        Some(wait) => wait,
                        None => backoff,
                    };
                    tracing::debug!(error = %failed.why, wait = ?wait, "notification failed; trying again");
                    tokio::time::sleep(wait).await;
                    backoff *= 2;
                }
            }
        }
    }

    async fn send_http(&self, request: &HttpRequest) -> Result<(), Failed> {
        let method =
            reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| Failed {
                // reqwest's message ends with the whole URL, path and query included.
                why: e.without_url().to_string(),
                retry: true,
                wait: None,
            })?;
        let status = response.status();
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        if !status.is_success() {
            return Err(Failed {
                why: format!("answered {status}"),
                retry: status.is_server_error() || status.as_u16() == 429,
                wait,
            });
        }
        if request.check_ok_field {
            let body = response.bytes().await.map_err(|e| Failed {
                why: e.without_url().to_string(),
                retry: true,
                wait: None,
            })?;
            let ok = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("ok").and_then(serde_json::Value::as_bool));
            if ok != Some(true) {
                return Err(Failed {
                    why: "answered without \"ok\": true".to_owned(),
                    retry: false,
                    wait: None,
                });
            }
        }
        Ok(())
    }
}

/// One mail over SMTP (lettre, rustls on aws-lc-rs).
async fn send_mail(smtp: &Smtp, r: &Rendered, timeout: Duration) -> Result<(), Failed> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let fatal = |why: String| Failed {
        why,
        retry: false,
        wait: None,
    };
    let mut message = Message::builder()
        .from(
            smtp.from
                .parse()
                .map_err(|e| fatal(format!("bad sender: {e}")))?,
        )
        .subject(smtp.subject.as_deref().unwrap_or(&r.title))
        .header(ContentType::TEXT_PLAIN);
    for to in &smtp.to {
        message = message.to(to
            .parse()
            .map_err(|e| fatal(format!("bad recipient: {e}")))?);
    }
    let body = crate::render::fit(
        if r.body.is_empty() { &r.title } else { &r.body },
        crate::payload::OTHER_LIMIT,
    );
    let message = message
        .body(body)
        .map_err(|e| fatal(format!("cannot build the mail: {e}")))?;
    let tls = || {
        TlsParameters::new(smtp.host.clone()).map_err(|e| fatal(format!("cannot set up TLS: {e}")))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(timeout));
    builder = match smtp.encryption {
        Encryption::None => builder.tls(Tls::None),
        Encryption::ExplicitTls => builder.tls(Tls::Required(tls()?)),
        Encryption::ImplicitTls => builder.tls(Tls::Wrapper(tls()?)),
        Encryption::Auto if smtp.port == 465 => builder.tls(Tls::Wrapper(tls()?)),
        Encryption::Auto => builder.tls(Tls::Opportunistic(tls()?)),
    };
    if let Some((user, password)) = &smtp.credentials {
        builder = builder
            .credentials(Credentials::new(user.clone(), password.clone()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let transport = builder.build();
    match tokio::time::timeout(timeout * 2, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Failed {
            retry: !e.is_permanent(),
            why: format!("SMTP: {e}"),
            wait: None,
        }),
        Err(_) => Err(Failed {
            why: "SMTP: timed out".to_owned(),
            retry: true,
            wait: None,
        }),
    }
}
