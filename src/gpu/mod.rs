//! The GPU context: one device and queue, a buffer pool, a pipeline cache, and the command
//! batching every op goes through.
//!
//! Ops never wait. A dispatch appends a compute pass to the current command encoder and its
//! parameters to a host copy of the parameter ring; the encoder is submitted when a result is
//! read back or when `MAX_PENDING` dispatches have queued up.

mod adapter;
mod failure;
mod pipelines;
mod pool;
mod profiler;
pub mod scope;

pub use adapter::{AdapterChoice, describe};
pub(crate) use failure::fail;
pub use failure::{GpuFailure, catching};
pub use pipelines::{Bind, Kernel, Shader, Work, validate_wgsl};
pub use profiler::{LayerRow, Peaks, ProfileRow, Traffic, layer_table, table as profile_table};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use failure::Faults;
use pipelines::PipelineCache;
use pool::BufferPool;
use profiler::{Launch, Profiler};

/// Dispatches per submission: enough to keep the queue fed, few enough that a long chain of
/// small ops does not hold many pooled buffers hostage in one unsubmitted command buffer.
const MAX_PENDING: u32 = 256;

/// Bytes of parameters a kernel may take (its `var<uniform>` struct must fit).
pub const PARAMS_BYTES: u64 = 256;

pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    checked_shaders: bool,
    param_slot: u64,
    batch: Mutex<Batch>,
    pool: Mutex<BufferPool>,
    pipelines: Mutex<PipelineCache>,
    errors: Arc<Mutex<Vec<wgpu::Error>>>,
    /// Why the device was lost, once it is.
    lost: Arc<Mutex<Option<String>>>,
    faults: Faults,
    submissions: AtomicU64,
    dispatches: AtomicU64,
    readbacks: AtomicU64,
    uploaded_bytes: AtomicU64,
    buffers_created: AtomicU64,
    poison: AtomicBool,
}

/// Work recorded but not yet submitted.
struct Batch {
    encoder: Option<wgpu::CommandEncoder>,
    dispatches: u32,
    /// Host image of `ring` for this batch: slot i holds dispatch i's parameters.
    params: Vec<u8>,
    ring: wgpu::Buffer,
    profiler: Option<Profiler>,
}

/// A workgroup grid, already checked against the adapter's per-dimension limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid(pub [u32; 3]);

