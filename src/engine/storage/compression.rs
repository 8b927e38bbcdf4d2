//! The compressions of tarballs podlink reads, recognised by their magic bytes.

use std::io::{self, BufRead, BufReader, Read};

/// The compressions podlink reads, recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tarball.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
    /// xz.
    Xz,
}

impl Compression {
    /// Recognises a compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> std::result::Result<Self, &'static str> {
        Ok(match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [b'B', b'Z', b'h', ..] => return Err("bzip2 is not supported"),
            _ => Compression::None,
        })
    }
}

/// Wraps `input` in the decompressor its first bytes call for.
pub fn decompress<'a>(input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let head = input.fill_buf()?;
    let compression = Compression::detect(head).map_err(io::Error::other)?;
    Ok(match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(input)
                .map_err(|e| io::Error::other(format!("zstd: {e}")))?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_compressions() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            Compression::detect(b"\xfd7zXZ\x00").unwrap(),
            Compression::Xz
        );
        assert_eq!(
            Compression::detect(b"etc/\0\0\0").unwrap(),
            Compression::None
        );
        assert!(Compression::detect(b"BZh9").is_err());
    }
}
