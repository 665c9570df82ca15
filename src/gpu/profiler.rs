//! `PEGASUS_PROFILE=1` (or `pegasus profile -- ...`): GPU time per kernel from timestamp
//! queries written at the start and end of each dispatch's compute pass, with the work each
//! launch declares (`Kernel::doing`), summed per kernel name. `PEGASUS_TRACE=FILE` also keeps
//! every dispatch and host span for a Chrome trace-event file.
//!
//! Without timestamp support the context instead waits for each dispatch and times it on the
//! host, which serialises the GPU and adds launch latency to every row; the table says so.

use std::collections::HashMap;
use std::time::Instant;

use super::pipelines::Work;
use super::scope::{LayerPath, Phase};

/// One kernel's totals.
#[derive(Clone, Debug, Default)]
pub struct ProfileRow {
    pub name: String,
    pub calls: u64,
    pub seconds: f64,
    pub flops: f64,
    pub bytes: f64,
}

/// One layer's GPU time and useful FLOPs in each phase (indexed as `Phase::ALL`).
#[derive(Clone, Debug, Default)]
pub struct LayerRow {
    /// The layer path, or "(outside layers)" for work no network claimed (losses, data).
    pub layer: String,
    pub calls: u64,
    pub seconds: [f64; 4],
    pub flops: [f64; 4],
}

impl LayerRow {
    pub fn total_seconds(&self) -> f64 {
        self.seconds.iter().sum()
    }
}

/// A dispatch whose time is not yet known: its kernel, declared work and where it came from.
pub(crate) struct Launch {
    pub(crate) name: String,
    pub(crate) work: Work,
    pub(crate) layer: LayerPath,
    pub(crate) phase: Phase,
}

/// A span for the trace: microseconds since the profiler started. Dispatches carry their
/// layer and phase.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub(crate) name: String,
    pub(crate) start_us: f64,
    pub(crate) duration_us: f64,
    pub(crate) dispatch: Option<(LayerPath, Phase)>,
}

const OUTSIDE_LAYERS: &str = "(outside layers)";

pub(crate) struct Profiler {
    rows: HashMap<String, ProfileRow>,
    layers: HashMap<LayerPath, LayerRow>,
    pub(crate) timestamps: Option<Timestamps>,
    /// The dispatches whose timestamps are not yet read back.
    pub(crate) pending: Vec<Launch>,
    /// Every span, when a trace is wanted.
    pub(crate) spans: Option<Vec<Span>>,
    started: Instant,
    /// Host microseconds minus GPU microseconds, fixed at the first read-back.
    gpu_offset_us: Option<f64>,
}

pub(crate) struct Timestamps {
    pub(crate) queries: wgpu::QuerySet,
    pub(crate) resolve: wgpu::Buffer,
    pub(crate) readback: wgpu::Buffer,
    pub(crate) period_ns: f64,
}