impl Gpu {
    /// Opens the adapter picked by `choice` with its real limits and the optional features it
    /// offers (timestamp queries, f16, subgroups).
    pub fn new(choice: &AdapterChoice) -> Result<Arc<Gpu>> {
        let instance = adapter::new_instance();
        let adapters = adapter::enumerate(&instance);
        let index = adapter::choose(&adapters, choice)?;
        let adapter = &adapters[index];
        let info = adapter.get_info();
        let wanted =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("pegasus"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::DeviceRequest {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap_or_else(PoisonError::into_inner).push(e);
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *lost_sink.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(if message.is_empty() {
                    format!("{reason:?}")
                } else {
                    format!("{reason:?}: {message}")
                });
        });
        let param_slot = PARAMS_BYTES.max(u64::from(limits.min_uniform_buffer_offset_alignment));
        let ring = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("parameter ring"),
            size: param_slot * u64::from(MAX_PENDING),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let profiler = std::env::var("PEGASUS_PROFILE")
            .is_ok_and(|v| v != "0" && !v.is_empty())
            .then(|| Profiler::new(&device, &queue, MAX_PENDING));
        let checked_shaders = std::env::var("PEGASUS_CHECKED_SHADERS").is_ok_and(|v| v == "1");
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            limits,
            checked_shaders,
            param_slot,
            batch: Mutex::new(Batch {
                encoder: None,
                dispatches: 0,
                params: Vec::new(),
                ring,
                profiler,
            }),
            pool: Mutex::new(BufferPool::default()),
            pipelines: Mutex::new(PipelineCache::default()),
            errors,
            lost,
            faults: Faults::from_env(),
            submissions: AtomicU64::new(0),
            dispatches: AtomicU64::new(0),
            readbacks: AtomicU64::new(0),
            uploaded_bytes: AtomicU64::new(0),
            buffers_created: AtomicU64::new(0),
            poison: AtomicBool::new(false),
        }))
    }

    /// Every adapter this machine offers, with the index of the one `choice` would pick.
    pub fn list_adapters(choice: &AdapterChoice) -> (Vec<wgpu::Adapter>, Result<usize>) {
        let instance = adapter::new_instance();
        let adapters = adapter::enumerate(&instance);
        let chosen = adapter::choose(&adapters, choice);
        (adapters, chosen)
    }

    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    pub fn has_subgroups(&self) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// A storage buffer of at least `bytes`, from the pool when one of its size class is idle.
    /// Its contents are whatever the last user left.
    pub(crate) fn alloc(&self, bytes: u64) -> wgpu::Buffer {
        if let Err(e) = self.check_binding(bytes) {
            fail(e.to_string());
        }
        let class = pool::size_class(bytes);
        let recycled = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(class);
        let buffer = recycled.unwrap_or_else(|| self.create_storage(class));
        if self.poison.load(Ordering::Relaxed) {
            let nan = f32::NAN.to_bits().to_le_bytes();
            self.upload(&buffer, &nan.repeat(class as usize / 4));
        }
        buffer
    }

    /// Tests: fill every buffer handed to a new tensor with NaN, so an element a kernel forgets
    /// to write shows up.
    pub fn poison_new_tensors(&self, on: bool) {
        self.poison.store(on, Ordering::Relaxed);
    }

    fn create_storage(&self, class: u64) -> wgpu::Buffer {
        self.check_device();
        let count = self.buffers_created.fetch_add(1, Ordering::Relaxed) + 1;
        if self.faults.out_of_memory_at_buffer == Some(count) {
            self.out_of_memory(&format!(
                "for a buffer of {} KiB (provoked by PEGASUS_FAULT)",
                class.div_ceil(1024)
            ));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: class,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            self.out_of_memory(&format!(
                "for a buffer of {} KiB ({e})",
                class.div_ceil(1024)
            ));
        }
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note_created(class);
        buffer
    }

    /// Stops with the out-of-memory sentence; `what` says what was being made and why.
    fn out_of_memory(&self, what: &str) -> ! {
        fail(format!(
            "the GPU ({}) ran out of memory {what}; use a smaller batch, image size or network \
             width, or close other programs using the GPU",
            self.info.name
        ))
    }

    /// The value of a step that fails only when the device is gone: then the sentence about
    /// the lost device (wgpu calls the lost callback of a destroyed device once its queue has
    /// drained), otherwise a bug.
    fn unless_lost<T, E: std::fmt::Debug>(&self, r: std::result::Result<T, E>, what: &str) -> T {
        r.unwrap_or_else(|e| {
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
            self.check_device();
            panic!("{what}: {e:?}")
        })
    }

    /// Stops with a sentence once the device is lost: nothing more can run on it.
    fn check_device(&self) {
        if let Some(why) = self
            .lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            fail(format!(
                "the GPU device ({}) was lost ({why}): the driver reset it or the adapter went \
                 away; nothing more can run on it in this process",
                self.info.name
            ));
        }
    }

    /// Whether a tensor of `bytes` can be bound to a kernel on this adapter; the error names
    /// the limit so a caller can suggest a smaller batch or image.
    pub fn check_binding(&self, bytes: u64) -> Result<()> {
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if pool::size_class(bytes) > limit {
            return Err(Error::Limit(format!(
                "a tensor of {:.1} MiB exceeds the largest buffer a kernel can bind on {} ({} MiB); \
                 use a smaller batch or image size",
                bytes as f64 / (1 << 20) as f64,
                self.info.name,
                limit >> 20
            )));
        }
        Ok(())
    }

    pub(crate) fn release(&self, buffer: wgpu::Buffer) {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .give_back(buffer);
    }

    /// Frees every idle pooled buffer (e.g. between phases that use very different shapes).
    pub fn trim_pool(&self) {
        let freed = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .forget_bind_groups();
        drop(freed);
    }

    /// (bytes held by live tensors, bytes idle in the pool, buffers created, buffers reused)
    pub fn pool_stats(&self) -> (u64, u64, u64, u64) {
        let p = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        (p.live_bytes, p.pooled_bytes, p.created, p.reused)
    }

    /// A grid of `groups` workgroups laid out within the per-dimension limit; kernels recover
    /// the linear workgroup index as `wid.x + wid.y * num_workgroups.x`.
    pub fn linear_grid(&self, groups: u64) -> Grid {
        let max = u64::from(self.limits.max_compute_workgroups_per_dimension);
        if groups <= max {
            return Grid([groups.max(1) as u32, 1, 1]);
        }
        let y = groups.div_ceil(max);
        if y > max {
            fail(format!(
                "a kernel of {groups} workgroups exceeds the grid of {max} x {max} that {} offers; use smaller sizes",
                self.info.name
            ));
        }
        Grid([groups.div_ceil(y) as u32, y as u32, 1])
    }

    /// Queues one kernel launch. `storage` are the buffers of the entry point's storage
    /// bindings in binding order; `params` fills its uniform block.
    pub fn dispatch(&self, kernel: &Kernel, storage: &[&wgpu::Buffer], params: &[u32], grid: Grid) {
        let bound: Vec<Bind> = storage.iter().map(|b| Bind::Storage(b)).collect();
        self.dispatch_bound(kernel, &bound, params, grid);
    }

    /// As `dispatch`, with each buffer given with its binding number; the entry point takes
    /// those it uses (for shaders whose entry points use different subsets of bindings).
    pub fn dispatch_by_binding(
        &self,
        kernel: &Kernel,
        buffers: &[(u32, &wgpu::Buffer)],
        params: &[u32],
        grid: Grid,
    ) {
        let pipeline = self
            .pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self.device, self.checked_shaders, kernel);
        let bound: Vec<Bind> = pipeline
            .slots
            .iter()
            .filter(|(_, slot)| *slot != pipelines::Slot::Params)
            .map(|(binding, _)| {
                let (_, buffer) = buffers
                    .iter()
                    .find(|(b, _)| b == binding)
                    .unwrap_or_else(|| {
                        panic!("{}: no buffer for binding {binding}", pipeline.profile_name)
                    });
                Bind::Storage(buffer)
            })
            .collect();
        self.dispatch_bound(kernel, &bound, params, grid);
    }

    /// As `dispatch`, with uniform windows among the bindings.
    pub fn dispatch_bound(&self, kernel: &Kernel, bound: &[Bind], params: &[u32], grid: Grid) {
        let max = self.limits.max_compute_workgroups_per_dimension;
        assert!(
            grid.0.iter().all(|&g| g <= max),
            "{}: grid {:?} exceeds the adapter's {max} workgroups per dimension",
            kernel.profile_name(),
            grid.0
        );
        if grid.0.contains(&0) {
            return;
        }
        let params_bytes: &[u8] = bytemuck::cast_slice(params);
        assert!(params_bytes.len() as u64 <= PARAMS_BYTES);
        let pipeline = self
            .pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self.device, self.checked_shaders, kernel);
        assert_eq!(
            bound.len(),
            pipeline.bound_count(),
            "{}: wrong number of buffers",
            pipeline.profile_name
        );
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if batch.dispatches == MAX_PENDING {
            self.submit(&mut batch);
        }
        let slot = u64::from(batch.dispatches) * self.param_slot;
        batch.params.resize(slot as usize, 0);
        batch.params.extend_from_slice(params_bytes);
        let bind_group = self
            .pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bind_group(&self.device, &pipeline, &batch.ring, PARAMS_BYTES, bound);
        let index = batch.dispatches;
        batch.dispatches += 1;
        let timed = batch.profiler.is_some();
        let Batch {
            encoder, profiler, ..
        } = &mut *batch;
        let encoder = encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        });
        let timestamp_writes = profiler.as_ref().and_then(|p| {
            p.timestamps
                .as_ref()
                .map(|t| wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(2 * index),
                    end_of_pass_write_index: Some(2 * index + 1),
                })
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes,
            });
            pass.set_pipeline(&pipeline.pipeline);
            pass.set_bind_group(0, &bind_group, &[slot as u32]);
            pass.dispatch_workgroups(grid.0[0], grid.0[1], grid.0[2]);
        }
        self.dispatches.fetch_add(1, Ordering::Relaxed);
        if timed {
            let has_timestamps = profiler.as_ref().unwrap().timestamps.is_some();
            let (layer, phase) = scope::current();
            profiler.as_mut().unwrap().pending.push(Launch {
                name: pipeline.profile_name.clone(),
                work: kernel.work,
                layer,
                phase,
            });
            if !has_timestamps {
                let start = std::time::Instant::now();
                self.submit(&mut batch);
                self.wait();
                let p = batch.profiler.as_mut().unwrap();
                let launch = p.pending.pop().unwrap();
                p.record(&launch, start.elapsed().as_nanos() as f64);
                p.dispatch_span(&launch, start, std::time::Instant::now());
            }
        }
    }

    fn encoder<'a>(&self, batch: &'a mut Batch) -> &'a mut wgpu::CommandEncoder {
        batch.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        })
    }

    /// Copies `data` into `dst` in command order, so earlier queued kernels still see the old
    /// contents (a queue write would land before the whole pending batch).
    pub(crate) fn upload(&self, dst: &wgpu::Buffer, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.check_device();
        self.uploaded_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("upload"),
            size: data.len() as u64,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        let mut range = staging.slice(..).get_mapped_range_mut();
        self.unless_lost(range.as_mut(), "freshly mapped staging buffer")
            .copy_from_slice(data);
        drop(range);
        staging.unmap();
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        self.encoder(&mut batch)
            .copy_buffer_to_buffer(&staging, 0, dst, 0, data.len() as u64);
    }

    pub(crate) fn fill_zero(&self, dst: &wgpu::Buffer, bytes: u64) {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        self.encoder(&mut batch).clear_buffer(dst, 0, Some(bytes));
    }

    pub(crate) fn copy(&self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        self.encoder(&mut batch)
            .copy_buffer_to_buffer(src, 0, dst, 0, bytes);
    }

    /// Waits for everything queued and returns the first `bytes` of `src`.
    pub(crate) fn read(&self, src: &wgpu::Buffer, bytes: u64) -> Vec<u8> {
        if bytes == 0 {
            return Vec::new();
        }
        self.readbacks.fetch_add(1, Ordering::Relaxed);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            self.encoder(&mut batch)
                .copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
            self.submit(&mut batch);
        }
        let slice = staging.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.wait();
        let range = slice.get_mapped_range();
        let data = self
            .unless_lost(range.as_ref(), "readback buffer is mapped after the wait")
            .to_vec();
        drop(range);
        staging.unmap();
        data
    }

    /// Submits the pending batch and waits until the GPU has finished all work.
    pub fn sync(&self) {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        self.submit(&mut batch);
        drop(batch);
        self.wait();
    }

    fn wait(&self) {
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.check_device();
        if let Err(e) = polled {
            fail(format!(
                "the GPU ({}) stopped responding: {e}",
                self.info.name
            ));
        }
        self.raise_errors();
    }

    /// Out-of-memory errors are the GPU's limit; any other error is a bug of ours.
    fn raise_errors(&self) {
        let errors =
            std::mem::take(&mut *self.errors.lock().unwrap_or_else(PoisonError::into_inner));
        if errors.is_empty() {
            return;
        }
        self.check_device();
        if let Some(e) = errors
            .iter()
            .find(|e| matches!(e, wgpu::Error::OutOfMemory { .. }))
        {
            self.out_of_memory(&format!("({e})"));
        }
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!(
            "GPU error on {} (a pegasus bug; please report it): {}",
            self.info.name,
            text.join("\n")
        );
    }

    fn submit(&self, batch: &mut Batch) {
        let Some(mut encoder) = batch.encoder.take() else {
            return;
        };
        let timed = batch
            .profiler
            .as_ref()
            .is_some_and(|p| p.timestamps.is_some() && !p.pending.is_empty());
        if timed {
            let p = batch.profiler.as_ref().unwrap();
            let t = p.timestamps.as_ref().unwrap();
            let n = p.pending.len() as u32;
            encoder.resolve_query_set(&t.queries, 0..2 * n, &t.resolve, 0);
            encoder.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, u64::from(n) * 16);
        }
        if !batch.params.is_empty() {
            self.queue.write_buffer(&batch.ring, 0, &batch.params);
        }
        let count = self.submissions.fetch_add(1, Ordering::Relaxed) + 1;
        if self.faults.device_lost_at_submission == Some(count) {
            self.device.destroy();
        }
        self.check_device();
        self.queue.submit([encoder.finish()]);
        batch.params.clear();
        batch.dispatches = 0;
        if timed {
            batch.profiler.as_mut().unwrap().collect(&self.device);
        }
    }

    /// The per-kernel rows of `PEGASUS_PROFILE=1` and how they were timed, or None when
    /// profiling is off.
    pub fn profile_rows(&self) -> Option<(Vec<ProfileRow>, &'static str)> {
        self.sync();
        let batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        batch.profiler.as_ref().map(|p| (p.rows(), p.how()))
    }

    /// The same time per layer and phase (see `scope`), or None when profiling is off.
    pub fn profile_layers(&self) -> Option<Vec<LayerRow>> {
        self.sync();
        let batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        batch.profiler.as_ref().map(Profiler::layer_rows)
    }

    /// Every dispatch and host span so far as a Chrome trace-event document, when
    /// PEGASUS_TRACE asked for one.
    pub fn trace_json(&self) -> Option<String> {
        self.sync();
        let batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        batch
            .profiler
            .as_ref()
            .and_then(|p| p.trace_json(&self.info.name))
    }

    fn with_profiler(&self, f: impl FnOnce(&mut Profiler)) {
        if let Some(p) = self
            .batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .profiler
            .as_mut()
        {
            f(p);
        }
    }

    /// Notes a host-side span (a training step, a checkpoint) for the trace.
    pub fn host_span(&self, name: &str, start: std::time::Instant) {
        let end = std::time::Instant::now();
        self.with_profiler(|p| p.span(name, start, end));
    }

    /// What the host has asked of the GPU since it opened.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            dispatches: self.dispatches.load(Ordering::Relaxed),
            submissions: self.submissions.load(Ordering::Relaxed),
            readbacks: self.readbacks.load(Ordering::Relaxed),
            uploaded_bytes: self.uploaded_bytes.load(Ordering::Relaxed),
        }
    }

    /// Forgets the kernel times gathered so far (e.g. after a calibration run).
    pub fn reset_profile(&self) {
        self.sync();
        self.with_profiler(Profiler::reset);
    }

    pub fn profiling(&self) -> bool {
        self.batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .profiler
            .is_some()
    }
}
