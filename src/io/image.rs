//! PNG image grids: batches of images laid out in rows, each image scaled up by a whole
//! factor so small ones (28 x 28 digits) stay readable.

use std::path::Path;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One picture of `count` images of [channels, h, w] values in [-1, 1] (NCHW), `columns`
/// per row, separated by a 2-pixel grey border, each magnified to at least 64 pixels.
pub struct Grid {
    pub values: Vec<f32>,
    pub count: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub columns: usize,
}

const GAP: usize = 2;

impl Grid {
    pub fn from_tensor(t: &Tensor, columns: usize) -> Grid {
        let [n, c, h, w] = *t.dims() else {
            panic!("image grid of a tensor of shape {}", t.shape())
        };
        Grid {
            values: t.to_vec(),
            count: n,
            channels: c,
            height: h,
            width: w,
            columns: columns.max(1),
        }
    }

    pub fn from_dataset(set: &Dataset, indices: &[usize], columns: usize) -> Grid {
        let values = indices
            .iter()
            .flat_map(|&i| set.image(i).iter().map(|&p| f32::from(p) / 127.5 - 1.0))
            .collect();
        Grid {
            values,
            count: indices.len(),
            channels: set.channels,
            height: set.height,
            width: set.width,
            columns: columns.max(1),
        }
    }

    /// Stacks grids of the same image size vertically (e.g. originals over reconstructions).
    pub fn stacked(grids: &[Grid]) -> Grid {
        let first = &grids[0];
        let rows: usize = grids.iter().map(|g| g.count.div_ceil(g.columns)).sum();
        let mut values = Vec::new();
        let image = first.channels * first.height * first.width;
        for g in grids {
            let padded = g.count.div_ceil(g.columns) * first.columns;
            values.extend_from_slice(&g.values);
            values.extend(std::iter::repeat_n(-1.0, (padded - g.count) * image));
        }
        Grid {
            values,
            count: rows * first.columns,
            ..*first
        }
    }

    pub fn to_rgb(&self) -> image::RgbImage {
        let scale = (64 / self.height.max(self.width)).max(1);
        let (h, w) = (self.height * scale, self.width * scale);
        let rows = self.count.div_ceil(self.columns).max(1);
        let width = self.columns * (w + GAP) + GAP;
        let height = rows * (h + GAP) + GAP;
        let mut img =
            image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([96, 96, 96]));
        let plane = self.height * self.width;
        for i in 0..self.count {
            let (r, c) = (i / self.columns, i % self.columns);
            let base = i * self.channels * plane;
            for y in 0..h {
                for x in 0..w {
                    let at = (y / scale) * self.width + x / scale;
                    let px = |ch: usize| {
                        let v = self.values[base + ch.min(self.channels - 1) * plane + at];
                        ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
                    };
                    let (ox, oy) = (GAP + c * (w + GAP) + x, GAP + r * (h + GAP) + y);
                    img.put_pixel(ox as u32, oy as u32, image::Rgb([px(0), px(1), px(2)]));
                }
            }
        }
        img
    }

    /// Writes the grid as a PNG, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::new();
        self.to_rgb()
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .map_err(|e| Error::file(path, format!("cannot encode the PNG: {e}")))?;
        super::write_atomically(path, &bytes)
    }
}