impl Profiler {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue, capacity: u32) -> Self {
        let timestamps = device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| {
                let bytes = u64::from(capacity) * 2 * 8;
                Timestamps {
                    queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("profiler"),
                        ty: wgpu::QueryType::Timestamp,
                        count: capacity * 2,
                    }),
                    resolve: device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("profiler resolve"),
                        size: bytes,
                        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    }),
                    readback: device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("profiler readback"),
                        size: bytes,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
                    period_ns: f64::from(queue.get_timestamp_period()),
                }
            });
        let tracing = std::env::var_os("PEGASUS_TRACE").is_some_and(|v| !v.is_empty());
        Profiler {
            rows: HashMap::new(),
            layers: HashMap::new(),
            timestamps,
            pending: Vec::new(),
            spans: tracing.then(Vec::new),
            started: Instant::now(),
            gpu_offset_us: None,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.rows.clear();
        self.layers.clear();
        if let Some(spans) = &mut self.spans {
            spans.clear();
        }
    }

    pub(crate) fn since_start_us(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64() * 1e6
    }

    pub(crate) fn record(&mut self, launch: &Launch, ns: f64) {
        let seconds = ns.max(0.0) * 1e-9;
        let row = self.rows.entry(launch.name.clone()).or_default();
        row.calls += 1;
        row.seconds += seconds;
        row.flops += launch.work.flops;
        row.bytes += launch.work.bytes;
        let layer = self.layers.entry(launch.layer.clone()).or_default();
        let phase = launch.phase as usize;
        layer.calls += 1;
        layer.seconds[phase] += seconds;
        layer.flops[phase] += launch.work.flops;
    }

    /// A host-side span.
    pub(crate) fn span(&mut self, name: &str, start: Instant, end: Instant) {
        self.push_span(name, start, end, None);
    }

    /// A dispatch timed on the host.
    pub(crate) fn dispatch_span(&mut self, launch: &Launch, start: Instant, end: Instant) {
        let at = Some((launch.layer.clone(), launch.phase));
        self.push_span(&launch.name, start, end, at);
    }

    fn push_span(
        &mut self,
        name: &str,
        start: Instant,
        end: Instant,
        dispatch: Option<(LayerPath, Phase)>,
    ) {
        let start_us = self.since_start_us(start);
        let duration_us = self.since_start_us(end) - start_us;
        if let Some(spans) = &mut self.spans {
            spans.push(Span {
                name: name.to_string(),
                start_us,
                duration_us,
                dispatch,
            });
        }
    }

    /// Reads the timestamps of `pending` after their submission finished.
    pub(crate) fn collect(&mut self, device: &wgpu::Device) {
        let launches = std::mem::take(&mut self.pending);
        if launches.is_empty() {
            return;
        }
        let ts = self.timestamps.as_ref().expect("collect needs timestamps");
        let bytes = launches.len() as u64 * 16;
        let slice = ts.readback.slice(..bytes);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("waiting for profiler timestamps");
        let view = slice
            .get_mapped_range()
            .expect("timestamps are mapped after the wait");
        let ticks: Vec<u64> = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        ts.readback.unmap();
        let period_ns = ts.period_ns;
        let period_us = period_ns * 1e-3;
        let now_us = self.since_start_us(Instant::now());
        // The last dispatch ended just before this read-back returned: that fixes the
        // GPU clock against the host's once, and every later span keeps its GPU spacing.
        let last_end_us = ticks[2 * launches.len() - 1] as f64 * period_us;
        let offset = *self.gpu_offset_us.get_or_insert(now_us - last_end_us);
        for (i, launch) in launches.into_iter().enumerate() {
            let (start, end) = (ticks[2 * i], ticks[2 * i + 1]);
            let ns = end.saturating_sub(start) as f64 * period_ns;
            self.record(&launch, ns);
            if let Some(spans) = &mut self.spans {
                spans.push(Span {
                    name: launch.name,
                    start_us: start as f64 * period_us + offset,
                    duration_us: ns * 1e-3,
                    dispatch: Some((launch.layer, launch.phase)),
                });
            }
        }
    }

    pub(crate) fn rows(&self) -> Vec<ProfileRow> {
        let mut rows: Vec<ProfileRow> = self
            .rows
            .iter()
            .map(|(name, row)| ProfileRow {
                name: name.clone(),
                ..row.clone()
            })
            .collect();
        rows.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        rows
    }

    /// Time per layer, the slowest first.
    pub(crate) fn layer_rows(&self) -> Vec<LayerRow> {
        let mut rows: Vec<LayerRow> = self
            .layers
            .iter()
            .map(|(path, row)| LayerRow {
                layer: path.as_deref().unwrap_or(OUTSIDE_LAYERS).to_string(),
                ..row.clone()
            })
            .collect();
        rows.sort_by(|a, b| b.total_seconds().total_cmp(&a.total_seconds()));
        rows
    }

    pub(crate) fn how(&self) -> &'static str {
        if self.timestamps.is_some() {
            "GPU timestamps"
        } else {
            "host clock around each dispatch, serialised (no timestamp queries on this adapter)"
        }
    }

    /// The spans as a Chrome trace-event document (Perfetto, chrome://tracing).
    pub(crate) fn trace_json(&self, adapter: &str) -> Option<String> {
        let spans = self.spans.as_ref()?;
        let mut events = vec![
            serde_json::json!({"name": "process_name", "ph": "M", "pid": 1,
                "args": {"name": format!("GPU: {adapter}")}}),
            serde_json::json!({"name": "process_name", "ph": "M", "pid": 2,
                "args": {"name": "host"}}),
        ];
        for span in spans {
            let mut event = serde_json::json!({
                "name": span.name,
                "cat": if span.dispatch.is_some() { "dispatch" } else { "host" },
                "ph": "X",
                "ts": span.start_us,
                "dur": span.duration_us,
                "pid": if span.dispatch.is_some() { 1 } else { 2 },
                "tid": 1,
            });
            if let Some((layer, phase)) = &span.dispatch {
                event["args"] = serde_json::json!({
                    "layer": layer.as_deref().unwrap_or(OUTSIDE_LAYERS),
                    "phase": phase.label(),
                });
            }
            events.push(event);
        }
        Some(serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" }).to_string())
    }
}

