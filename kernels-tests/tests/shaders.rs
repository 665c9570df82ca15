//! Every WGSL file parses and validates with naga, and every file is part of a shader.

use pegasus::gpu::validate_wgsl;
use pegasus::ops::shaders::{ALL, FILES};

#[test]
fn every_shader_validates() {
    for shader in ALL {
        if let Err(e) = validate_wgsl(shader) {
            panic!("{e}");
        }
    }
}

#[test]
fn every_file_in_shaders_is_used() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shaders");
    for entry in std::fs::read_dir(dir).expect("shaders folder") {
        let path = entry.expect("readable entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert!(
            FILES.contains(&stem),
            "{} is not part of any shader in src/ops/mod.rs",
            path.display()
        );
    }
}
