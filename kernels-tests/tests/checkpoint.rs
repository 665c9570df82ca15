//! Checkpoints: round trip, atomic writes, and a clear error for every kind of mismatch.

use kernels_tests::{gpu, temp_dir};
use pegasus::io::Checkpoint;
use pegasus::{Error, Tensor};

fn model() -> Vec<(String, Tensor)> {
    let gpu = gpu();
    vec![
        (
            "main.0.weight".into(),
            Tensor::from_slice(&gpu, &[1.0, -2.0, 3.5, 0.25, 5.0, 6.0], &[2, 3]),
        ),
        (
            "main.1.running_var".into(),
            Tensor::from_slice(&gpu, &[0.5, 1.5], &[2]),
        ),
    ]
}

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn save_and_restore_round_trip_with_metadata() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("checkpoint.safetensors");
    let named = model();
    let mut ckpt = Checkpoint::capture(&named);
    ckpt.metadata.insert("step".into(), "42".into());
    ckpt.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded, ckpt);
    let gpu = gpu();
    let fresh = vec![
        ("main.0.weight".into(), Tensor::zeros(&gpu, &[2, 3])),
        ("main.1.running_var".into(), Tensor::zeros(&gpu, &[2])),
    ];
    loaded.restore(&path, &fresh).unwrap();
    assert_eq!(fresh[0].1.to_vec(), named[0].1.to_vec());
    assert_eq!(fresh[1].1.to_vec(), named[1].1.to_vec());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "the temporary file was renamed away");
}

#[test]
fn mismatches_name_the_tensor_and_change_nothing() {
    let dir = temp_dir("mismatch");
    let path = dir.join("c.safetensors");
    Checkpoint::capture(&model()).save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    let gpu = gpu();
    let untouched = Tensor::full(&gpu, &[2, 3], 7.0);
    let wrong_shape = vec![
        ("main.0.weight".into(), untouched.clone()),
        ("main.1.running_var".into(), Tensor::zeros(&gpu, &[3])),
    ];
    let m = message(loaded.restore(&path, &wrong_shape).unwrap_err());
    assert!(
        m.contains("main.1.running_var") && m.contains("[2]") && m.contains("[3]"),
        "{m}"
    );
    assert_eq!(
        untouched.to_vec(),
        vec![7.0; 6],
        "nothing is written when a tensor does not match"
    );
    let missing = vec![("main.2.weight".into(), Tensor::zeros(&gpu, &[1]))];
    let m = message(loaded.restore(&path, &missing).unwrap_err());
    assert!(m.contains("missing tensor `main.2.weight`"), "{m}");
    let extra = vec![("main.0.weight".into(), Tensor::zeros(&gpu, &[2, 3]))];
    let m = message(loaded.restore(&path, &extra).unwrap_err());
    assert!(m.contains("unexpected tensor `main.1.running_var`"), "{m}");
}

#[test]
fn damaged_files_are_refused_with_the_path() {
    let dir = temp_dir("damaged");
    let path = dir.join("c.safetensors");
    Checkpoint::capture(&model()).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).unwrap();
    let m = message(Checkpoint::load(&truncated).unwrap_err());
    assert!(
        m.contains("truncated.safetensors") && m.contains("not a readable safetensors"),
        "{m}"
    );
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"hello").unwrap();
    assert!(message(Checkpoint::load(&garbage).unwrap_err()).contains("garbage.safetensors"));
    let m = message(Checkpoint::load(&dir.join("absent.safetensors")).unwrap_err());
    assert!(m.contains("cannot read"), "{m}");
    // A valid file of another dtype.
    let header = br#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let mut f16 = (header.len() as u64).to_le_bytes().to_vec();
    f16.extend_from_slice(header);
    f16.extend_from_slice(&[0, 60, 0, 60]);
    let other = dir.join("f16.safetensors");
    std::fs::write(&other, f16).unwrap();
    let m = message(Checkpoint::load(&other).unwrap_err());
    assert!(m.contains("`w` is F16"), "{m}");
}
