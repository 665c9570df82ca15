//! `pegasus report`: one self-contained HTML page per run (its settings, last figures, eval
//! table and every picture, embedded), or several runs side by side.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use super::eval::{EvalRow, rows as eval_rows};
use crate::train::RunConfig;

#[derive(Args)]
#[command(
    after_help = "The page embeds its pictures, so it can be mailed or opened offline in any browser.
Run `pegasus eval` first for the quality table.

Examples:
  pegasus report --run runs/glo
  pegasus report --compare runs/glo runs/glo-l1 runs/glo-long --out runs/glo-compare.html"
)]
pub struct ReportArgs {
    /// One run: writes RUN/report.html.
    #[arg(long, conflicts_with = "compare", required_unless_present = "compare")]
    run: Option<PathBuf>,
    /// Runs side by side: their eval tables, differing settings, losses and samples.
    #[arg(long, num_args = 2.., value_name = "RUN")]
    compare: Vec<PathBuf>,
    /// Output file [default: RUN/report.html, or compare.html beside the first run].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What a page needs of a run folder.
struct RunPage {
    dir: PathBuf,
    config: Value,
    model: String,
    eval: Option<Value>,
    /// metrics.csv's header and last row.
    last_metrics: Option<(Vec<String>, Vec<String>)>,
    /// The run's PNG files, loss.png first, then by name.
    pictures: Vec<String>,
}

impl RunPage {
    fn read(dir: &Path) -> anyhow::Result<RunPage> {
        let model = RunConfig::read(dir)?.model;
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("config.json"))
                .with_context(|| format!("cannot read {}", dir.join("config.json").display()))?,
        )
        .with_context(|| format!("{} is not JSON", dir.join("config.json").display()))?;
        let eval = match std::fs::read_to_string(dir.join("eval.json")) {
            Ok(text) => Some(serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is damaged; run `pegasus eval --run {}` again",
                    dir.join("eval.json").display(),
                    dir.display()
                )
            })?),
            Err(_) => None,
        };
        let last_metrics = std::fs::read_to_string(dir.join("metrics.csv"))
            .ok()
            .and_then(|text| {
                let mut lines = text.lines().filter(|l| !l.trim().is_empty());
                let header = lines.next()?;
                let last = lines.next_back()?;
                let split = |l: &str| l.split(',').map(str::to_string).collect();
                Some((split(header), split(last)))
            });
        let mut pictures: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.ends_with(".png"))
            .collect();
        pictures.sort_by_key(|name| (name != "loss.png", name.clone()));
        Ok(RunPage {
            dir: dir.to_path_buf(),
            config,
            model,
            eval,
            last_metrics,
            pictures,
        })
    }

    fn title(&self) -> String {
        format!("{} ({})", self.dir.display(), self.model)
    }

    /// A picture of the run as an <img> with its bytes inline (None when unreadable).
    fn image(&self, name: &str) -> Option<String> {
        let bytes = std::fs::read(self.dir.join(name)).ok()?;
        Some(format!(
            "<img src=\"data:image/png;base64,{}\" alt=\"{}\">",
            base64(&bytes),
            escape(name)
        ))
    }
}

/// Standard base64 with padding (RFC 4648), for data: URLs.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f0f0f0}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}img{image-rendering:pixelated;max-width:100%}
figcaption{font-size:12px;color:#555}.muted{color:#777}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\n<body><h1>{t}</h1>\n{body}</body></html>\n",
        t = escape(title)
    )
}

fn eval_table(page: &RunPage) -> String {
    let Some(eval) = &page.eval else {
        return format!(
            "<p class=\"muted\">No eval.json yet: <code>pegasus eval --run {}</code> measures the run.</p>",
            escape(&page.dir.display().to_string())
        );
    };
    let mut html = format!(
        "<p>Features: {}; samples from {}; adapter: {}.</p><table><tr><th>figure</th><th>value</th><th>how</th></tr>",
        escape(eval["features"].as_str().unwrap_or("?")),
        escape(eval["samples_from"].as_str().unwrap_or("?")),
        escape(eval["adapter"].as_str().unwrap_or("?"))
    );
    for row in eval_rows(eval) {
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(row.label),
            escape(&row.value),
            escape(&row.note)
        );
    }
    html + "</table>"
}

