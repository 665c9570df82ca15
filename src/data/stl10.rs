//! STL-10 binary files: 3 x 96 x 96 images, each channel stored column by column (the
//! byte for row y, column x of a channel is at x * 96 + y); labels 1..10 in *_y.bin.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Dataset, STL10_NAMES};
use crate::error::{Error, Result};

const SIDE: usize = 96;
const IMAGE: usize = 3 * SIDE * SIDE;

fn root(dir: &Path, probe: &str) -> Result<PathBuf> {
    [dir.join("stl10_binary"), dir.to_path_buf()]
        .into_iter()
        .find(|d| d.join(probe).is_file())
        .ok_or_else(|| Error::file(dir, format!("no {probe} here or in stl10_binary/; fetch the set with `pegasus data get stl10`")))
}

pub(super) fn load(dir: &Path, split: &str) -> Result<Dataset> {
    let images_name = format!("{split}_X.bin");
    let root = root(dir, &images_name)?;
    let images = root.join(&images_name);
    let fail = |m: String| Error::file(&images, m);
    let size = std::fs::metadata(&images)
        .map_err(|e| fail(format!("cannot read: {e}")))?
        .len() as usize;
    if size == 0 || !size.is_multiple_of(IMAGE) {
        return Err(fail(format!(
            "{size} bytes is not a whole number of {IMAGE}-byte images: truncated or not an STL-10 file"
        )));
    }
    // Convert image by image while reading, so the file is never held twice.
    let mut reader = std::io::BufReader::new(
        std::fs::File::open(&images).map_err(|e| fail(format!("cannot open: {e}")))?,
    );
    let mut column_major = vec![0u8; IMAGE];
    let mut pixels = vec![0u8; size];
    for image in pixels.chunks_exact_mut(IMAGE) {
        reader
            .read_exact(&mut column_major)
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        for c in 0..3 {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    image[(c * SIDE + y) * SIDE + x] = column_major[(c * SIDE + x) * SIDE + y];
                }
            }
        }
    }
    if split == "unlabeled" {
        return Ok(Dataset {
            name: "stl10 unlabeled".into(),
            channels: 3,
            height: SIDE,
            width: SIDE,
            pixels,
            labels: None,
            class_names: STL10_NAMES.iter().map(|s| s.to_string()).collect(),
        });
    }
    let labels_path = root.join(format!("{split}_y.bin"));
    let raw = std::fs::read(&labels_path)
        .map_err(|e| Error::file(&labels_path, format!("cannot read: {e}")))?;
    if raw.len() != size / IMAGE {
        return Err(Error::file(
            &labels_path,
            format!("{} labels for {} images", raw.len(), size / IMAGE),
        ));
    }
    let mut labels = Vec::with_capacity(raw.len());
    for (i, &l) in raw.iter().enumerate() {
        if !(1..=10).contains(&l) {
            return Err(Error::file(
                &labels_path,
                format!("label {l} of image {i} is outside 1..10"),
            ));
        }
        labels.push(l - 1);
    }
    Dataset::labelled("stl10", [3, SIDE, SIDE], pixels, labels, &STL10_NAMES)
}
