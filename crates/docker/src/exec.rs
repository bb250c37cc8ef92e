//! Running a command inside a container: `POST /containers/{id}/exec`, `POST
//! /exec/{id}/start`, `GET /exec/{id}/json`. Without a TTY the daemon sends stdout and
//! stderr multiplexed in one raw stream, in frames of an 8-byte header (stream, three zero
//! bytes, big-endian length) and the payload; [`Demux`] splits it, across chunk boundaries.

use futures_util::StreamExt as _;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Docker, Query, segment, to_body};
use crate::error::Result;

/// What a command printed, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code; `None` if it was still running when the output ended.
    pub exit_code: Option<i64>,
    /// The last bytes of its standard output (at most the limit given).
    pub stdout: Vec<u8>,
    /// The last bytes of its standard error.
    pub stderr: Vec<u8>,
}

/// `GET /exec/{id}/json`, the fields swab reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExecInspect {
    /// Whether the command still runs.
    pub running: bool,
    /// Its exit code, once it ended.
    pub exit_code: Option<i64>,
}

/// Splits the daemon's multiplexed stream into stdout and stderr, keeping the last `limit`
/// bytes of each, and of both in the order they came.
#[derive(Debug)]
pub struct Demux {
    pending: Vec<u8>,
    limit: usize,
    /// Standard output so far (its last `limit` bytes).
    pub stdout: Vec<u8>,
    /// Standard error so far (its last `limit` bytes).
    pub stderr: Vec<u8>,
    /// Both, interleaved as the command wrote them (the last `limit` bytes): what a report
    /// quotes.
    pub combined: Vec<u8>,
}

impl Demux {
    /// A demultiplexer keeping the last `limit` bytes of each stream.
    pub fn new(limit: usize) -> Demux {
        Demux {
            pending: Vec::new(),
            limit,
            stdout: Vec::new(),
            stderr: Vec::new(),
            combined: Vec::new(),
        }
    }

    /// Feeds the next chunk of the stream, which may end anywhere in a frame.
    pub fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        let mut at = 0;
        while self.pending.len() - at >= 8 {
            let header = &self.pending[at..at + 8];
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if self.pending.len() - at - 8 < len {
                break;
            }
            let payload = &self.pending[at + 8..at + 8 + len];
            let out = if header[0] == 2 {
                &mut self.stderr
            } else {
                &mut self.stdout
            };
            for out in [out, &mut self.combined] {
                out.extend_from_slice(payload);
                if out.len() > self.limit {
                    out.drain(..out.len() - self.limit);
                }
            }
            at += 8 + len;
        }
        self.pending.drain(..at);
    }
}

impl Docker {
    /// `POST /containers/{id}/exec`: prepares `cmd` to run in the container, with stdout
    /// and stderr attached and `env` (`KEY=value`) added to its environment; returns the
    /// exec ID.
    pub async fn create_exec(&self, id: &str, cmd: &[String], env: &[String]) -> Result<String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Created {
            id: String,
        }
        let body = to_body(&json!({
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": false,
            "Cmd": cmd,
            "Env": env,
        }))?;
        let created: Created = self
            .json(
                Method::POST,
                &format!("/containers/{}/exec", segment(id)),
                Query::new(),
                Some(body),
                HeaderMap::new(),
            )
            .await?;
        Ok(created.id)
    }

    /// `POST /exec/{id}/start`: runs the command and reads its output until it ends (the
    /// caller bounds the wait), then `GET /exec/{id}/json` for the exit code.
    pub async fn run_exec(&self, exec_id: &str, limit: usize) -> Result<ExecOutput> {
        let mut demux = Demux::new(limit);
        let exit_code = self.run_exec_into(exec_id, &mut demux).await?;
        Ok(ExecOutput {
            exit_code,
            stdout: demux.stdout,
            stderr: demux.stderr,
        })
    }

    /// [`Docker::run_exec`], feeding the output to `demux` as it comes: a caller that
    /// gives up waiting still has what the command printed so far. Returns the exit code,
    /// `None` if the daemon still reports the command running.
    pub async fn run_exec_into(&self, exec_id: &str, demux: &mut Demux) -> Result<Option<i64>> {
        let body = to_body(&json!({"Detach": false, "Tty": false}))?;
        let response = self
            .request(
                Method::POST,
                &format!("/exec/{}/start", segment(exec_id)),
                Query::new(),
                Some(body),
                HeaderMap::new(),
            )
            .await?;
        let mut stream = response.body;
        while let Some(chunk) = stream.next().await {
            demux.push(&chunk?);
        }
        // The output can end a moment before the daemon records the exit.
        let mut inspect = self.inspect_exec(exec_id).await?;
        for _ in 0..20 {
            if !inspect.running {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            inspect = self.inspect_exec(exec_id).await?;
        }
        Ok(inspect.exit_code.filter(|_| !inspect.running))
    }

    /// `GET /exec/{id}/json`.
    pub async fn inspect_exec(&self, exec_id: &str) -> Result<ExecInspect> {
        self.get_json(&format!("/exec/{}/json", segment(exec_id)), Query::new())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_split_anywhere_are_put_back_together_per_stream() {
        let mut bytes = frame(1, b"hello ");
        bytes.extend(frame(2, b"oops\n"));
        bytes.extend(frame(1, b"world\n"));
        for cut in 0..bytes.len() {
            let mut demux = Demux::new(1024);
            demux.push(&bytes[..cut]);
            demux.push(&bytes[cut..]);
            assert_eq!(demux.stdout, b"hello world\n", "cut at {cut}");
            assert_eq!(demux.stderr, b"oops\n", "cut at {cut}");
            assert_eq!(demux.combined, b"hello oops\nworld\n", "cut at {cut}");
        }
        let mut small = Demux::new(4);
        small.push(&bytes);
        assert_eq!(small.stdout, b"rld\n", "only the last bytes are kept");
        assert_eq!(small.combined, b"rld\n");
    }
}
