//! A folder of PNG or JPEG images, flat or with one sub-folder per class. Every image is
//! brought to the first one's size (centre crop to its aspect ratio, then area resize), RGB,
//! or one channel when every image is greyscale.

use std::path::{Path, PathBuf};

use super::Dataset;
use super::transform::{Planes, resize_planes};
use crate::error::{Error, Result};

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::file(dir, format!("cannot list: {e}")))?;
    let mut entries: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    Ok(entries)
}

pub(super) fn load(dir: &Path) -> Result<Dataset> {
    let entries = sorted_entries(dir)?;
    let mut classes: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for sub in entries.iter().filter(|p| p.is_dir()) {
        let images: Vec<PathBuf> = sorted_entries(sub)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        if !images.is_empty() {
            let name = sub
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("class")
                .to_string();
            classes.push((name, images));
        }
    }
    let flat: Vec<PathBuf> = entries.into_iter().filter(|p| is_image(p)).collect();
    let labelled = !classes.is_empty();
    let files: Vec<(Option<u8>, PathBuf)> = if labelled {
        if classes.len() > 255 {
            return Err(Error::file(
                dir,
                format!("{} class folders; at most 255 are supported", classes.len()),
            ));
        }
        classes
            .iter()
            .enumerate()
            .flat_map(|(i, (_, files))| files.iter().map(move |f| (Some(i as u8), f.clone())))
            .collect()
    } else {
        flat.into_iter().map(|f| (None, f)).collect()
    };
    if files.is_empty() {
        return Err(Error::file(
            dir,
            "no PNG or JPEG images here or in its sub-folders",
        ));
    }
    let decoded: Vec<image::DynamicImage> = files
        .iter()
        .map(|(_, f)| {
            image::open(f).map_err(|e| Error::file(f, format!("cannot decode the image: {e}")))
        })
        .collect::<Result<_>>()?;
    let grey = decoded.iter().all(|i| i.color().channel_count() <= 2);
    let channels = if grey { 1 } else { 3 };
    let (width, height) = (decoded[0].width() as usize, decoded[0].height() as usize);
    let mut pixels = Vec::with_capacity(decoded.len() * channels * height * width);
    for img in &decoded {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let interleaved = if grey {
            img.to_luma8().into_raw()
        } else {
            img.to_rgb8().into_raw()
        };
        let mut planes = vec![0u8; interleaved.len()];
        for (i, &v) in interleaved.iter().enumerate() {
            planes[(i % channels) * h * w + i / channels] = v;
        }
        let fitted = resize_planes(
            &Planes {
                channels,
                height: h,
                width: w,
                data: planes,
            },
            height,
            width,
            true,
        );
        pixels.extend_from_slice(&fitted.data);
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("images")
        .to_string();
    if labelled {
        let labels = files.iter().map(|(l, _)| l.unwrap()).collect();
        let names: Vec<&str> = classes.iter().map(|(n, _)| n.as_str()).collect();
        return Dataset::labelled(&name, [channels, height, width], pixels, labels, &names);
    }
    Ok(Dataset {
        name,
        channels,
        height,
        width,
        pixels,
        labels: None,
        class_names: Vec::new(),
    })
}
