//! `PEGASUS_PROFILE=1`: GPU time per kernel from timestamp queries written at the start and
//! end of each dispatch's compute pass, summed per kernel name and printed as a table.
//!
//! Without timestamp support the context instead waits for each dispatch and times it on the
//! host, which serialises the GPU and adds launch latency to every row; the table says so.

use std::collections::HashMap;

#[derive(Default, Clone, Copy)]
struct Row {
    calls: u64,
    total_ns: f64,
}

pub(crate) struct Profiler {
    rows: HashMap<String, Row>,
    pub(crate) timestamps: Option<Timestamps>,
    /// Kernel names of the dispatches whose timestamps are not yet read back, in order.
    pub(crate) pending: Vec<String>,
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
        Profiler {
            rows: HashMap::new(),
            timestamps,
            pending: Vec::new(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.rows.clear();
    }

    pub(crate) fn record(&mut self, name: &str, ns: f64) {
        let row = self.rows.entry(name.to_string()).or_default();
        row.calls += 1;
        row.total_ns += ns.max(0.0);
    }

    /// Reads the timestamps of `pending` after their submission finished.
    pub(crate) fn collect(&mut self, device: &wgpu::Device) {
        let names = std::mem::take(&mut self.pending);
        if names.is_empty() {
            return;
        }
        let ts = self.timestamps.as_ref().expect("collect needs timestamps");
        let bytes = names.len() as u64 * 16;
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
        let period = ts.period_ns;
        for (i, name) in names.iter().enumerate() {
            let (start, end) = (ticks[2 * i], ticks[2 * i + 1]);
            self.record(name, end.saturating_sub(start) as f64 * period);
        }
    }

    pub(crate) fn report(&self) -> String {
        let mut rows: Vec<(&String, &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.total_ns.total_cmp(&a.1.total_ns));
        let total: f64 = rows.iter().map(|(_, r)| r.total_ns).sum();
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(6).max(6);
        let how = if self.timestamps.is_some() {
            "GPU timestamps"
        } else {
            "host clock around each dispatch, serialised (no timestamp queries on this adapter)"
        };
        let mut out = format!(
            "GPU time per kernel ({how})\n{:<width$} {:>8} {:>11} {:>11} {:>7}\n",
            "kernel", "calls", "total ms", "mean us", "share"
        );
        for (name, row) in rows {
            out += &format!(
                "{:<width$} {:>8} {:>11.3} {:>11.1} {:>6.1}%\n",
                name,
                row.calls,
                row.total_ns / 1e6,
                row.total_ns / 1e3 / row.calls as f64,
                100.0 * row.total_ns / total.max(1e-9),
            );
        }
        out += &format!("{:<width$} {:>8} {:>11.3}\n", "all", "", total / 1e6);
        out
    }
}
