//! Training curves as PNG, drawn with plotters: one panel per named series (each with its
//! own y axis, since a KL in nats and a per-pixel loss differ by orders of magnitude),
//! lettered in the font built into the binary.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

/// DejaVu Sans cut down to printable ASCII (assets/make_font.sh; licence in assets/).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-ascii.ttf");
const FAMILY: &str = "sans-serif";

fn register_embedded_font() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        // The bytes are a valid TrueType file, checked by the plot test; a failure here
        // would only lose the lettering, so it is not worth a panic.
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// One curve: its name and (x, y) points in order.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const PANEL: (u32, u32) = (420, 260);
const COLOURS: [RGBColor; 6] = [
    RGBColor(200, 40, 40),
    RGBColor(30, 90, 200),
    RGBColor(20, 140, 60),
    RGBColor(150, 60, 170),
    RGBColor(220, 120, 0),
    RGBColor(0, 140, 150),
];

/// The range of the finite values, widened when they are all equal (or absent).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 0.5 - lo.abs() * 0.05, hi + 0.5 + hi.abs() * 0.05)
    }
}

fn short(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (0.01..100_000.0).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else if (1e-4..0.01).contains(&a) {
        let s = format!("{v:.5}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// Draws every series in its own panel, two panels a row, x named `x_name`, and writes the
/// PNG atomically.
pub fn panels(path: &Path, series: &[Series], x_name: &str) -> Result<()> {
    register_embedded_font();
    let columns = if series.len() > 1 { 2 } else { 1 };
    let rows = series.len().div_ceil(columns).max(1);
    let (w, h) = (PANEL.0 * columns as u32, PANEL.1 * rows as u32);
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    let draw_error = |e: String| Error::file(path, format!("cannot draw the plot: {e}"));
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
        let areas = root.split_evenly((rows, columns));
        for (k, (s, area)) in series.iter().zip(areas.iter()).enumerate() {
            let (x0, x1) = span(s.points.iter().map(|p| p.0));
            let (y0, y1) = span(s.points.iter().map(|p| p.1));
            let colour = COLOURS[k % COLOURS.len()];
            let mut chart = ChartBuilder::on(area)
                .caption(&s.name, (FAMILY, 18))
                .margin(8)
                .x_label_area_size(34)
                .y_label_area_size(58)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| draw_error(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(x_name)
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&short)
                .y_label_formatter(&short)
                .label_style((FAMILY, 12))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(|e| draw_error(e.to_string()))?;
            let finite = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite());
            chart
                .draw_series(LineSeries::new(finite, colour.stroke_width(2)))
                .map_err(|e| draw_error(e.to_string()))?;
        }
        root.present().map_err(|e| draw_error(e.to_string()))?;
    }
    let img = image::RgbImage::from_raw(w, h, pixels).expect("the buffer holds w x h pixels");
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::file(path, format!("cannot encode the PNG: {e}")))?;
    super::write_atomically(path, &bytes)
}

/// The series of a metrics CSV (header `step,a,b,...`): one per column named in `columns`,
/// x the first column. Rows that do not parse are skipped.
pub fn series_from_csv(text: &str, columns: &[&str]) -> Vec<Series> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|f| f.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .filter(|r: &Vec<f64>| r.len() == header.len())
        .collect();
    columns
        .iter()
        .filter_map(|name| {
            let at = header.iter().position(|h| h == name)?;
            Some(Series {
                name: name.to_string(),
                points: rows.iter().map(|r| (r[0], r[at])).collect(),
            })
        })
        .collect()
}
