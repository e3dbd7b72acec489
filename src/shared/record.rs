//! The one binary codec of shared-data records (rate-limit buckets, the replay cache,
//! remote lists): fixed-width unsigned integers in big-endian order and raw bytes, read
//! front to back. Records are ours, but another plugin version may have written them,
//! so reading never panics and never allocates from a length it has not checked: a
//! record that runs out, or has bytes left over, is no record.

/// Builds a record.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn with_capacity(bytes: usize) -> Self {
        Writer(Vec::with_capacity(bytes))
    }

    pub fn u8(&mut self, n: u8) -> &mut Self {
        self.0.push(n);
        self
    }

    pub fn u16(&mut self, n: u16) -> &mut Self {
        self.bytes(&n.to_be_bytes())
    }

    pub fn u32(&mut self, n: u32) -> &mut Self {
        self.bytes(&n.to_be_bytes())
    }

    pub fn u64(&mut self, n: u64) -> &mut Self {
        self.bytes(&n.to_be_bytes())
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads a record front to back; every read is `None` once the record runs out.
#[derive(Debug)]
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader(bytes)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub fn u8(&mut self) -> Option<u8> {
        Some(u8::from_be_bytes(self.array()?))
    }

    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.0.len()
    }

    /// `value` if the whole record was read, else `None` (trailing bytes: not this format).
    pub fn end<T>(self, value: T) -> Option<T> {
        self.0.is_empty().then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_big_endian_order() {
        let mut w = Writer::with_capacity(17);
        w.u8(1).u16(0x0203).u32(0x0405_0607).u64(0x0809_0a0b_0c0d_0e0f).bytes(b"xy");
        let bytes = w.finish();
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, b'x', b'y']);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16(), Some(0x0203));
        assert_eq!(r.u32(), Some(0x0405_0607));
        assert_eq!(r.u64(), Some(0x0809_0a0b_0c0d_0e0f));
        assert_eq!(r.remaining(), 2);
        assert_eq!(r.array::<2>(), Some(*b"xy"));
        assert_eq!(r.end("whole"), Some("whole"));
    }

    #[test]
    fn a_short_or_long_record_is_refused() {
        let bytes = [0u8; 7];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u64(), None, "runs out");
        assert_eq!(r.take(usize::MAX), None);
        // A failed read takes nothing.
        assert_eq!(r.u32(), Some(0));
        assert_eq!(r.end(()), None, "three bytes left over");
    }
}
