//! CIFAR-10 and CIFAR-100 binary versions: fixed-size records of label byte(s) then 3072
//! bytes of 32 x 32 RGB, one plane after another (already [C, H, W]).

use std::path::{Path, PathBuf};

use super::{CIFAR10_NAMES, Dataset};
use crate::error::{Error, Result};

const IMAGE: usize = 3 * 32 * 32;

/// The folder holding the batches: `dir` itself or the archive's sub-folder in it.
fn batches_dir(dir: &Path, inner: &str, probe: &str) -> Result<PathBuf> {
    [dir.join(inner), dir.to_path_buf()]
        .into_iter()
        .find(|d| d.join(probe).is_file())
        .ok_or_else(|| {
            Error::file(
                dir,
                format!("no {probe} here or in {inner}/; fetch the set with `pegasus data get`"),
            )
        })
}

/// Reads records of `label_bytes` + 3072 bytes, keeping label byte `label_at`.
fn read_records(
    path: &Path,
    label_bytes: usize,
    label_at: usize,
    classes: usize,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u8>,
) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    let record = label_bytes + IMAGE;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(Error::file(
            path,
            format!(
                "{} bytes is not a whole number of {record}-byte records: the file is truncated or not a CIFAR binary batch",
                bytes.len()
            ),
        ));
    }
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_at];
        if usize::from(label) >= classes {
            return Err(Error::file(
                path,
                format!("record {i} has label {label}, past the {classes} classes"),
            ));
        }
        labels.push(label);
        pixels.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}

pub(super) fn load(dir: &Path, hundred: bool, test: bool) -> Result<Dataset> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    if hundred {
        let root = batches_dir(dir, "cifar-100-binary", "train.bin")?;
        let file = root.join(if test { "test.bin" } else { "train.bin" });
        read_records(&file, 2, 1, 100, &mut pixels, &mut labels)?;
        let names_file = root.join("fine_label_names.txt");
        let names: Vec<String> = match std::fs::read_to_string(&names_file) {
            Ok(text) => text.split_whitespace().map(str::to_string).collect(),
            Err(_) => (0..100).map(|i| format!("class{i}")).collect(),
        };
        if names.len() != 100 {
            return Err(Error::file(
                &names_file,
                format!("{} class names, CIFAR-100 has 100", names.len()),
            ));
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        return Dataset::labelled("cifar100", [3, 32, 32], pixels, labels, &refs);
    }
    let root = batches_dir(
        dir,
        "cifar-10-batches-bin",
        if test {
            "test_batch.bin"
        } else {
            "data_batch_1.bin"
        },
    )?;
    let files: Vec<PathBuf> = if test {
        vec![root.join("test_batch.bin")]
    } else {
        (1..=5)
            .map(|i| root.join(format!("data_batch_{i}.bin")))
            .filter(|p| p.is_file())
            .collect()
    };
    for f in &files {
        read_records(f, 1, 0, 10, &mut pixels, &mut labels)?;
    }
    Dataset::labelled("cifar10", [3, 32, 32], pixels, labels, &CIFAR10_NAMES)
}
