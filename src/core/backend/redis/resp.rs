//! RESP2, the Redis wire protocol, as far as the backend speaks it: commands out as arrays of
//! bulk strings, replies in. Sizes from the server are bounded before anything is allocated
//! for them, so a broken or hostile server cannot make the component trap.

use super::net::Deadline;
use super::stream::Stream;
use crate::prelude::*;

/// The largest bulk string read (Redis's own `proto-max-bulk-len` default).
const MAX_BULK: usize = 512 << 20;
/// The most items of one array reply.
const MAX_ARRAY: usize = 1 << 24;
/// The longest status, error or number line.
const MAX_LINE: usize = 64 << 10;
/// How deep arrays may nest (`CLUSTER SLOTS` nests three levels).
const MAX_DEPTH: usize = 6;
/// The most buffer capacity a connection keeps between replies: a large reply's buffer is
/// given back once it has been read.
pub const KEEP_CAPACITY: usize = 64 << 10;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and the like.
    Status(String),
    /// `-ERR ...`: the server refused the command.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` bytes, or `$-1` (none).
    Bulk(Option<Vec<u8>>),
    /// `*n` replies, or `*-1` (none).
    Array(Option<Vec<Reply>>),
}

/// Appends `args` as one command.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Replies as they arrive on one connection.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    pos: usize,
}

impl Reader {
    /// Reads one whole reply before `deadline`; the error says what went wrong on the
    /// connection.
    pub fn reply(&mut self, tcp: &mut Stream, deadline: &Deadline) -> Result<Reply, String> {
        let mut io = Io { tcp, deadline };
        let reply = self.parse(&mut io, 0);
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.buf.shrink_to(KEEP_CAPACITY);
        }
        reply
    }

    /// Whether bytes past the last reply read are buffered.
    pub fn has_leftover(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// The buffer's capacity (for tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn parse(&mut self, tcp: &mut Io<'_>, depth: usize) -> Result<Reply, String> {
        let line = self.line(tcp)?;
        let (kind, rest) = line.split_first().ok_or("an empty reply line")?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        match kind {
            b'+' => Ok(Reply::Status(text())),
            b'-' => Ok(Reply::Error(text())),
            b':' => Ok(Reply::Int(number(rest)?)),
            b'$' => match number(rest)? {
                -1 => Ok(Reply::Bulk(None)),
                len if (0..=MAX_BULK as i64).contains(&len) => {
                    let len = len as usize;
                    self.fill(tcp, len + 2)?;
                    let start = self.pos;
                    if &self.buf[start + len..start + len + 2] != b"\r\n" {
                        return Err("a bulk reply without its CRLF".into());
                    }
                    self.pos += len + 2;
                    Ok(Reply::Bulk(Some(self.buf[start..start + len].to_vec())))
                }
                len => Err(format!("a bulk reply of {len} bytes")),
            },
            b'*' => match number(rest)? {
                -1 => Ok(Reply::Array(None)),
                len if (0..=MAX_ARRAY as i64).contains(&len) && depth < MAX_DEPTH => {
                    let len = len as usize;
                    let mut items = Vec::with_capacity(len.min(1024));
                    for _ in 0..len {
                        items.push(self.parse(tcp, depth + 1)?);
                    }
                    Ok(Reply::Array(Some(items)))
                }
                len => Err(format!("an array reply of {len} items at depth {depth}")),
            },
            other => Err(format!("a reply of unknown type `{}`", *other as char)),
        }
    }

    /// The next line, without its CRLF.
    fn line(&mut self, tcp: &mut Io<'_>) -> Result<Vec<u8>, String> {
        loop {
            if let Some(at) = self.buf[self.pos..].windows(2).position(|w| w == b"\r\n") {
                let end = self.pos + at;
                let line = self.buf[self.pos..end].to_vec();
                self.pos = end + 2;
                return Ok(line);
            }
            if self.buf.len() - self.pos > MAX_LINE {
                return Err("a reply line longer than 64 KiB".into());
            }
            self.more(tcp)?;
        }
    }

    /// Reads until `n` bytes past the position are buffered.
    fn fill(&mut self, tcp: &mut Io<'_>, n: usize) -> Result<(), String> {
        while self.buf.len() - self.pos < n {
            self.more(tcp)?;
        }
        Ok(())
    }

    fn more(&mut self, io: &mut Io<'_>) -> Result<(), String> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        io.tcp.read(&mut self.buf, io.deadline)
    }
}

/// The connection a reply is read from, and when the call must be over.
struct Io<'a> {
    tcp: &'a mut Stream,
    deadline: &'a Deadline,
}

fn number(digits: &[u8]) -> Result<i64, String> {
    core::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            format!(
                "`{}` where a number was expected",
                String::from_utf8_lossy(digits)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &[b"SET", b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
