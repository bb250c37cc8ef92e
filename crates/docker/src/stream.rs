//! Newline-delimited JSON over a chunked body, decoded incrementally.
//!
//! `/events` and `POST /images/create` answer with one JSON document per line, streamed for as
//! long as the operation lasts. HTTP chunks do not line up with lines: a chunk may end in the
//! middle of a JSON object or even of a UTF-8 sequence, or carry many lines at once. The
//! [`LineSplitter`] keeps the unfinished tail between chunks and hands out only whole lines,
//! and refuses to buffer a line beyond a maximum length so a misbehaving peer cannot make the
//! client grow without bound.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt, stream};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::transport::ByteStream;

/// The default limit for one line: pull progress and events are a few hundred bytes; 4 MiB
/// leaves room for very large event attribute maps.
pub const DEFAULT_MAX_LINE: usize = 4 * 1024 * 1024;

/// Splits a byte stream into lines across arbitrary chunk boundaries.
#[derive(Debug)]
pub struct LineSplitter {
    buf: BytesMut,
    max: usize,
    /// How far `buf` has been searched for a newline already, so a long line arriving in
    /// many small chunks is scanned once, not once per chunk.
    scanned: usize,
}

impl LineSplitter {
    /// A splitter refusing lines longer than `max` bytes.
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            buf: BytesMut::new(),
            max,
            scanned: 0,
        }
    }

    /// Adds a chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line (without its `\n` or `\r\n`), if one is buffered.
    /// Fails once the unfinished line exceeds the maximum.
    pub fn next_line(&mut self) -> Result<Option<Bytes>> {
        if let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + pos;
            self.scanned = 0;
            if end > self.max {
                return Err(Error::LineTooLong { max: self.max });
            }
            let mut line = self.buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            return Ok(Some(line.freeze()));
        }
        self.scanned = self.buf.len();
        if self.buf.len() > self.max {
            return Err(Error::LineTooLong { max: self.max });
        }
        Ok(None)
    }

    /// What is left when the stream ends: a last line without a trailing newline.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        let rest = std::mem::take(&mut self.buf);
        (!rest.is_empty()).then(|| rest.freeze())
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        !self.buf.has_remaining()
    }
}

/// Decodes a body of newline-delimited JSON into a stream of `T`. Blank lines are skipped.
/// The stream ends after the first error.
pub fn json_lines<T>(
    body: ByteStream,
    max_line: usize,
    what: String,
) -> impl Stream<Item = Result<T>> + Send
where
    T: DeserializeOwned + Send + 'static,
{
    struct State {
        body: ByteStream,
        lines: LineSplitter,
        what: String,
        done: bool,
    }
    let state = State {
        body,
        lines: LineSplitter::new(max_line),
        what,
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let line = match st.lines.next_line() {
                Ok(Some(line)) => Some(line),
                Ok(None) => match st.body.next().await {
                    Some(Ok(chunk)) => {
                        st.lines.push(&chunk);
                        continue;
                    }
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                    None => {
                        st.done = true;
                        st.lines.finish()
                    }
                },
                Err(e) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
            };
            let line = line?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let item = serde_json::from_slice::<T>(&line).map_err(|source| Error::Decode {
                what: st.what.clone(),
                source,
            });
            if item.is_err() {
                st.done = true;
            }
            return Some((item, st));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn body(chunks: Vec<&'static [u8]>) -> ByteStream {
        Box::pin(stream::iter(
            chunks.into_iter().map(|c| Ok(Bytes::from_static(c))),
        ))
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Item {
        n: u32,
        s: String,
    }

    async fn decode(chunks: Vec<&'static [u8]>, max: usize) -> Result<Vec<Item>> {
        json_lines::<Item>(body(chunks), max, "test".into())
            .try_collect()
            .await
    }

    #[tokio::test]
    async fn chunk_boundary_inside_a_json_object() {
        let items = decode(
            vec![b"{\"n\":1,\"s\":\"a", b"b\"}\n{\"n\"", b":2,\"s\":\"\"}\n"],
            1024,
        )
        .await
        .unwrap();
        assert_eq!(
            items,
            vec![
                Item {
                    n: 1,
                    s: "ab".into()
                },
                Item {
                    n: 2,
                    s: String::new()
                }
            ]
        );
    }

    #[tokio::test]
    async fn chunk_boundary_inside_a_utf8_sequence() {
        // "é" is 0xC3 0xA9; split between the two bytes.
        let items = decode(vec![b"{\"n\":1,\"s\":\"\xC3", b"\xA9\"}\n"], 1024)
            .await
            .unwrap();
        assert_eq!(items[0].s, "é");
    }

    #[tokio::test]
    async fn many_lines_in_one_chunk_crlf_blank_lines_and_no_final_newline() {
        let items = decode(
            vec![b"{\"n\":1,\"s\":\"a\"}\r\n\n  \n{\"n\":2,\"s\":\"b\"}\n{\"n\":3,\"s\":\"c\"}"],
            1024,
        )
        .await
        .unwrap();
        assert_eq!(items.iter().map(|i| i.n).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[tokio::test]
    async fn one_byte_chunks() {
        let text: &'static [u8] = b"{\"n\":7,\"s\":\"x\"}\n{\"n\":8,\"s\":\"y\"}\n";
        let chunks: Vec<&'static [u8]> = text.chunks(1).collect();
        let items = decode(chunks, 1024).await.unwrap();
        assert_eq!(items.iter().map(|i| i.n).collect::<Vec<_>>(), [7, 8]);
    }

    #[tokio::test]
    async fn line_longer_than_max_is_an_error_even_without_newline() {
        let err = decode(vec![b"{\"n\":1,\"s\":\"", b"aaaaaaaaaaaaaaaaaaaaaaaa"], 16)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::LineTooLong { max: 16 }), "{err}");
        let err = decode(vec![b"{\"n\":1,\"s\":\"aaaaaaaaaaaaaa\"}\n"], 16)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::LineTooLong { .. }), "{err}");
    }

    #[tokio::test]
    async fn invalid_json_ends_the_stream_with_a_decode_error() {
        let mut s = Box::pin(json_lines::<Item>(
            body(vec![
                b"{\"n\":1,\"s\":\"a\"}\nnot json\n{\"n\":2,\"s\":\"b\"}\n",
            ]),
            1024,
            "GET /events".into(),
        ));
        assert!(s.next().await.unwrap().is_ok());
        let err = s.next().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("GET /events"), "{err}");
        assert!(s.next().await.is_none());
    }

    #[test]
    fn splitter_rescans_only_new_bytes() {
        let mut sp = LineSplitter::new(100);
        sp.push(b"abc");
        assert!(sp.next_line().unwrap().is_none());
        sp.push(b"def\nxy");
        assert_eq!(
            sp.next_line().unwrap().unwrap(),
            Bytes::from_static(b"abcdef")
        );
        assert!(sp.next_line().unwrap().is_none());
        assert_eq!(sp.finish().unwrap(), Bytes::from_static(b"xy"));
        assert!(sp.is_empty());
    }
}
