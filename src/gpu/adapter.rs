//! Which adapter to run on: enumeration, the user's choice (`--adapter`, `PEGASUS_ADAPTER`)
//! and the default ranking (discrete, then integrated, then anything else, software last).

use crate::error::{Error, Result};

/// Where the adapter choice came from, so an error can say which setting to fix.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    pub spec: Option<String>,
    pub from: &'static str,
}

impl AdapterChoice {
    /// The `--adapter` flag wins over `PEGASUS_ADAPTER`; neither means "the best one".
    pub fn from_flag_or_env(flag: Option<&str>) -> Self {
        if let Some(spec) = flag {
            return AdapterChoice {
                spec: Some(spec.to_string()),
                from: "--adapter",
            };
        }
        match std::env::var("PEGASUS_ADAPTER") {
            Ok(spec) if !spec.trim().is_empty() => AdapterChoice {
                spec: Some(spec),
                from: "PEGASUS_ADAPTER",
            },
            _ => AdapterChoice {
                spec: None,
                from: "the default ranking",
            },
        }
    }
}

pub(crate) fn new_instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    // GL would list the same GPUs a second time through a weaker API; compute wants the
    // native ones.
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc)
}

pub(crate) fn enumerate(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
}

fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Index into `adapters` of the one to use.
pub(crate) fn choose(adapters: &[wgpu::Adapter], choice: &AdapterChoice) -> Result<usize> {
    if adapters.is_empty() {
        return Err(Error::NoAdapter);
    }
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    let Some(spec) = choice.spec.as_deref().map(str::trim) else {
        let best = (0..infos.len())
            .min_by_key(|&i| (rank(infos[i].device_type), i))
            .expect("adapters is not empty");
        return Ok(best);
    };
    if let Ok(index) = spec.parse::<usize>()
        && index < infos.len()
    {
        return Ok(index);
    }
    let wanted = spec.to_lowercase();
    infos
        .iter()
        .position(|info| info.name.to_lowercase().contains(&wanted))
        .ok_or_else(|| Error::AdapterNotFound {
            wanted: spec.to_string(),
            source_of_choice: choice.from,
            available: infos
                .iter()
                .enumerate()
                .map(|(i, info)| format!("  {i}: {} ({:?})", info.name, info.backend))
                .collect::<Vec<_>>()
                .join("\n"),
        })
}

/// One adapter as `pegasus devices` prints it.
pub fn describe(adapter: &wgpu::Adapter) -> String {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let features = adapter.features();
    let wanted = [
        (wgpu::Features::TIMESTAMP_QUERY, "timestamp-query"),
        (wgpu::Features::SHADER_F16, "shader-f16"),
        (wgpu::Features::SUBGROUP, "subgroups"),
    ];
    let present: Vec<&str> = wanted
        .iter()
        .filter(|(f, _)| features.contains(*f))
        .map(|(_, name)| *name)
        .collect();
    format!(
        "{name}\n      backend {backend:?}, type {kind:?}, driver {driver} {driver_info}\n      \
         max storage binding {binding} MiB, max buffer {buffer} MiB, workgroup storage {shared} KiB, \
         {invocations} invocations/workgroup, {groups} workgroups/dimension\n      features: {features}",
        name = info.name,
        backend = info.backend,
        kind = info.device_type,
        driver = info.driver,
        driver_info = info.driver_info,
        binding = limits.max_storage_buffer_binding_size >> 20,
        buffer = limits.max_buffer_size >> 20,
        shared = limits.max_compute_workgroup_storage_size >> 10,
        invocations = limits.max_compute_invocations_per_workgroup,
        groups = limits.max_compute_workgroups_per_dimension,
        features = if present.is_empty() {
            "none of timestamp-query, shader-f16, subgroups".to_string()
        } else {
            present.join(", ")
        },
    )
}
