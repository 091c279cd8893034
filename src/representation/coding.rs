//! The content codings answers are sent in besides identity, and how a body is compressed in
//! each: harder for a body that many readers share (compressed once for all of them) than for
//! one encoded per request.

use std::io::Write;

use bytes::Bytes;

/// Ordered as preferred when a client accepts several as much: brotli's bodies are smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Coding {
    Gzip,
    Br,
}

impl Coding {
    pub const ALL: [Self; 2] = [Self::Gzip, Self::Br];

    /// The name `Accept-Encoding` and `Content-Encoding` give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Br => "br",
        }
    }

    /// `body` compressed; `shared`: served many times, so worth the most effort.
    pub fn compress(self, body: &[u8], shared: bool) -> Bytes {
        let mut out = Vec::with_capacity(body.len() / 4 + 64);
        match self {
            Self::Gzip => {
                let level = if shared { flate2::Compression::best() } else { flate2::Compression::default() };
                let mut encoder = flate2::write::GzEncoder::new(&mut out, level);
                encoder.write_all(body).expect("to memory");
                encoder.finish().expect("to memory");
            }
            Self::Br => {
                // 4 compresses about as fast as gzip's default, and smaller. A shared body gets 6,
                // not brotli's best (11): it is compressed on an async worker by its first reader
                // (others of the same body wait), once per snapshot, about every second for a
                // live board, and 11 takes some 25 ms on a 100-row page where 6 takes about 1.
                let quality = if shared { 6 } else { 4 };
                let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, quality, 22);
                encoder.write_all(body).expect("to memory");
                // Ends the stream.
                encoder.into_inner();
            }
        }
        out.into()
    }

    #[cfg(test)]
    pub fn decompress(self, body: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        match self {
            Self::Gzip => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
            Self::Br => brotli::Decompressor::new(body, 4096).read_to_end(&mut out),
        }
        .expect("what compress made");
        out
    }
}
