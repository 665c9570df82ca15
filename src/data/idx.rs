//! MNIST's IDX files (also Fashion-MNIST's and the embedded digits): a big-endian header
//! (magic 0x00000803 for u8 images with 3 dimensions, 0x00000801 for u8 labels), then the
//! bytes. Plain or gzip-compressed (detected by content, not by name).

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

const IMAGES_MAGIC: u32 = 0x0803;
const LABELS_MAGIC: u32 = 0x0801;

/// The file's bytes, gunzipped while reading if they start with the gzip magic: one copy
/// in memory, never the compressed and the plain data side by side.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let fail = |m: String| Error::file(path, m);
    let mut file = std::io::BufReader::new(
        std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?,
    );
    let starts_gz = std::io::BufRead::fill_buf(&mut file)
        .map_err(|e| fail(format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    let mut out = Vec::new();
    if starts_gz {
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut out)
            .map_err(|e| {
                fail(format!(
                    "gzip data is damaged or truncated ({e}); delete the file and fetch it again"
                ))
            })?;
    } else {
        file.read_to_end(&mut out)
            .map_err(|e| fail(format!("cannot read: {e}")))?;
    }
    Ok(out)
}

/// Gunzips in-memory bytes (the embedded set) when they are gzip data.
pub(crate) fn gunzip_if_needed(raw: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip data is damaged or truncated ({e})"))?;
    Ok(out)
}

fn header(bytes: &[u8], words: usize) -> std::result::Result<Vec<usize>, String> {
    if bytes.len() < 4 * words {
        return Err(format!(
            "too short for an IDX header ({} bytes)",
            bytes.len()
        ));
    }
    Ok((0..words)
        .map(|i| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()) as usize)
        .collect())
}

/// (count, rows, cols, pixels) of an IDX image file's bytes; the pixels reuse the buffer.
pub(crate) fn parse_images(
    mut bytes: Vec<u8>,
) -> std::result::Result<(usize, usize, usize, Vec<u8>), String> {
    let h = header(&bytes, 4)?;
    if h[0] != IMAGES_MAGIC as usize {
        return Err(format!(
            "wrong magic number 0x{:08x} (IDX u8 images have 0x{IMAGES_MAGIC:08x}); is this a labels file or another format?",
            h[0]
        ));
    }
    let (n, rows, cols) = (h[1], h[2], h[3]);
    let expected = 16 + n * rows * cols;
    if bytes.len() != expected {
        return Err(format!(
            "the header promises {n} images of {rows} x {cols} ({expected} bytes) but the file has {} bytes: truncated or damaged",
            bytes.len()
        ));
    }
    bytes.drain(..16);
    Ok((n, rows, cols, bytes))
}

pub(crate) fn parse_labels(mut bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let h = header(&bytes, 2)?;
    if h[0] != LABELS_MAGIC as usize {
        return Err(format!(
            "wrong magic number 0x{:08x} (IDX u8 labels have 0x{LABELS_MAGIC:08x})",
            h[0]
        ));
    }
    if bytes.len() != 8 + h[1] {
        return Err(format!(
            "the header promises {} labels but the file has {} bytes after it: truncated or damaged",
            h[1],
            bytes.len() - 8
        ));
    }
    bytes.drain(..8);
    Ok(bytes)
}

/// Reads an images file and its labels file.
pub(crate) fn read_pair(images: &Path, labels: &Path) -> Result<(usize, usize, Vec<u8>, Vec<u8>)> {
    let (n, rows, cols, pixels) =
        parse_images(read_maybe_gz(images)?).map_err(|m| Error::file(images, m))?;
    let l = parse_labels(read_maybe_gz(labels)?).map_err(|m| Error::file(labels, m))?;
    if l.len() != n {
        return Err(Error::file(
            labels,
            format!("{} labels for {n} images in {}", l.len(), images.display()),
        ));
    }
    Ok((rows, cols, pixels, l))
}
