//! A fault-injecting proxy in front of the private daemon's socket: it forwards every
//! request to dockerd, except those a fault matches, each fault once: answered with an HTTP
//! error, dropped unanswered, forwarded with the answer lost, delayed, or left hanging
//! ([`Mode`]). Tests point swab at it (`-H unix://<socket>`) to see what a
//! daemon error at one exact call does.
//!
//! One request per connection: the proxy adds `Connection: close` to each forwarded
//! request, so a client that pools connections still sends every request through a new
//! one, where the proxy can look at it.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// A request to interfere with, once: the `skip`-th+1 request that matches `method` and
/// `path_contains`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The HTTP method (`POST`).
    pub method: String,
    /// A part of the request path the fault matches (`/start`).
    pub path_contains: String,
    /// Matching requests let through before this one (0: the first match).
    pub skip: usize,
    /// What happens to it.
    pub mode: Mode,
}

/// What a fault does to its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Answers it with this status and a daemon-style `{"message": ...}`; the daemon never
    /// sees it.
    Answer {
        /// The status.
        status: u16,
        /// The message.
        message: String,
    },
    /// Closes the connection without answering; the daemon never sees it.
    Drop,
    /// Forwards it, lets the daemon act, and closes the connection before the answer: the
    /// client cannot tell whether it happened.
    LoseAnswer,
    /// Forwards it after this long.
    Delay(Duration),
    /// Never answers, and never forwards: a daemon that accepted and went silent.
    Hang,
}

impl Fault {
    /// A fault on the first `method` request whose path contains `path`.
    pub fn new(method: &str, path: &str, mode: Mode) -> Fault {
        Fault {
            method: method.to_owned(),
            path_contains: path.to_owned(),
            skip: 0,
            mode,
        }
    }

    /// The first `method` request whose path contains `path` answered with `status`.
    pub fn answer(method: &str, path: &str, status: u16, message: &str) -> Fault {
        let mode = Mode::Answer {
            status,
            message: message.to_owned(),
        };
        Fault::new(method, path, mode)
    }

    /// The same fault on a later match: `n` matching requests go through first.
    #[must_use]
    pub fn after(mut self, n: usize) -> Fault {
        self.skip = n;
        self
    }
}

/// A running proxy; it stops taking connections when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    socket: PathBuf,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// Requests seen, as `METHOD /path` (faulted ones too).
    seen: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy listening on `socket` that forwards to the daemon at `upstream`.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound.
    pub fn start(socket: &Path, upstream: &Path, faults: Vec<Fault>) -> FaultProxy {
        FaultProxy::start_slow(socket, upstream, faults, Duration::ZERO)
    }

    /// [`FaultProxy::start`], with every forwarded request held for `each` first: a slow
    /// daemon, for tests that must catch swab in the middle of something.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound.
    pub fn start_slow(
        socket: &Path,
        upstream: &Path,
        faults: Vec<Fault>,
        each: Duration,
    ) -> FaultProxy {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).expect("bind the fault proxy's socket");
        let faults = Arc::new(Mutex::new(faults));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (f, s, upstream) = (faults.clone(), seen.clone(), upstream.to_owned());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let (f, s, upstream) = (f.clone(), s.clone(), upstream.clone());
                thread::spawn(move || {
                    thread::sleep(each);
                    let _ = serve(client, &upstream, &f, &s);
                });
            }
        });
        FaultProxy {
            socket: socket.to_owned(),
            faults,
            seen,
        }
    }

    /// `unix://<socket>`, for `-H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Faults that have not fired yet.
    pub fn pending(&self) -> usize {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Handles one connection: one request, answered by a fault or forwarded.
fn serve(
    mut client: UnixStream,
    upstream: &Path,
    faults: &Mutex<Vec<Fault>>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_owned();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!("{method} {path}"));
    let fault = {
        let mut faults = faults.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fired = None;
        for (i, f) in faults.iter_mut().enumerate() {
            if f.method == method && path.contains(&f.path_contains) {
                if f.skip == 0 {
                    fired = Some(i);
                    break;
                }
                f.skip -= 1;
            }
        }
        fired.map(|i| faults.remove(i).mode)
    };
    let lose_answer = match fault {
        Some(Mode::Answer { status, message }) => {
            let body = format!("{{\"message\":{message:?}}}");
            let answer = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return client.write_all(answer.as_bytes());
        }
        Some(Mode::Drop) => return client.shutdown(std::net::Shutdown::Both),
        Some(Mode::Hang) => {
            // Holds the connection open, answering nothing, until the client gives up.
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink);
            return Ok(());
        }
        Some(Mode::Delay(delay)) => {
            thread::sleep(delay);
            false
        }
        Some(Mode::LoseAnswer) => true,
        None => false,
    };
    let mut daemon = UnixStream::connect(upstream)?;
    let mut forwarded = String::new();
    for line in text.split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") || line.is_empty() {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    daemon.write_all(forwarded.as_bytes())?;
    // The request body (if any) goes on in its own thread; the answer comes back here.
    let (mut from_client, mut to_daemon) = (client.try_clone()?, daemon.try_clone()?);
    thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_daemon);
    });
    if lose_answer {
        // The daemon acts on it; its answer goes nowhere.
        std::io::copy(&mut daemon, &mut std::io::sink())?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    std::io::copy(&mut daemon, &mut client)?;
    client.shutdown(std::net::Shutdown::Both)
}

/// Reads up to and including the blank line that ends a request's head.
fn read_head(client: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(head)
}
