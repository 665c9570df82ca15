//! Compute pipelines built once per (shader, entry point, override constants), with the
//! bind-group layout read off the shader by naga rather than written twice by hand.
//!
//! Convention for every kernel: group 0, a `var<uniform>` of parameters (bound to a slot of
//! the per-submission parameter ring, so it has a dynamic offset) and storage buffers. The
//! host passes the storage buffers in binding order; only the bindings the entry point uses
//! count.

use std::collections::HashMap;
use std::sync::Arc;

/// One WGSL source file.
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

/// An entry point of a shader with its override constants: what a pipeline is built from.
#[derive(Clone, Copy, Debug)]
pub struct Kernel<'a> {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub constants: &'a [(&'static str, f64)],
    /// Name in the profiler's table when the entry point alone does not say what ran
    /// (e.g. which elementwise op).
    pub tag: Option<&'static str>,
    /// What one launch must do, for the profiler's rates.
    pub work: Work,
}

/// The useful floating-point operations of a launch (a multiply-add counts 2; comparisons,
/// index arithmetic and work on padding count 0) and the bytes it must move at the least
/// (each operand read once, each result written once).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    pub flops: f64,
    pub bytes: f64,
}

impl<'a> Kernel<'a> {
    pub const fn new(shader: &'static Shader, entry: &'static str) -> Self {
        Kernel {
            shader,
            entry,
            constants: &[],
            tag: None,
            work: Work {
                flops: 0.0,
                bytes: 0.0,
            },
        }
    }

    /// Declares `flops` operations and `floats` f32 values moved (4 bytes each).
    pub fn doing(self, flops: usize, floats: usize) -> Self {
        Kernel {
            work: Work {
                flops: flops as f64,
                bytes: 4.0 * floats as f64,
            },
            ..self
        }
    }

    pub const fn with(self, constants: &'a [(&'static str, f64)]) -> Self {
        Kernel { constants, ..self }
    }

    pub const fn tagged(self, tag: &'static str) -> Self {
        Kernel {
            tag: Some(tag),
            ..self
        }
    }

    pub(crate) fn profile_name(&self) -> String {
        match self.tag {
            Some(tag) => format!("{}.{}:{}", self.shader.name, self.entry, tag),
            None => format!("{}.{}", self.shader.name, self.entry),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Binding 0: the kernel's parameters, a slot of the per-submission ring.
    Params,
    Storage {
        read_only: bool,
    },
    /// Any other `var<uniform>`: a window of a tensor's buffer read through the uniform path,
    /// which some drivers serve much faster than storage reads (see shaders/matmul.wgsl).
    UniformWindow,
}

/// A buffer bound to one of a kernel's bindings.
#[derive(Clone, Copy, Debug)]
pub enum Bind<'a> {
    Storage(&'a wgpu::Buffer),
    Uniform {
        buffer: &'a wgpu::Buffer,
        offset: u64,
        size: u64,
    },
}

pub(crate) struct Pipeline {
    pub(crate) id: usize,
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
    /// (binding, kind) for every binding the entry point uses, in binding order.
    pub(crate) slots: Vec<(u32, Slot)>,
    pub(crate) profile_name: String,
}

impl Pipeline {
    /// Bindings the caller supplies: all but the parameters.
    pub(crate) fn bound_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| *s != Slot::Params)
            .count()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: &'static str,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
    tag: Option<&'static str>,
}

struct ParsedShader {
    module: naga::Module,
    info: naga::valid::ModuleInfo,
    gpu_module: wgpu::ShaderModule,
}

/// A bind group is keyed by its pipeline and, per binding, (buffer, offset, size).
type BindGroupKey = (usize, Vec<(wgpu::Buffer, u64, u64)>);

#[derive(Default)]
pub(crate) struct PipelineCache {
    shaders: HashMap<&'static str, ParsedShader>,
    pipelines: HashMap<PipelineKey, Arc<Pipeline>>,
    bind_groups: HashMap<BindGroupKey, wgpu::BindGroup>,
}

/// Bind groups are cheap to rebuild; the cap keeps buffers that left the pool from living on
/// in the cache.
const MAX_CACHED_BIND_GROUPS: usize = 4096;

/// Parses and validates a WGSL source with naga; the message names the shader and the line.
pub fn validate_wgsl(shader: &Shader) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(shader.source)
        .map_err(|e| e.emit_to_string_with_path(shader.source, shader.name))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string_with_path(shader.source, shader.name))?;
    Ok((module, info))
}

