//! A local HTTP receiver that records every request, for notification tests: it stands in
//! for ntfy, Discord, Telegram and the others, answers from a script (then `200` with
//! `{"ok":true}`), and lets a test assert the exact request each service documents.
//! Plain HTTP/1.1 on a thread of its own, so sync and async tests and other processes
//! (the `swab` binary) can all talk to it.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `POST`, ...
    pub method: String,
    /// The path and query, as sent.
    pub path: String,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A scripted answer: status, extra headers, body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Retry-After`, ...).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// `status` with a small JSON body.
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: if status < 300 {
                r#"{"ok":true}"#.to_owned()
            } else {
                r#"{"ok":false}"#.to_owned()
            },
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The receiver; it stops with the test process.
#[derive(Debug, Clone)]
pub struct Receiver {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl Receiver {
    /// A receiver that answers `200 {"ok":true}` to everything.
    pub fn start() -> Receiver {
        Receiver::scripted(Vec::new())
    }

    /// A receiver that gives `answers` in order, then `200`.
    pub fn scripted(answers: Vec<Answer>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local receiver");
        let addr = listener.local_addr().expect("receiver address");
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let sink = Arc::clone(&recorded);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = Arc::clone(&sink);
                let answers = Arc::clone(&answers);
                std::thread::spawn(move || {
                    let _ = serve(stream, &sink, &answers);
                });
            }
        });
        Receiver { addr, recorded }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("receiver lock").clone()
    }

    /// The requests once there are at least `n`, or panics after `timeout`; then waits a
    /// little for any extra one (so a test of "exactly one" sees a second).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        while self.requests().len() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} requests within {timeout:?}, got {:?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        self.requests()
    }
}

fn serve(
    stream: TcpStream,
    sink: &Mutex<Vec<Recorded>>,
    answers: &Mutex<std::vec::IntoIter<Answer>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        sink.lock().expect("receiver lock").push(Recorded {
            method,
            path,
            headers,
            body,
        });
        let answer = answers
            .lock()
            .expect("receiver lock")
            .next()
            .unwrap_or_else(|| Answer::status(200));
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            answer.status,
            answer.body.len()
        );
        for (name, value) in &answer.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(answer.body.as_bytes())?;
        stream.flush()?;
    }
}
