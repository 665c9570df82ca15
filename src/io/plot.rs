//! Line plots as PNG (loss curves): axes, grid, tick labels in a built-in 3 x 5 pixel font.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::error::{Error, Result};

/// 3 x 5 glyphs, one row per u8 (bits 2..0 left to right).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'e' => [7, 5, 7, 4, 7],
        'l' => [4, 4, 4, 4, 7],
        'o' => [0, 7, 5, 5, 7],
        's' => [7, 4, 7, 1, 7],
        't' => [2, 7, 2, 2, 3],
        'p' => [7, 5, 7, 4, 4],
        'n' => [0, 6, 5, 5, 5],
        'r' => [0, 6, 5, 4, 4],
        'd' => [1, 1, 7, 5, 7],
        'b' => [4, 4, 7, 5, 7],
        ' ' => [0, 0, 0, 0, 0],
        _ => return None,
    })
}

const SCALE: u32 = 2;

fn text(img: &mut RgbImage, x: u32, y: u32, s: &str, colour: Rgb<u8>) {
    for (i, c) in s.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        for (r, bits) in rows.iter().enumerate() {
            for b in 0..3 {
                if bits & (4 >> b) != 0 {
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            let (px, py) = (
                                x + (i as u32 * 4 + b) * SCALE + dx,
                                y + r as u32 * SCALE + dy,
                            );
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, colour);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), colour: Rgb<u8>) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for t in 0..=steps {
        let x = x0 + (x1 - x0) * t / steps;
        let y = y0 + (y1 - y0) * t / steps;
        if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, colour);
        }
    }
}

/// A short label for a tick value.
fn label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (0.01..10000.0).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// Plots y against x (points in order) with the axis names given, and writes a PNG.
pub fn line_plot(path: &Path, points: &[(f64, f64)], x_name: &str, y_name: &str) -> Result<()> {
    let (w, h) = (640u32, 360u32);
    let (left, right, top, bottom) = (70i64, 20i64, 20i64, 40i64);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (xmin, xmax) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (xmin, xmax) = if finite.is_empty() {
        (0.0, 1.0)
    } else if xmax > xmin {
        (xmin, xmax)
    } else {
        (xmin - 1.0, xmax + 1.0)
    };
    let (ymin, ymax) = if finite.is_empty() {
        (0.0, 1.0)
    } else if ymax > ymin {
        (ymin, ymax)
    } else {
        (ymin - 1.0, ymax + 1.0)
    };
    let pw = w as i64 - left - right;
    let ph = h as i64 - top - bottom;
    let to_px = |x: f64, y: f64| {
        (
            left + ((x - xmin) / (xmax - xmin) * pw as f64) as i64,
            top + ph - ((y - ymin) / (ymax - ymin) * ph as f64) as i64,
        )
    };
    let grid = Rgb([225, 225, 225]);
    let ink = Rgb([40, 40, 40]);
    for t in 0..=4 {
        let fy = ymin + (ymax - ymin) * t as f64 / 4.0;
        let fx = xmin + (xmax - xmin) * t as f64 / 4.0;
        let (_, py) = to_px(xmin, fy);
        let (px, _) = to_px(fx, ymin);
        line(&mut img, (left, py), (left + pw, py), grid);
        line(&mut img, (px, top), (px, top + ph), grid);
        text(&mut img, 4, (py - 5).max(0) as u32, &label(fy), ink);
        text(
            &mut img,
            (px - 10).max(0) as u32,
            (top + ph + 6) as u32,
            &label(fx),
            ink,
        );
    }
    line(&mut img, (left, top), (left, top + ph), ink);
    line(&mut img, (left, top + ph), (left + pw, top + ph), ink);
    text(&mut img, (left + pw / 2 - 16) as u32, h - 14, x_name, ink);
    text(&mut img, 4, 4, y_name, ink);
    let curve = Rgb([200, 40, 40]);
    for pair in finite.windows(2) {
        line(
            &mut img,
            to_px(pair[0].0, pair[0].1),
            to_px(pair[1].0, pair[1].1),
            curve,
        );
    }
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::file(path, format!("cannot encode the PNG: {e}")))?;
    super::write_atomically(path, &bytes)
}
