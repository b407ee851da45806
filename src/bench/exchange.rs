//! The load generator's HTTP/1.1 exchange: one keep-alive connection per task, written by
//! hand (one `write` per request, reused buffers, Content-Length and chunked bodies, bounded
//! heads and bodies, a timeout on every call), and the response-head parser.

use super::*;

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over one keep-alive connection
// ---------------------------------------------------------------------------------------------

/// One keep-alive connection. The last response's body stays in `body` until the next call.
pub(super) struct Conn {
    pub(super) target: Target,
    pub(super) timeout: Duration,
    pub(super) stream: Option<TcpStream>,
    pub(super) out: Vec<u8>,
    pub(super) buf: Vec<u8>,
    /// Bytes of `buf` holding data not consumed yet.
    pub(super) filled: usize,
    pub(super) body: Vec<u8>,
    /// The last response's `Set-Cookie` values (only the part before the first `;`).
    pub(super) set_cookie: Option<String>,
}

impl Conn {
    pub(super) fn new(target: &Target, timeout: Duration) -> Conn {
        Conn {
            target: target.clone(),
            timeout,
            stream: None,
            out: Vec::with_capacity(1024),
            buf: vec![0; 16 * 1024],
            filled: 0,
            body: Vec::with_capacity(1024),
            set_cookie: None,
        }
    }