impl PipelineCache {
    pub(crate) fn get(
        &mut self,
        device: &wgpu::Device,
        checked: bool,
        kernel: &Kernel,
    ) -> Arc<Pipeline> {
        let key = PipelineKey {
            shader: kernel.shader.name,
            entry: kernel.entry,
            constants: kernel
                .constants
                .iter()
                .map(|(n, v)| (*n, v.to_bits()))
                .collect(),
            tag: kernel.tag,
        };
        if let Some(p) = self.pipelines.get(&key) {
            return p.clone();
        }
        let shader = kernel.shader;
        let parsed = self.shaders.entry(shader.name).or_insert_with(|| {
            // Our own sources: a failure here is a bug the naga test also reports.
            let (module, info) = validate_wgsl(shader).unwrap_or_else(|e| panic!("{e}"));
            let desc = wgpu::ShaderModuleDescriptor {
                label: Some(shader.name),
                source: wgpu::ShaderSource::Wgsl(shader.source.into()),
            };
            let gpu_module = if checked {
                device.create_shader_module(desc)
            } else {
                // SAFETY: every kernel bounds its indices by the sizes in its parameters, and
                // kernels-tests check each against a reference on awkward shapes; the runtime
                // checks cost a compare per access in the inner loops.
                unsafe {
                    device
                        .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
                }
            };
            ParsedShader {
                module,
                info,
                gpu_module,
            }
        });
        let slots = entry_slots(parsed, shader.name, kernel.entry);
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .map(|&(binding, slot)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match slot {
                        Slot::Params | Slot::UniformWindow => wgpu::BufferBindingType::Uniform,
                        Slot::Storage { read_only } => {
                            wgpu::BufferBindingType::Storage { read_only }
                        }
                    },
                    has_dynamic_offset: slot == Slot::Params,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let label = kernel.profile_name();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &parsed.gpu_module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: kernel.constants,
                // Kernels write workgroup memory before reading it; zeroing it costs a pass.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let p = Arc::new(Pipeline {
            id: self.pipelines.len(),
            pipeline,
            layout,
            slots,
            profile_name: label,
        });
        self.pipelines.insert(key, p.clone());
        p
    }

    pub(crate) fn bind_group(
        &mut self,
        device: &wgpu::Device,
        pipeline: &Pipeline,
        params: &wgpu::Buffer,
        params_size: u64,
        bound: &[Bind],
    ) -> wgpu::BindGroup {
        let key: BindGroupKey = (
            pipeline.id,
            bound
                .iter()
                .map(|b| match *b {
                    Bind::Storage(buffer) => (buffer.clone(), 0, u64::MAX),
                    Bind::Uniform {
                        buffer,
                        offset,
                        size,
                    } => (buffer.clone(), offset, size),
                })
                .collect(),
        );
        if let Some(bg) = self.bind_groups.get(&key) {
            return bg.clone();
        }
        if self.bind_groups.len() >= MAX_CACHED_BIND_GROUPS {
            self.bind_groups.clear();
        }
        let mut bound = bound.iter();
        let entries: Vec<wgpu::BindGroupEntry> = pipeline
            .slots
            .iter()
            .map(|&(binding, slot)| wgpu::BindGroupEntry {
                binding,
                resource: match (slot, slot == Slot::Params) {
                    (_, true) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: params,
                        offset: 0,
                        size: wgpu::BufferSize::new(params_size),
                    }),
                    _ => match *bound.next().expect("binding count checked by the caller") {
                        Bind::Storage(buffer) => buffer.as_entire_binding(),
                        Bind::Uniform {
                            buffer,
                            offset,
                            size,
                        } => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset,
                            size: wgpu::BufferSize::new(size),
                        }),
                    },
                },
            })
            .collect();
        let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&pipeline.profile_name),
            layout: &pipeline.layout,
            entries: &entries,
        });
        self.bind_groups.insert(key, bg.clone());
        bg
    }

    pub(crate) fn forget_bind_groups(&mut self) {
        self.bind_groups.clear();
    }
}

fn entry_slots(parsed: &ParsedShader, shader: &str, entry: &str) -> Vec<(u32, Slot)> {
    let index = parsed
        .module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .unwrap_or_else(|| panic!("shader {shader} has no entry point {entry}"));
    let uses = parsed.info.get_entry_point(index);
    let mut slots: Vec<(u32, Slot)> = parsed
        .module
        .global_variables
        .iter()
        .filter(|(handle, _)| !uses[*handle].is_empty())
        .filter_map(|(_, var)| {
            let binding = var.binding.as_ref()?;
            assert_eq!(binding.group, 0, "{shader}: kernels bind group 0 only");
            let slot = match var.space {
                naga::AddressSpace::Uniform if binding.binding == 0 => Slot::Params,
                naga::AddressSpace::Uniform => Slot::UniformWindow,
                naga::AddressSpace::Storage { access } => Slot::Storage {
                    read_only: !access.contains(naga::StorageAccess::STORE),
                },
                other => panic!("{shader}: unexpected resource in {other:?}"),
            };
            Some((binding.binding, slot))
        })
        .collect();
    slots.sort_by_key(|(b, _)| *b);
    slots
}
