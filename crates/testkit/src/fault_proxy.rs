//! A fault-injecting proxy in front of the private daemon's socket: it forwards every
//! request to dockerd, except those a fault matches, which it answers itself with an HTTP
//! error, each fault once. Tests point swab at it (`-H unix://<socket>`) to see what a
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

/// A request to answer with an error, once.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The HTTP method (`POST`).
    pub method: String,
    /// A part of the request path the fault matches (`/start`).
    pub path_contains: String,
    /// The status to answer.
    pub status: u16,
    /// The daemon-style error message (`{"message": ...}`).
    pub message: String,
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
        faults
            .iter()
            .position(|f| f.method == method && path.contains(&f.path_contains))
            .map(|i| faults.remove(i))
    };
    if let Some(fault) = fault {
        let body = format!("{{\"message\":{:?}}}", fault.message);
        let answer = format!(
            "HTTP/1.1 {} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            fault.status,
            body.len()
        );
        return client.write_all(answer.as_bytes());
    }
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
