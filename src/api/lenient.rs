//! Request targets as real clients send them. Microsoft's SCIM Validator (which every Entra gallery
//! application must pass) sends `GET /Users?filter=userName+eq+"Test_User"` with raw double
//! quotes, and other clients leave spaces, `<`, `>`, `{`, `}` or non-ASCII bytes unencoded. The
//! HTTP parser under actix refuses such a request line with an empty `400` before any handler
//! runs, so this layer sits between the socket and the parser and percent-encodes those bytes in
//! the request target, which changes nothing once the target is decoded.
//!
//! It follows HTTP/1.1 framing (Content-Length and chunked bodies) so that only request lines are
//! ever rewritten, never a body; anything it does not fully understand (both framings, an unknown
//! transfer coding, an upgrade) makes it step aside for the rest of the connection. A head that
//! cannot be read at all becomes a request for [`UNREADABLE_PATH`], answered with a `400` in the
//! door's format (a SCIM Error on `/scim/…`) instead of an empty body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where an unreadable request is sent, with `door` and `why` in the query.
pub const UNREADABLE_PATH: &str = "/_roster/unreadable";

/// Largest request head looked at; a longer one is unreadable.
const MAX_HEAD: usize = 32 * 1024;
/// The most header fields a request may carry.
const MAX_HEADERS: usize = 96;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Between requests: collecting a head until its blank line.
    Head,
    /// A body of known length: this many bytes pass unchanged.
    Body(u64),
    /// A chunked body: collecting a chunk-size line.
    ChunkSize,
    /// Chunk data: this many bytes, then the CRLF after them.
    ChunkData(u64),
    /// The line ending after a chunk's data.
    ChunkEnd,
    /// Trailer fields after the last chunk, up to a blank line.
    Trailers,
    /// Not understood: everything passes unchanged.
    Passthrough,
    /// An unreadable head was replaced: the rest of the connection is dropped.
    Discard,
}

/// The streaming rewrite: bytes in, bytes out.
#[derive(Debug)]
pub struct TargetFixer {
    state: State,
    /// Bytes held back: a head (or a chunk/trailer line) not complete yet.
    held: Vec<u8>,
}

impl Default for TargetFixer {
    fn default() -> Self {
        Self::new()
    }
}

impl TargetFixer {
    pub fn new() -> Self {
        Self {
            state: State::Head,
            held: Vec::new(),
        }
    }

    /// Appends to `out` what the parser should see for `input`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    out.extend_from_slice(input);
                    return;
                }
                State::Discard => return,
                State::Body(n) | State::ChunkData(n) => {
                    let k = input.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[..k]);
                    input = &input[k..];
                    let left = n - k as u64;
                    self.state = match (&self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), left) => State::Body(left),
                        (_, 0) => State::ChunkEnd,
                        (_, left) => State::ChunkData(left),
                    };
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    // Line-based: hold until the line ends, pass it unchanged.
                    let Some(end) = input.iter().position(|&b| b == b'\n') else {
                        self.held.extend_from_slice(input);
                        if self.held.len() > MAX_HEAD {
                            self.give_up(out);
                        }
                        return;
                    };
                    self.held.extend_from_slice(&input[..=end]);
                    input = &input[end + 1..];
                    let line = std::mem::take(&mut self.held);
                    out.extend_from_slice(&line);
                    let text = trim(&line);
                    self.state = match self.state {
                        State::ChunkEnd if text.is_empty() => State::ChunkSize,
                        State::ChunkEnd => State::Passthrough,
                        State::Trailers if text.is_empty() => State::Head,
                        State::Trailers => State::Trailers,
                        _ => match chunk_size(text) {
                            Some(0) => State::Trailers,
                            Some(n) => State::ChunkData(n),
                            None => State::Passthrough,
                        },
                    };
                }
                State::Head => {
                    let scan_from = self.held.len().saturating_sub(3);
                    self.held.extend_from_slice(input);
                    input = &[];
                    let Some(end) = head_end(&self.held, scan_from) else {
                        if self.held.len() > MAX_HEAD {
                            let held = std::mem::take(&mut self.held);
                            out.extend_from_slice(&unreadable(&held, "the request head is too large"));
                            self.state = State::Discard;
                        }
                        return;
                    };
                    let mut held = std::mem::take(&mut self.held);
                    let rest = held.split_off(end);
                    self.state = self.process_head(&held, out);
                    // What came after the head goes through the new state; the loop owns it now.
                    self.held = Vec::new();
                    if !rest.is_empty() {
                        let mut tail = Vec::new();
                        self.feed(&rest, &mut tail);
                        out.extend_from_slice(&tail);
                    }
                }
            }
        }
    }

    /// At the end of the stream: whatever was held goes out as it was.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state != State::Discard {
            out.append(&mut self.held);
        }
        self.held.clear();
    }

    fn give_up(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        self.state = State::Passthrough;
    }

    /// Writes the head (its request line fixed) and returns the state its framing leads to.
    fn process_head(&mut self, head: &[u8], out: &mut Vec<u8>) -> State {
        // Blank lines before a request are allowed (RFC 9112 §2.2) and kept.
        let start = head
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(head.len());
        if start == head.len() {
            out.extend_from_slice(head);
            return State::Head;
        }
        out.extend_from_slice(&head[..start]);
        let head = &head[start..];
        let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        let fixed_line = fix_request_line(&head[..line_end]);
        let mut fixed = Vec::with_capacity(head.len() + 16);
        match &fixed_line {
            Some(line) => {
                fixed.extend_from_slice(line);
                fixed.extend_from_slice(&head[line_end..]);
            }
            None => fixed.extend_from_slice(head),
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let framing = match request.parse(&fixed) {
            Ok(httparse::Status::Complete(_)) => framing(&request),
            Ok(httparse::Status::Partial) => Err("the request head is incomplete"),
            Err(httparse::Error::TooManyHeaders) => Err("the request has too many header fields"),
            Err(_) => Err("the request line or a header field is malformed"),
        };
        match framing {
            Ok(next) => {
                out.extend_from_slice(&fixed);
                next
            }
            Err(why) => {
                out.extend_from_slice(&unreadable(head, why));
                State::Discard
            }
        }
    }
}