fn single(run: &RunPage) -> String {
    let mut body = String::from("<h2>Quality</h2>");
    body += &eval_table(run);
    if let Some((header, last)) = &run.last_metrics {
        body += "<h2>Last metrics row</h2><table><tr>";
        for h in header {
            body += &format!("<th>{}</th>", escape(h));
        }
        body += "</tr><tr>";
        for v in last {
            body += &format!("<td>{}</td>", escape(v));
        }
        body += "</tr></table>";
    }
    body += "<h2>Pictures</h2>";
    for name in &run.pictures {
        if let Some(img) = run.image(name) {
            body += &format!(
                "<figure>{img}<figcaption>{}</figcaption></figure>",
                escape(name)
            );
        }
    }
    body += &format!(
        "<h2>Settings (config.json)</h2><pre>{}</pre>",
        escape(&serde_json::to_string_pretty(&run.config).unwrap_or_default())
    );
    page(&format!("pegasus run {}", run.title()), &body)
}

/// Every leaf of a JSON value as ("a.b.c", value).
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn comparison(runs: &[RunPage]) -> String {
    let header: String = runs
        .iter()
        .map(|r| format!("<th>{}</th>", escape(&r.title())))
        .collect();
    let mut body = format!("<h2>Quality</h2><table><tr><th>figure</th>{header}</tr>");
    let tables: Vec<Option<Vec<EvalRow>>> = runs
        .iter()
        .map(|r| r.eval.as_ref().map(eval_rows))
        .collect();
    let labels: Vec<&str> = tables
        .iter()
        .flatten()
        .next()
        .map(|t| t.iter().map(|r| r.label).collect())
        .unwrap_or_default();
    for (row, label) in labels.iter().enumerate() {
        body += &format!("<tr><td>{}</td>", escape(label));
        for table in &tables {
            let cell = match table {
                Some(t) => t[row].value.clone(),
                None => "no eval.json".into(),
            };
            body += &format!("<td>{}</td>", escape(&cell));
        }
        body += "</tr>";
    }
    body += "</table><h2>Settings that differ</h2><table>";
    body += &format!("<tr><th>setting</th>{header}</tr>");
    let all: Vec<Vec<(String, String)>> = runs
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            leaves("", &r.config, &mut out);
            out
        })
        .collect();
    let mut keys: Vec<&String> = all.iter().flatten().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let values: Vec<String> = all
            .iter()
            .map(|leaves| {
                leaves
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "-".into())
            })
            .collect();
        if values.iter().any(|v| v != &values[0]) {
            body += &format!("<tr><td>{}</td>", escape(key));
            for v in values {
                body += &format!("<td>{}</td>", escape(&v));
            }
            body += "</tr>";
        }
    }
    body += "</table>";
    for picture in [
        "loss.png",
        "samples.png",
        "eval_samples.png",
        "eval_memorisation.png",
    ] {
        body += &format!("<h2>{picture}</h2>");
        for run in runs {
            let img = run
                .pictures
                .iter()
                .any(|p| p == picture)
                .then(|| run.image(picture))
                .flatten()
                .unwrap_or_else(|| "<p class=\"muted\">none</p>".into());
            body += &format!(
                "<figure style=\"max-width:{}%\">{img}<figcaption>{}</figcaption></figure>",
                90 / runs.len().max(1),
                escape(&run.title())
            );
        }
    }
    page("pegasus runs compared", &body)
}

pub fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let (html, out) = match &args.run {
        Some(dir) => {
            let run = RunPage::read(dir)?;
            let out = args.out.clone().unwrap_or_else(|| dir.join("report.html"));
            (single(&run), out)
        }
        None => {
            let runs = args
                .compare
                .iter()
                .map(|d| RunPage::read(d))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let beside = args.compare[0].parent().unwrap_or(Path::new("."));
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| beside.join("compare.html"));
            (comparison(&runs), out)
        }
    };
    crate::io::write_atomically(&out, html.as_bytes())?;
    println!("{}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_examples() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
    }
}