    pub(super) async fn connect(&mut self, what: &str) -> Result<(), BenchError> {
        let addr = self.target.addr;
        let stream = match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(transport(what, format!("cannot connect to {addr}: {e}"))),
            Err(_) => return Err(transport(what, format!("connecting to {addr} timed out"))),
        };
        // Small request/response exchanges: Nagle's delay would dominate.
        stream.set_nodelay(true).map_err(|e| transport(what, e))?;
        self.stream = Some(stream);
        self.filled = 0;
        Ok(())
    }

    /// Sends one request and reads its response, within the call timeout; returns the status.
    /// A connection the server closed while idle is re-opened once.
    pub(super) async fn call(
        &mut self,
        what: &str,
        method: &str,
        path: &str,
        cookie: Option<(&str, &str)>,
        body: &[u8],
    ) -> Result<u16, BenchError> {
        self.out.clear();
        let _ = write!(
            VecWriter(&mut self.out),
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.target.base,
            self.target.host,
            body.len()
        );
        if let Some((name, value)) = cookie {
            let _ = write!(VecWriter(&mut self.out), "Cookie: {name}={value}\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body);
        for attempt in 0..2 {
            if self.stream.is_none() {
                self.connect(what).await?;
            }
            let exchange = tokio::time::timeout(self.timeout, self.exchange()).await;
            match exchange {
                Ok(Ok(status)) => return Ok(status),
                Ok(Err(Stale)) if attempt == 0 => {
                    self.stream = None;
                }
                Ok(Err(Stale)) => {
                    return Err(transport(what, "the server closed the connection"));
                }
                Err(_) => {
                    self.stream = None;
                    return Err(transport(
                        what,
                        format!("no answer within {} ms", self.timeout.as_millis()),
                    ));
                }
            }
        }
        Err(transport(what, "the server closed the connection"))
    }

    /// Writes `out`, reads one response. `Err(Stale)` when the connection was closed before
    /// any byte of the answer (a keep-alive the server dropped); other failures come back as
    /// status 0 with the reason in `body`.
    pub(super) async fn exchange(&mut self) -> Result<u16, Stale> {
        match self.exchange_inner().await {
            Ok(status) => Ok(status),
            Err(Failure::Stale) => Err(Stale),
            Err(Failure::Other(message)) => {
                self.stream = None;
                self.body.clear();
                self.body.extend_from_slice(message.as_bytes());
                Ok(0)
            }
        }
    }

    /// Writes `out`, reads the response head and its body (by Content-Length, chunked, or
    /// until the server closes); returns the status.
    pub(super) async fn exchange_inner(&mut self) -> Result<u16, Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Stale);
        };
        if let Err(e) = stream.write_all(&self.out).await {
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    Failure::Stale
                }
                _ => Failure::Other(format!("write: {e}")),
            });
        }
        let head_end = self.read_head().await?;
        let head = parse_head(&self.buf[..head_end]).map_err(Failure::Other)?;
        self.set_cookie = head.set_cookie;
        self.body.clear();
        match head.length {
            BodyLength::Exact(n) => self.read_exact_body(head_end, n).await?,
            BodyLength::Chunked => self.read_chunked_body(head_end).await?,
            BodyLength::UntilClose => self.read_body_until_close(head_end).await?,
        }
        if head.close {
            self.stream = None;
        }
        Ok(head.status)
    }

    /// Reads into `buf` until it holds a whole response head (at most [`HEAD_BYTES_MAX`]
    /// bytes); returns the offset after its blank line. A connection closed or reset before
    /// any byte is `Stale`.
    async fn read_head(&mut self) -> Result<usize, Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Stale);
        };
        for _ in 0..READS_PER_RESPONSE_MAX {
            if let Some(i) = find(&self.buf[..self.filled], b"\r\n\r\n") {
                return Ok(i + 4);
            }
            if self.filled >= HEAD_BYTES_MAX {
                return Err(Failure::Other(format!(
                    "response head longer than {HEAD_BYTES_MAX} bytes"
                )));
            }
            if self.filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match stream.read(&mut self.buf[self.filled..]).await {
                Ok(0) if self.filled == 0 => return Err(Failure::Stale),
                Ok(0) => return Err(Failure::Other("connection closed mid-response".into())),
                Ok(n) => self.filled += n,
                Err(e) if self.filled == 0 && e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(Failure::Stale);
                }
                Err(e) => return Err(Failure::Other(format!("read: {e}"))),
            }
        }
        Err(Failure::Other("response head never ended".into()))
    }

    /// Reads a body of `n` bytes (Content-Length) that starts at `head_end` in `buf` into
    /// `body`, keeping any bytes after it for the next response.
    async fn read_exact_body(&mut self, head_end: usize, n: usize) -> Result<(), Failure> {
        if n > BODY_BYTES_MAX {
            return Err(Failure::Other(format!("body of {n} bytes")));
        }
        // The usual case: the whole body came with the head.
        if self.filled - head_end >= n {
            self.body
                .extend_from_slice(&self.buf[head_end..head_end + n]);
            let rest = head_end + n;
            self.buf.copy_within(rest..self.filled, 0);
            self.filled -= rest;
            return Ok(());
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Stale);
        };
        let mut pending: Vec<u8> = self.buf[head_end..self.filled].to_vec();
        self.filled = 0;
        for _ in 0..READS_PER_RESPONSE_MAX {
            if pending.len() >= n {
                break;
            }
            read_more(stream, &mut pending).await?;
        }
        if pending.len() < n {
            return Err(Failure::Other("body never completed".into()));
        }
        self.body.extend_from_slice(&pending[..n]);
        self.keep_rest(&pending[n..]);
        Ok(())
    }

    /// Decodes a chunked body that starts at `head_end` in `buf` into `body`, keeping any
    /// bytes after it for the next response.
    async fn read_chunked_body(&mut self, head_end: usize) -> Result<(), Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Stale);
        };
        let mut pending: Vec<u8> = self.buf[head_end..self.filled].to_vec();
        self.filled = 0;
        let rest = read_chunked(stream, &mut pending, &mut self.body).await?;
        let rest = pending[rest..].to_vec();
        self.keep_rest(&rest);
        Ok(())
    }

    /// Reads a body delimited by the end of the connection (HTTP/1.0, or no length given)
    /// into `body`, at most [`BODY_BYTES_MAX`] bytes; the connection is done afterwards.
    async fn read_body_until_close(&mut self, head_end: usize) -> Result<(), Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Stale);
        };
        let mut pending: Vec<u8> = self.buf[head_end..self.filled].to_vec();
        self.filled = 0;
        for _ in 0..READS_PER_RESPONSE_MAX {
            match stream.read(&mut self.buf).await {
                Ok(0) => break,
                Ok(n) => pending.extend_from_slice(&self.buf[..n]),
                Err(e) => return Err(Failure::Other(format!("read: {e}"))),
            }
            if pending.len() > BODY_BYTES_MAX {
                return Err(Failure::Other("body too large".into()));
            }
        }
        self.body.extend_from_slice(&pending);
        self.stream = None;
        Ok(())
    }

    pub(super) fn keep_rest(&mut self, rest: &[u8]) {
        if rest.len() > self.buf.len() {
            self.buf.resize(rest.len(), 0);
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// A call that must answer 200; returns the body.
    /// `POST /wlcs/v1/hook-runs/take`: the hook log drained, its answer's body.
    pub(super) async fn take_hook_runs(&mut self) -> Result<&[u8], BenchError> {
        let (what, path) = ("hook-runs/take", proto::PATH_HOOK_RUNS_TAKE);
        self.ok(what, "POST", path, None, b"").await
    }

    pub(super) async fn ok(
        &mut self,
        what: &str,
        method: &str,
        path: &str,
        cookie: Option<(&str, &str)>,
        body: &[u8],
    ) -> Result<&[u8], BenchError> {
        let status = self.call(what, method, path, cookie, body).await?;
        if status == 0 {
            return Err(transport(what, String::from_utf8_lossy(&self.body)));
        }
        if status != 200 {
            return Err(protocol(
                what,
                format!("status {status}: {}", excerpt(&self.body)),
            ));
        }
        Ok(&self.body)
    }
}

/// A keep-alive connection found closed before its answer.
pub(super) struct Stale;

pub(super) enum Failure {
    Stale,
    Other(String),
}

pub(super) struct VecWriter<'a>(pub(super) &'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(200)];
    String::from_utf8_lossy(cut).into_owned()
}

