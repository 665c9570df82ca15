//! The VGG16 feature space against torchvision: a file with torchvision's names and shapes
//! (kernels-tests/golden/vgg16_layout.json, written by make_vgg16.py from torchvision's
//! vgg16) and weights set by the script's formula must give the features torchvision gave.

use kernels_tests::{assert_close, gpu, temp_dir};
use pegasus::Tensor;
use pegasus::eval::features::FeatureSpace;
use pegasus::eval::vgg16::Vgg16;
use pegasus::io::Checkpoint;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The convolutions of torchvision's layout with the script's formula weights, as a
/// safetensors file (the classifier's 120 M values are left out: the loader reads only
/// `features`).
fn formula_checkpoint(skip: Option<&str>) -> Checkpoint {
    let layout = fixture("vgg16_layout");
    let mut checkpoint = Checkpoint::default();
    let tensors = layout["tensors"].as_array().expect("tensors");
    let features = tensors
        .iter()
        .filter(|t| t[0].as_str().expect("name").starts_with("features."));
    for (t, entry) in features.enumerate() {
        let name = entry[0].as_str().expect("name");
        let shape: Vec<usize> = entry[1]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("size") as usize)
            .collect();
        let count: usize = shape.iter().product();
        let values: Vec<f32> = if name.ends_with(".weight") {
            let fan_in = (shape[1] * shape[2] * shape[3]) as f64;
            (0..count)
                .map(|i| ((4.0 / fan_in).sqrt() * (1.3 * i as f64 + 0.7 * t as f64).sin()) as f32)
                .collect()
        } else {
            (0..count)
                .map(|i| (0.1 * (0.9 * i as f64 + t as f64).cos()) as f32)
                .collect()
        };
        if Some(name) != skip {
            checkpoint.tensors.insert(name.to_string(), (shape, values));
        }
    }
    checkpoint
}

#[test]
fn vgg16_features_match_torchvision_and_grey_images_count_as_rgb() {
    let g = gpu();
    let dir = temp_dir("vgg16");
    let file = dir.join("vgg16.safetensors");
    formula_checkpoint(None).save(&file).expect("save");
    let vgg = Vgg16::load(&g, &file).expect("load");
    assert_eq!(vgg.dims(), 512);

    let image: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| (0.37 * i as f64).sin() as f32)
        .collect();
    let got = vgg
        .embed(&Tensor::from_slice(&g, &image, &[2, 3, 32, 32]))
        .expect("embed");
    assert_eq!(got.dims(), &[2, 512]);
    let golden = fixture("vgg16_features");
    let want: Vec<f64> = golden["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let peak = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_close("vgg16 features", &got.to_vec(), &want, 1e-4 * peak, 1e-3);

    // A grey image is the same image on all three channels.
    let grey: Vec<f32> = image[..32 * 32].to_vec();
    let rgb: Vec<f32> = grey.iter().cycle().take(3 * 32 * 32).copied().collect();
    let from_grey = vgg
        .embed(&Tensor::from_slice(&g, &grey, &[1, 1, 32, 32]))
        .expect("grey")
        .to_vec();
    let from_rgb = vgg
        .embed(&Tensor::from_slice(&g, &rgb, &[1, 3, 32, 32]))
        .expect("rgb")
        .to_vec();
    let want_rgb: Vec<f64> = from_rgb.iter().map(|v| *v as f64).collect();
    assert_close("grey as rgb", &from_grey, &want_rgb, 1e-6, 1e-5);
    // Small images are enlarged to 32 pixels rather than pooled away.
    let small = vgg
        .embed(&Tensor::from_slice(&g, &grey[..28 * 28], &[1, 1, 28, 28]))
        .expect("28 x 28");
    assert_eq!(small.dims(), &[1, 512]);
    assert!(small.to_vec().iter().all(|v| v.is_finite()));
}

#[test]
fn vgg16_refuses_a_file_without_a_layer_naming_it() {
    let g = gpu();
    let dir = temp_dir("vgg16-missing");
    let file = dir.join("partial.safetensors");
    formula_checkpoint(Some("features.28.weight"))
        .save(&file)
        .expect("save");
    let message = match Vgg16::load(&g, &file) {
        Ok(_) => panic!("a VGG16 without features.28.weight loaded"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("features.28.weight") && message.contains("VGG16"),
        "{message}"
    );
}

#[test]
fn glo_perceptual_loss_with_vgg16_is_l1_plus_the_l1_of_each_block() {
    use pegasus::models::generator::GeneratorConfig;
    use pegasus::models::glo::{Glo, GloConfig, LatentInit, Reconstruction};
    let g = gpu();
    let dir = temp_dir("vgg16-perceptual");
    let file = dir.join("vgg16.safetensors");
    formula_checkpoint(None).save(&file).expect("save");
    let set = pegasus::data::Dataset::embedded()
        .unwrap()
        .select(&(0..16).map(|i| i * 600).collect::<Vec<_>>());
    let config = GloConfig {
        generator: GeneratorConfig {
            image_size: 28,
            channels: 1,
            nz: 8,
            ngf: 8,
        },
        images: set.len(),
        batch: 8,
        lr_generator: 1e-3,
        lr_latent: 1e-2,
        loss: Reconstruction::Perceptual,
        levels: 3,
        lap_weights: None,
        init: LatentInit::Pca,
        seed: 0,
        continuity: None,
        perceptual_features: Some(format!("vgg16:{}", file.display()).into()),
        stages: None,
    };
    let glo = Glo::new(&g, &set, config).unwrap();
    let x = set.batch(&g, &(0..4).collect::<Vec<_>>());
    let y = set.batch(&g, &(4..8).collect::<Vec<_>>());
    let vgg = Vgg16::load(&g, &file).unwrap();
    let mean_abs = |a: &Tensor, b: &Tensor| -> f64 {
        let (a, b) = (a.to_vec(), b.to_vec());
        a.iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs() as f64)
            .sum::<f64>()
            / a.len() as f64
    };
    let (fx, fy) = (
        vgg.block_features(&x).unwrap(),
        vgg.block_features(&y).unwrap(),
    );
    assert_eq!(fx.len(), 5, "five blocks");
    let want = mean_abs(&x, &y) + fx.iter().zip(&fy).map(|(a, b)| mean_abs(a, b)).sum::<f64>();
    let got = glo.reconstruction_loss(&x, &y).item() as f64;
    assert!(
        (got - want).abs() < 1e-4 * want,
        "perceptual loss {got}, L1 + VGG16 block L1s {want}"
    );
}
