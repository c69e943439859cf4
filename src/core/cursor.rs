//! `list-keys` cursors: opaque to the application, a bucket tag and a position to the core.

use core::fmt;
use core::str::FromStr;

use crate::backend::MAX_POSITION;
use crate::error::Error;
use crate::prelude::*;

/// Where a `list-keys` walk continues: a bucket's tag and a position in it.
///
/// Draft cursors are `u64`s (tag in the top 16 bits, position in the low 48); draft2 cursors
/// are the strings `"<tag>.<position>"` in lowercase hex. Tags start at 1, so no cursor
/// handed out is below 2^48.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    bucket: u16,
    position: u64,
}

impl Cursor {
    /// Reads a draft cursor.
    pub fn from_u64(raw: u64) -> Result<Self, Error> {
        Cursor::new((raw >> 48) as u16, raw & (MAX_POSITION - 1))
    }

    /// The draft form of the cursor.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.bucket) << 48) | self.position
    }

    /// The cursor at `position` of the bucket tagged `bucket`.
    pub fn new(bucket: u16, position: u64) -> Result<Self, Error> {
        if bucket == 0 || position >= MAX_POSITION {
            return Err(Error::MalformedCursor);
        }
        Ok(Cursor { bucket, position })
    }

    /// Where the walk continues, if the cursor belongs to the bucket tagged `tag`.
    pub fn position_in(self, tag: u16) -> Result<u64, Error> {
        if self.bucket != tag {
            return Err(Error::ForeignCursor);
        }
        Ok(self.position)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let (bucket, position) = text.split_once('.').ok_or(Error::MalformedCursor)?;
        // Only the canonical spelling: no sign, no leading zeros, lowercase.
        let canonical = |part: &str, n: u64| part == format!("{n:x}");
        let bucket_n = u16::from_str_radix(bucket, 16).map_err(|_| Error::MalformedCursor)?;
        let position_n = u64::from_str_radix(position, 16).map_err(|_| Error::MalformedCursor)?;
        if !canonical(bucket, bucket_n.into()) || !canonical(position, position_n) {
            return Err(Error::MalformedCursor);
        }
        Cursor::new(bucket_n, position_n)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}", self.bucket, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_in_both_forms() {
        let cursor = Cursor::new(7, 0xabc).unwrap();
        assert_eq!(Cursor::from_u64(cursor.to_u64()), Ok(cursor));
        assert_eq!(cursor.to_string(), "7.abc");
        assert_eq!("7.abc".parse(), Ok(cursor));
        assert_eq!(cursor.position_in(7), Ok(0xabc));
        assert_eq!(cursor.position_in(8), Err(Error::ForeignCursor));
    }

    #[test]
    fn malformed_cursors_are_rejected() {
        for text in [
            "", ".", "7", "7.", ".1", "0.1", "7.ABC", "+7.1", "07.1", "7.1.1", "x.1",
        ] {
            assert_eq!(
                text.parse::<Cursor>(),
                Err(Error::MalformedCursor),
                "{text:?}"
            );
        }
        for raw in [0, 1, 12345, MAX_POSITION - 1] {
            assert_eq!(Cursor::from_u64(raw), Err(Error::MalformedCursor), "{raw}");
        }
    }
}
