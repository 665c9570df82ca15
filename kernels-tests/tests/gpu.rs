//! The GPU context: adapter choice, the buffer pool, limits and profiling.

use kernels_tests::gpu;
use pegasus::{AdapterChoice, Error, Gpu, Tensor};

#[test]
fn adapter_choice_by_index_name_and_error() {
    let (adapters, chosen) = Gpu::list_adapters(&AdapterChoice::default());
    assert!(!adapters.is_empty(), "{}", pegasus::error::INSTALL_HINT);
    let chosen = chosen.expect("a default adapter");
    let name = adapters[chosen].get_info().name;
    let by_index = AdapterChoice {
        spec: Some(chosen.to_string()),
        from: "test",
    };
    assert_eq!(Gpu::list_adapters(&by_index).1.unwrap(), chosen);
    let part = name.chars().take(4).collect::<String>().to_uppercase();
    let by_name = AdapterChoice {
        spec: Some(part),
        from: "test",
    };
    let found = Gpu::list_adapters(&by_name).1.unwrap();
    assert!(
        adapters[found]
            .get_info()
            .name
            .to_lowercase()
            .starts_with(&name[..4].to_lowercase())
    );
    let missing = AdapterChoice {
        spec: Some("no such adapter".into()),
        from: "--adapter",
    };
    match Gpu::list_adapters(&missing).1 {
        Err(Error::AdapterNotFound {
            available,
            source_of_choice,
            ..
        }) => {
            assert_eq!(source_of_choice, "--adapter");
            assert!(
                available.contains(&name),
                "the error lists the adapters: {available}"
            );
        }
        other => panic!("expected AdapterNotFound, got {other:?}"),
    }
}

#[test]
fn dropped_tensors_return_their_buffers_to_the_pool() {
    let gpu = gpu();
    // A size class no other test uses, so the counts below are this test's.
    let dims = [3, 1_234_567];
    drop(Tensor::zeros(&gpu, &dims));
    let (_, pooled_before, _, reused_before) = gpu.pool_stats();
    let t = Tensor::zeros(&gpu, &dims);
    let (_, pooled_after, _, reused_after) = gpu.pool_stats();
    assert!(
        reused_after > reused_before,
        "the second tensor reused the first one's buffer"
    );
    assert!(pooled_after < pooled_before);
    assert_eq!(t.to_vec().len(), 3 * 1_234_567);
}

#[test]
fn oversized_tensors_are_refused_with_the_limit() {
    let gpu = gpu();
    let limit = gpu
        .limits()
        .max_storage_buffer_binding_size
        .min(gpu.limits().max_buffer_size);
    let err = gpu.check_binding(limit + 1).expect_err("over the limit");
    let message = err.to_string();
    assert!(message.contains("smaller batch"), "{message}");
    assert!(gpu.check_binding(limit / 2).is_ok());
}

#[test]
fn grids_split_past_the_per_dimension_limit() {
    let gpu = gpu();
    let max = u64::from(gpu.limits().max_compute_workgroups_per_dimension);
    assert_eq!(gpu.linear_grid(5).0, [5, 1, 1]);
    let pegasus::gpu::Grid([x, y, z]) = gpu.linear_grid(max * 3 + 1);
    assert_eq!(z, 1);
    assert!(u64::from(x) <= max && u64::from(y) <= max);
    assert!(u64::from(x) * u64::from(y) > max * 3);
}