/// The adapter's ceilings, measured by microbenchmarks in the same run.
#[derive(Clone, Copy, Debug)]
pub struct Peaks {
    /// FLOP/s of a register-only FMA kernel.
    pub flops: f64,
    /// Bytes/s of a kernel that copies a large buffer (read + write).
    pub bytes: f64,
}

/// Counts of what the host asked of the GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub dispatches: u64,
    pub submissions: u64,
    pub readbacks: u64,
    pub uploaded_bytes: u64,
}

/// The per-kernel table: time, rates, intensity, share of each peak and the bound.
pub fn table(how: &str, rows: &[ProfileRow], peaks: Peaks) -> String {
    let total: f64 = rows.iter().map(|r| r.seconds).sum();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
    let ridge = peaks.flops / peaks.bytes;
    let mut out = format!(
        "GPU time per kernel ({how}); this adapter measured now: FMA peak {:.1} GFLOP/s, copy {:.1} GB/s (ridge {ridge:.1} FLOP/byte)\n\
         {:<width$} {:>7} {:>10} {:>10} {:>6} {:>8} {:>7} {:>7} {:>6} {:>6}  bound\n",
        peaks.flops / 1e9,
        peaks.bytes / 1e9,
        "kernel",
        "calls",
        "total ms",
        "mean us",
        "share",
        "GFLOP/s",
        "GB/s",
        "FLOP/B",
        "%FMA",
        "%copy",
    );
    for row in rows {
        let seconds = row.seconds.max(1e-12);
        let (flop_rate, byte_rate) = (row.flops / seconds, row.bytes / seconds);
        let intensity = row.flops / row.bytes.max(1.0);
        let bound = if row.bytes == 0.0 && row.flops == 0.0 {
            "-"
        } else if intensity >= ridge {
            "compute"
        } else {
            "memory"
        };
        out += &format!(
            "{:<width$} {:>7} {:>10.3} {:>10.1} {:>5.1}% {:>8.2} {:>7.2} {:>7.2} {:>5.1}% {:>5.1}%  {bound}\n",
            row.name,
            row.calls,
            row.seconds * 1e3,
            row.seconds * 1e6 / row.calls as f64,
            100.0 * row.seconds / total.max(1e-12),
            flop_rate / 1e9,
            byte_rate / 1e9,
            intensity,
            100.0 * flop_rate / peaks.flops,
            100.0 * byte_rate / peaks.bytes,
        );
    }
    let (flops, bytes): (f64, f64) = rows
        .iter()
        .map(|r| (r.flops, r.bytes))
        .fold((0.0, 0.0), |(f, b), (rf, rb)| (f + rf, b + rb));
    out += &format!(
        "{:<width$} {:>7} {:>10.3} {:>10} {:>6} {:>8.2} {:>7.2} {:>7.2} {:>5.1}% {:>5.1}%\n",
        "all",
        rows.iter().map(|r| r.calls).sum::<u64>(),
        total * 1e3,
        "",
        "",
        flops / total.max(1e-12) / 1e9,
        bytes / total.max(1e-12) / 1e9,
        flops / bytes.max(1.0),
        100.0 * flops / total.max(1e-12) / peaks.flops,
        100.0 * bytes / total.max(1e-12) / peaks.bytes,
    );
    out
}

/// The per-layer table: each layer's GPU time split by phase, its share of the whole and its
/// rate against the FMA peak.
pub fn layer_table(rows: &[LayerRow], peaks: Peaks) -> String {
    let total: f64 = rows.iter().map(LayerRow::total_seconds).sum();
    let width = rows.iter().map(|r| r.layer.len()).max().unwrap_or(5).max(5);
    let mut out = format!(
        "GPU time per layer and phase (ms)\n{:<width$} {:>7}",
        "layer", "calls"
    );
    for phase in Phase::ALL {
        out += &format!(" {:>11}", phase.label());
    }
    out += &format!(
        " {:>10} {:>6} {:>8} {:>6}\n",
        "total", "share", "GFLOP/s", "%FMA"
    );
    for row in rows {
        let seconds = row.total_seconds();
        let rate = row.flops.iter().sum::<f64>() / seconds.max(1e-12);
        out += &format!("{:<width$} {:>7}", row.layer, row.calls);
        for s in row.seconds {
            out += &format!(" {:>11.3}", s * 1e3);
        }
        out += &format!(
            " {:>10.3} {:>5.1}% {:>8.2} {:>5.1}%\n",
            seconds * 1e3,
            100.0 * seconds / total.max(1e-12),
            rate / 1e9,
            100.0 * rate / peaks.flops,
        );
    }
    out
}