pub(super) async fn read_more(
    stream: &mut (impl AsyncRead + Unpin),
    into: &mut Vec<u8>,
) -> Result<(), Failure> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) => Err(Failure::Other("connection closed mid-body".into())),
        Ok(n) => {
            into.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(Failure::Other(format!("read: {e}"))),
    }
}

/// The offset of the next CRLF at or after `at`, reading more as needed (a line of at most
/// [`HEAD_BYTES_MAX`] bytes).
pub(super) async fn read_until_crlf(
    stream: &mut (impl AsyncRead + Unpin),
    pending: &mut Vec<u8>,
    at: usize,
) -> Result<usize, Failure> {
    for _ in 0..READS_PER_RESPONSE_MAX {
        if let Some(i) = find(&pending[at..], b"\r\n") {
            return Ok(at + i);
        }
        if pending.len() - at > HEAD_BYTES_MAX {
            return Err(Failure::Other("a chunk line too long".into()));
        }
        read_more(stream, pending).await?;
    }
    Err(Failure::Other("a chunk line never ended".into()))
}

/// Decodes a chunked body from `pending` (reading more as needed) into `body`; returns the
/// offset in `pending` after the body's last CRLF.
pub(super) async fn read_chunked(
    stream: &mut (impl AsyncRead + Unpin),
    pending: &mut Vec<u8>,
    body: &mut Vec<u8>,
) -> Result<usize, Failure> {
    let mut at = 0usize;
    for _ in 0..CHUNKS_PER_BODY_MAX {
        let line_end = read_until_crlf(stream, pending, at).await?;
        let line = std::str::from_utf8(&pending[at..line_end])
            .map_err(|_| Failure::Other("bad chunk size".into()))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Failure::Other(format!("bad chunk size {size_text:?}")))?;
        at = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            for _ in 0..READS_PER_RESPONSE_MAX {
                let end = read_until_crlf(stream, pending, at).await?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Ok(at);
                }
            }
            return Err(Failure::Other("trailers never ended".into()));
        }
        if body.len() + size > BODY_BYTES_MAX {
            return Err(Failure::Other("body too large".into()));
        }
        for _ in 0..READS_PER_RESPONSE_MAX {
            if pending.len() >= at + size + 2 {
                break;
            }
            read_more(stream, pending).await?;
        }
        if pending.len() < at + size + 2 {
            return Err(Failure::Other("chunk never completed".into()));
        }
        body.extend_from_slice(&pending[at..at + size]);
        at += size + 2;
    }
    Err(Failure::Other("too many chunks".into()))
}

pub(super) enum BodyLength {
    Exact(usize),
    Chunked,
    UntilClose,
}

pub(super) struct Head {
    pub(super) status: u16,
    pub(super) length: BodyLength,
    pub(super) close: bool,
    pub(super) set_cookie: Option<String>,
}

pub(super) fn parse_head(head: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(head).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x answer: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = if version == "HTTP/1.0" {
        BodyLength::UntilClose
    } else {
        BodyLength::Exact(0)
    };
    let mut saw_length = false;
    let mut close = version == "HTTP/1.0";
    let mut set_cookie = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            length = BodyLength::Exact(n);
            saw_length = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().contains("chunked") {
                length = BodyLength::Chunked;
                saw_length = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case("set-cookie") {
            set_cookie = Some(value.split(';').next().unwrap_or("").to_string());
        }
    }
    if !saw_length && !matches!(status, 204 | 304) && !(100..200).contains(&status) {
        length = BodyLength::UntilClose;
        close = true;
    }
    Ok(Head {
        status,
        length,
        close,
        set_cookie,
    })
}
