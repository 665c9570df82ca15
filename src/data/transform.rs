//! Transforms of u8 images. Resizing and greyscale run once at load on the CPU (the set is
//! then smaller for every epoch); crops and flips run per batch while the batch is copied
//! for upload, which costs nothing extra.

use super::Dataset;
use crate::ops::HostRng;

/// One image: `channels` planes of height x width bytes.
pub struct Planes {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<u8>,
}

/// Weights of output sample o over the input along one axis: area (box) averaging when
/// shrinking, bilinear (align_corners=False) when enlarging. Returns (first index, weights).
fn axis_weights(o: usize, size: usize, outs: usize) -> (usize, Vec<f32>) {
    let scale = size as f64 / outs as f64;
    if scale >= 1.0 {
        let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
        let first = start.floor() as usize;
        let last = (end.ceil() as usize).min(size);
        let w = (first..last)
            .map(|i| ((end.min((i + 1) as f64) - start.max(i as f64)) / scale) as f32)
            .collect();
        return (first, w);
    }
    let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
    let i0 = (src.floor() as usize).min(size - 1);
    let frac = (src - i0 as f64) as f32;
    if i0 + 1 < size {
        (i0, vec![1.0 - frac, frac])
    } else {
        (i0, vec![1.0])
    }
}

/// Resizes an image; `crop_to_aspect` first cuts the centre to the target's aspect ratio.
pub fn resize_planes(img: &Planes, height: usize, width: usize, crop_to_aspect: bool) -> Planes {
    let (mut y0, mut x0, mut h, mut w) = (0, 0, img.height, img.width);
    if crop_to_aspect {
        // Keep the largest centred window with the target's aspect ratio.
        if h * width > w * height {
            let nh = (w * height).div_ceil(width).min(h);
            y0 = (h - nh) / 2;
            h = nh;
        } else {
            let nw = (h * width).div_ceil(height).min(w);
            x0 = (w - nw) / 2;
            w = nw;
        }
    }
    if (h, w, y0, x0) == (height, width, 0, 0) && img.height == height {
        return Planes {
            data: img.data.clone(),
            ..*img
        };
    }
    let ys: Vec<(usize, Vec<f32>)> = (0..height).map(|o| axis_weights(o, h, height)).collect();
    let xs: Vec<(usize, Vec<f32>)> = (0..width).map(|o| axis_weights(o, w, width)).collect();
    let mut data = Vec::with_capacity(img.channels * height * width);
    for c in 0..img.channels {
        let plane = &img.data[c * img.height * img.width..(c + 1) * img.height * img.width];
        for (fy, wy) in &ys {
            for (fx, wx) in &xs {
                let mut v = 0.0f32;
                for (dy, a) in wy.iter().enumerate() {
                    let row = (y0 + fy + dy) * img.width + x0;
                    for (dx, b) in wx.iter().enumerate() {
                        v += a * b * f32::from(plane[row + fx + dx]);
                    }
                }
                data.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Planes {
        channels: img.channels,
        height,
        width,
        data,
    }
}

impl Dataset {
    fn map_images(
        &self,
        channels: usize,
        height: usize,
        width: usize,
        f: impl Fn(Planes) -> Planes,
    ) -> Dataset {
        let mut pixels = Vec::with_capacity(self.len() * channels * height * width);
        for i in 0..self.len() {
            let img = Planes {
                channels: self.channels,
                height: self.height,
                width: self.width,
                data: self.image(i).to_vec(),
            };
            pixels.extend_from_slice(&f(img).data);
        }
        Dataset {
            channels,
            height,
            width,
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            name: self.name.clone(),
        }
    }

    /// Every image resized to height x width (area averaging down, bilinear up).
    pub fn resized(&self, height: usize, width: usize) -> Dataset {
        if (height, width) == (self.height, self.width) {
            return self.clone();
        }
        self.map_images(self.channels, height, width, |img| {
            resize_planes(&img, height, width, false)
        })
    }

    /// Every image cut to its centre height x width.
    pub fn center_cropped(&self, height: usize, width: usize) -> Dataset {
        assert!(
            height <= self.height && width <= self.width,
            "crop larger than the images"
        );
        let (y0, x0) = ((self.height - height) / 2, (self.width - width) / 2);
        self.map_images(self.channels, height, width, |img| {
            crop(&img, y0, x0, height, width)
        })
    }

    /// Greyscale by ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B); one-channel sets stay.
    pub fn greyscale(&self) -> Dataset {
        if self.channels == 1 {
            return self.clone();
        }
        let plane = self.height * self.width;
        self.map_images(1, self.height, self.width, |img| {
            let data = (0..plane)
                .map(|i| {
                    let v = 0.299 * f32::from(img.data[i])
                        + 0.587 * f32::from(img.data[plane + i])
                        + 0.114 * f32::from(img.data[2 * plane + i]);
                    v.round().clamp(0.0, 255.0) as u8
                })
                .collect();
            Planes {
                channels: 1,
                height: img.height,
                width: img.width,
                data,
            }
        })
    }
}

fn crop(img: &Planes, y0: usize, x0: usize, height: usize, width: usize) -> Planes {
    let mut data = Vec::with_capacity(img.channels * height * width);
    for c in 0..img.channels {
        for y in 0..height {
            let row = (c * img.height + y0 + y) * img.width + x0;
            data.extend_from_slice(&img.data[row..row + width]);
        }
    }
    Planes {
        channels: img.channels,
        height,
        width,
        data,
    }
}

/// Per-batch augmentation: a random crop of the given size and/or a random horizontal flip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Augment {
    pub crop: Option<(usize, usize)>,
    pub flip: bool,
}

impl Dataset {
    /// The images at `indices` augmented with `rng`'s choices, as [-1, 1] values in NCHW order
    /// with the (possibly cropped) size.
    pub fn augmented_values(
        &self,
        indices: &[usize],
        augment: Augment,
        rng: &mut HostRng,
    ) -> (Vec<f32>, usize, usize) {
        let (h, w) = augment.crop.unwrap_or((self.height, self.width));
        assert!(
            h <= self.height && w <= self.width,
            "crop {h} x {w} is larger than the {} x {} images",
            self.height,
            self.width
        );
        let mut values = Vec::with_capacity(indices.len() * self.channels * h * w);
        for &i in indices {
            let y0 = rng.below(self.height - h + 1);
            let x0 = rng.below(self.width - w + 1);
            let flip = augment.flip && rng.below(2) == 1;
            let img = self.image(i);
            for c in 0..self.channels {
                for y in 0..h {
                    let row = (c * self.height + y0 + y) * self.width + x0;
                    for x in 0..w {
                        let v = img[row + if flip { w - 1 - x } else { x }];
                        values.push(f32::from(v) / 127.5 - 1.0);
                    }
                }
            }
        }
        (values, h, w)
    }
}