/// The state after a parsed head, from its framing headers.
fn framing(request: &httparse::Request<'_, '_>) -> Result<State, &'static str> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    for h in request.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or("Content-Length is not a number")?;
            if length.is_some_and(|l| l != n) {
                return Err("Content-Length is given twice");
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if trim(last).eq_ignore_ascii_case(b"chunked") {
                chunked = true;
            } else {
                other_coding = true;
            }
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            other_coding = true;
        }
    }
    if other_coding || (chunked && length.is_some()) || request.method == Some("CONNECT") {
        // The parser decides what these mean; this layer stays out of the way.
        return Ok(State::Passthrough);
    }
    Ok(match (chunked, length) {
        (true, _) => State::ChunkSize,
        (false, Some(0) | None) => State::Head,
        (false, Some(n)) => State::Body(n),
    })
}

/// `METHOD SP target SP HTTP/x.y`, with the bytes of the target that the parser refuses
/// percent-encoded; `None` when nothing needs it (or the line is not a request line).
fn fix_request_line(line: &[u8]) -> Option<Vec<u8>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let first = line.iter().position(|&b| b == b' ')?;
    let last = line.iter().rposition(|&b| b == b' ')?;
    if last <= first || !line[last + 1..].starts_with(b"HTTP/") {
        return None;
    }
    let target = &line[first + 1..last];
    if !target.iter().any(|&b| needs_encoding(b)) {
        return None;
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(&line[..=first]);
    for &b in target {
        if needs_encoding(b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&line[last..]);
    out.extend_from_slice(b"\r");
    Some(out)
}

/// Bytes that may not appear raw in a request target (RFC 3986) and that clients still send.
/// `%` stays (the target may already be encoded); `[`, `]`, `|`, `\`, `^` are accepted as they are.
fn needs_encoding(b: u8) -> bool {
    matches!(b, 0x00..=0x20 | b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | 0x7F..=0xFF)
}

/// The request that replaces an unreadable head: it reaches a handler that answers 400 in the
/// door's format, and closes the connection.
fn unreadable(head: &[u8], why: &str) -> Vec<u8> {
    let target = head.splitn(3, |&b| b == b' ').nth(1).unwrap_or_default();
    let door = if target.len() >= 6 && target[..6].eq_ignore_ascii_case(b"/scim/") {
        "scim"
    } else {
        "native"
    };
    let why: String = why
        .bytes()
        .map(|b| {
            if b == b' ' {
                "+".to_owned()
            } else {
                (b as char).to_string()
            }
        })
        .collect();
    format!("GET {UNREADABLE_PATH}?door={door}&why={why} HTTP/1.1\r\nHost: roster\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// Where the head in `buf` ends (after its blank line), searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// A chunk-size line's size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = trim(line.split(|&b| b == b';').next().unwrap_or_default());
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// A connection whose reads go through a [`TargetFixer`]; writes pass unchanged.
pub struct LenientStream<T> {
    inner: T,
    fixer: TargetFixer,
    /// Fixed bytes that did not fit the caller's buffer yet.
    pending: Vec<u8>,
    scratch: Vec<u8>,
    eof: bool,
}

impl<T> LenientStream<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            fixer: TargetFixer::new(),
            pending: Vec::new(),
            scratch: Vec::new(),
            eof: false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LenientStream<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.drain(..n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let start = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            this.scratch.clear();
            let read = &buf.filled()[start..];
            if read.is_empty() {
                this.eof = true;
                this.fixer.finish(&mut this.scratch);
            } else {
                this.fixer.feed(read, &mut this.scratch);
                // The usual case: nothing to fix, the bytes are already where they belong.
                if this.scratch.as_slice() == read {
                    return Poll::Ready(Ok(()));
                }
            }
            buf.set_filled(start);
            this.pending.extend_from_slice(&this.scratch);
            // Everything held back (a head split across reads): read on rather than report an end.
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LenientStream<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The answer to an unreadable request (see [`UNREADABLE_PATH`]): `400` in the door's format.
pub async fn unreadable_request(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let detail = format!(
        "the request could not be read: {}",
        get("why").unwrap_or("it is malformed")
    );
    if get("door") == Some("scim") {
        crate::scim::ScimError::bad_request(crate::scim::ScimType::InvalidSyntax, detail).error_response()
    } else {
        super::error::ApiError::bad_request(detail).error_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes and returns the output.
    fn run(input: &[u8], step: usize) -> Vec<u8> {
        let mut fixer = TargetFixer::new();
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            fixer.feed(piece, &mut out);
        }
        fixer.finish(&mut out);
        out
    }

    fn every_split(input: &[u8], expected: &[u8]) {
        for step in [1, 2, 3, 5, 7, 16, 64, input.len()] {
            assert_eq!(
                String::from_utf8_lossy(&run(input, step)),
                String::from_utf8_lossy(expected),
                "step {step}"
            );
        }
    }

    #[test]
    fn raw_quotes_and_spaces_in_the_target_are_encoded() {
        every_split(
            b"GET /scim/v2/Users?filter=userName+eq+\"Test_User\" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /scim/v2/Users?filter=userName+eq+%22Test_User%22 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        every_split(
            b"GET /scim/v2/Users?filter=userName eq \"a b\" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /scim/v2/Users?filter=userName%20eq%20%22a%20b%22 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        every_split(
            "GET /x?q=<é>{`} HTTP/1.1\r\n\r\n".as_bytes(),
            b"GET /x?q=%3C%C3%A9%3E%7B%60%7D HTTP/1.1\r\n\r\n",
        );
    }

    #[test]
    fn valid_requests_and_bodies_are_untouched() {
        let body = "{\"filter\": \"userName eq \\\"a\\\"\", \"x\": \"<>\"}";
        let request = format!(
            "POST /scim/v2/Users/.search HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}\
             GET /scim/v2/Users?filter=a HTTP/1.1\r\nHost: x\r\n\r\n",
            body.len()
        );
        every_split(request.as_bytes(), request.as_bytes());
    }

    #[test]
    fn chunked_bodies_are_followed_to_the_next_request() {
        let input = b"PATCH /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                      6;ext=1\r\nGET /\"\r\n3\r\n x \r\n0\r\nTrailer: \"t\"\r\n\r\n\
                      GET /b?\"q\" HTTP/1.1\r\n\r\n";
        let expected = b"PATCH /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                      6;ext=1\r\nGET /\"\r\n3\r\n x \r\n0\r\nTrailer: \"t\"\r\n\r\n\
                      GET /b?%22q%22 HTTP/1.1\r\n\r\n";
        every_split(input, expected);
    }

    #[test]
    fn what_is_not_understood_is_left_alone() {
        // Both framings: the parser refuses it; nothing after it is rewritten.
        let input =
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabcGET /\" HTTP/1.1\r\n\r\n";
        every_split(input, input);
        let upgrade = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /\" HTTP/1.1\r\n";
        every_split(upgrade, upgrade);
    }

    #[test]
    fn unreadable_heads_become_a_request_for_the_door_error() {
        let out = run(b"GET /scim/v2/Users HTTP/1.1\r\nBad Header\r\n\r\nrest", 4);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /_roster/unreadable?door=scim&why="), "{text}");
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
        let out = run(b"GET /api/v1/team/ HTTP/1.1\r\nContent-Length: x\r\n\r\n", 100);
        assert!(String::from_utf8(out).unwrap().contains("door=native"));
        let huge = format!("GET /scim/v2/Users HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        let text = String::from_utf8(run(huge.as_bytes(), 1000)).unwrap();
        assert!(text.contains("too+large"), "{text}");
    }
}
