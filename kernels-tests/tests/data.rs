//! Dataset readers on files written here in each exact format, their errors, the embedded
//! set, transforms, PCA and k-means against references, and downloads from a local server.

use std::io::Write;
use std::path::Path;

use kernels_tests::{gpu, temp_dir};
use pegasus::data::cluster::{kmeans, pca};
use pegasus::data::download::{Remote, fetch};
use pegasus::data::transform::Augment;
use pegasus::data::{DataSelection, Dataset, HeldOut, Source, Split};
use pegasus::ops::HostRng;
use pegasus::{Rng, Tensor};
use sha2::{Digest, Sha256};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [0x0803u32, n, rows, cols] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = 0x0801u32.to_be_bytes().to_vec();
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn load(spec: &str) -> pegasus::Result<Dataset> {
    Dataset::load(&Source::parse(spec)?)
}

fn error_of(spec: &str) -> String {
    load(spec).expect_err("should be refused").to_string()
}

#[test]
fn mnist_idx_plain_and_gzip() {
    let dir = temp_dir("idx");
    let pixels: Vec<u8> = (0..3 * 2 * 3).map(|i| i as u8 * 10).collect();
    write(
        &dir.join("train-images-idx3-ubyte"),
        &idx_images(3, 2, 3, &pixels),
    );
    write(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &gz(&idx_labels(&[7, 0, 9])),
    );
    let set = load(&format!("mnist:{}", dir.display())).unwrap();
    assert_eq!(
        (set.len(), set.channels, set.height, set.width),
        (3, 1, 2, 3)
    );
    assert_eq!(set.image(1), &pixels[6..12]);
    assert_eq!(set.labels.as_deref(), Some(&[7u16, 0, 9][..]));
    assert_eq!(set.filter_classes(&["9".into()]).unwrap().len(), 1);
    write(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &gz(&idx_images(1, 2, 3, &pixels[..6])),
    );
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx_labels(&[4]));
    let fashion = load(&format!("fashion-mnist:{}:test", dir.display())).unwrap();
    assert_eq!(fashion.len(), 1);
    assert_eq!(fashion.class_names[4], "coat");
}

#[test]
fn damaged_idx_files_name_the_file_and_the_problem() {
    let dir = temp_dir("idx-bad");
    let spec = format!("mnist:{}", dir.display());
    let labels = idx_labels(&[1, 2]);
    write(&dir.join("train-labels-idx1-ubyte"), &labels);
    write(
        &dir.join("train-images-idx3-ubyte"),
        &idx_images(2, 2, 2, &[0; 7]),
    );
    let m = error_of(&spec);
    assert!(
        m.contains("train-images-idx3-ubyte") && m.contains("truncated"),
        "{m}"
    );
    write(&dir.join("train-images-idx3-ubyte"), &idx_labels(&[0; 20]));
    let m = error_of(&spec);
    assert!(m.contains("wrong magic number"), "{m}");
    write(
        &dir.join("train-images-idx3-ubyte"),
        &idx_images(3, 2, 2, &[0; 12]),
    );
    let m = error_of(&spec);
    assert!(m.contains("2 labels for 3 images"), "{m}");
    let mut broken = gz(&idx_images(2, 2, 2, &[0; 8]));
    broken.truncate(broken.len() - 6);
    write(&dir.join("train-images-idx3-ubyte"), &broken);
    let m = error_of(&spec);
    assert!(m.contains("gzip") && m.contains("damaged"), "{m}");
    std::fs::remove_file(dir.join("train-images-idx3-ubyte")).unwrap();
    let m = error_of(&spec);
    assert!(
        m.contains("no train-images-idx3-ubyte") && m.contains("pegasus data get"),
        "{m}"
    );
}

/// 32 x 32 RGB images whose three planes are 1, 2, 3 times (row + column) mod 256.
fn cifar_record(label_bytes: &[u8], shift: u8) -> Vec<u8> {
    let mut r = label_bytes.to_vec();
    for c in 1..=3u8 {
        for y in 0..32u8 {
            for x in 0..32u8 {
                r.push(c.wrapping_mul(y.wrapping_add(x)).wrapping_add(shift));
            }
        }
    }
    r
}

#[test]
fn cifar10_and_cifar100_binaries() {
    let dir = temp_dir("cifar");
    let inner = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&inner).unwrap();
    write(
        &inner.join("data_batch_1.bin"),
        &[cifar_record(&[7], 0), cifar_record(&[2], 5)].concat(),
    );
    write(&inner.join("data_batch_2.bin"), &cifar_record(&[9], 1));
    let set = load(&format!("cifar10:{}", dir.display())).unwrap();
    assert_eq!(
        (set.len(), set.channels, set.height, set.width),
        (3, 3, 32, 32)
    );
    assert_eq!(set.labels.as_deref(), Some(&[7u16, 2, 9][..]));
    assert_eq!(
        set.image(1)[1024 + 32 + 1],
        2 * 2 + 5,
        "green plane, row 1, column 1"
    );
    let horses = set
        .filter_classes(&["horse".into(), "TRUCK".into()])
        .unwrap();
    assert_eq!(horses.len(), 2);
    let m = set
        .filter_classes(&["pegasus".into()])
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("no class `pegasus`") && m.contains("airplane"),
        "{m}"
    );
    write(
        &inner.join("data_batch_2.bin"),
        &cifar_record(&[9], 1)[..3000],
    );
    let m = error_of(&format!("cifar10:{}", dir.display()));
    assert!(
        m.contains("data_batch_2.bin") && m.contains("3073-byte records"),
        "{m}"
    );
    write(&inner.join("data_batch_2.bin"), &cifar_record(&[12], 1));
    let m = error_of(&format!("cifar10:{}", dir.display()));
    assert!(m.contains("label 12"), "{m}");

    let hundred = dir.join("c100");
    std::fs::create_dir_all(&hundred).unwrap();
    write(
        &hundred.join("train.bin"),
        &[cifar_record(&[3, 42], 0), cifar_record(&[1, 99], 0)].concat(),
    );
    let names: Vec<String> = (0..100).map(|i| format!("name{i}")).collect();
    write(
        &hundred.join("fine_label_names.txt"),
        names.join("\n").as_bytes(),
    );
    let set = load(&format!("cifar100:{}", hundred.display())).unwrap();
    assert_eq!(
        set.labels.as_deref(),
        Some(&[42u16, 99][..]),
        "the fine label, second byte"
    );
    assert_eq!(set.class_names[99], "name99");
}

#[test]
fn stl10_column_major_images_come_out_the_right_way_up() {
    let dir = temp_dir("stl");
    let inner = dir.join("stl10_binary");
    std::fs::create_dir_all(&inner).unwrap();
    // One image: channel c, row y, column x has value (y * 2 + c) for x < 10 and 255 in the
    // top-left 3 x 5 corner of channel 0: asymmetric, so a transpose or a flip shows.
    let mut image = vec![0u8; 3 * 96 * 96];
    for c in 0..3 {
        for y in 0..96 {
            for x in 0..96 {
                let v = if c == 0 && y < 3 && x < 5 {
                    255
                } else if x < 10 {
                    (y * 2 + c) as u8
                } else {
                    0
                };
                image[(c * 96 + x) * 96 + y] = v; // stored column by column
            }
        }
    }
    write(&inner.join("train_X.bin"), &image);
    write(&inner.join("train_y.bin"), &[8]);
    let set = load(&format!("stl10:{}", dir.display())).unwrap();
    assert_eq!(
        set.labels.as_deref(),
        Some(&[7u16][..]),
        "labels 1..10 become 0..9"
    );
    assert_eq!(set.class_names[7], "monkey");
    let img = set.image(0);
    let at = |c: usize, y: usize, x: usize| img[(c * 96 + y) * 96 + x];
    assert_eq!(
        (at(0, 2, 4), at(0, 4, 2), at(0, 3, 4)),
        (255, 8, 6),
        "corner 3 rows tall, 5 wide"
    );
    assert_eq!((at(1, 50, 9), at(1, 50, 10), at(2, 95, 0)), (101, 0, 192));
    write(&inner.join("train_y.bin"), &[11]);
    assert!(error_of(&format!("stl10:{}", dir.display())).contains("outside 1..10"));
    write(&inner.join("train_X.bin"), &image[..1000]);
    let m = error_of(&format!("stl10:{}", dir.display()));
    assert!(
        m.contains("train_X.bin") && m.contains("27648-byte images"),
        "{m}"
    );
}

#[test]
fn image_folders_flat_and_by_class() {
    let dir = temp_dir("folder");
    let make = |path: &Path, w: u32, h: u32, shade: u8| {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([shade, (x * 10) as u8, (y * 10) as u8])
        });
        img.save(path).unwrap();
    };
    std::fs::create_dir_all(dir.join("cats")).unwrap();
    std::fs::create_dir_all(dir.join("dogs")).unwrap();
    make(&dir.join("cats/a.png"), 8, 6, 10);
    make(&dir.join("cats/b.PNG"), 16, 12, 20);
    make(&dir.join("dogs/c.png"), 8, 6, 30);
    std::fs::write(dir.join("dogs/notes.txt"), "not an image").unwrap();
    let set = load(dir.to_str().unwrap()).unwrap();
    assert_eq!(
        (set.len(), set.channels, set.height, set.width),
        (3, 3, 6, 8)
    );
    assert_eq!(set.class_names, vec!["cats", "dogs"]);
    assert_eq!(set.labels.as_deref(), Some(&[0u16, 0, 1][..]));
    assert_eq!(set.image(0)[0], 10, "red plane first");
    assert_eq!(
        set.image(1)[0],
        20,
        "the larger image was resized, its colour kept"
    );
    let flat = temp_dir("folder-flat");
    make(&flat.join("one.png"), 4, 4, 1);
    assert!(load(flat.to_str().unwrap()).unwrap().labels.is_none());
    std::fs::write(flat.join("bad.png"), b"not a png").unwrap();
    let m = error_of(flat.to_str().unwrap());
    assert!(m.contains("bad.png") && m.contains("cannot decode"), "{m}");
    let empty = temp_dir("folder-empty");
    assert!(error_of(empty.to_str().unwrap()).contains("no PNG or JPEG images"));
    assert!(error_of("no-such-source").contains("not a data source"));
}

#[test]
fn the_embedded_digits() {
    let set = Dataset::embedded().unwrap();
    assert_eq!(
        (set.len(), set.channels, set.height, set.width),
        (10_000, 1, 28, 28)
    );
    let labels = set.labels.as_ref().unwrap();
    assert!(labels.iter().all(|&l| l < 10));
    assert!(
        set.class_counts()
            .iter()
            .all(|(_, c)| (800..1200).contains(c)),
        "about 1,000 per digit"
    );
    // SHA-256 printed by assets/make_digits.py when it built the files.
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    assert_eq!(
        hex(&set.pixels),
        "0768d16c5adea568dee18fa5e4e1acb117e9ec2c5d6b1dffe5fc29c1e61c1eca"
    );
    let raw: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    assert_eq!(
        hex(&raw),
        "44e605757823cf79c6557e6d2a7f45c693b286e8cd303ea10339b002801b4916"
    );
}

#[test]
fn transforms() {
    let set = Dataset {
        name: "t".into(),
        channels: 3,
        height: 4,
        width: 4,
        pixels: (0..48).map(|i| (i * 5) as u8).collect(),
        labels: None,
        class_names: vec![],
    };
    // Area resize to 2 x 2: each output is the mean of a 2 x 2 block.
    let half = set.resized(2, 2);
    let mean = |c: usize, y: usize, x: usize| -> u8 {
        let v: f32 = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .map(|(dy, dx)| f32::from(set.image(0)[(c * 4 + 2 * y + dy) * 4 + 2 * x + dx]))
            .sum();
        (v / 4.0).round() as u8
    };
    assert_eq!(half.image(0)[3], mean(0, 1, 1));
    assert_eq!(half.image(0)[4 + 2], mean(1, 1, 0));
    let grey = set.greyscale();
    assert_eq!(grey.channels, 1);
    let want = 0.299 * 0.0 + 0.587 * 80.0 + 0.114 * 160.0;
    assert_eq!(grey.image(0)[0], (want as f32).round() as u8);
    let crop = set.center_cropped(2, 2);
    assert_eq!(crop.image(0)[0], set.image(0)[5]);
    // A flip always taken (rng below 2 returns 1 for some draw): compare both outcomes.
    let (values, h, w) = set.augmented_values(
        &[0],
        Augment {
            crop: Some((4, 3)),
            flip: true,
        },
        &mut HostRng::new(1, 0),
    );
    assert_eq!((h, w), (4, 3));
    let row0: Vec<u8> = values[..3]
        .iter()
        .map(|v| ((v + 1.0) * 127.5).round() as u8)
        .collect();
    let img = set.image(0);
    assert!(
        row0 == img[0..3]
            || row0 == img[1..4]
            || row0 == [img[2], img[1], img[0]]
            || row0 == [img[3], img[2], img[1]],
        "{row0:?}"
    );
}

/// Top eigenpairs of a symmetric matrix by power iteration with deflation (f64).
fn top_eigen(mut a: Vec<f64>, d: usize, k: usize) -> Vec<(f64, Vec<f64>)> {
    let mut out = Vec::new();
    for _ in 0..k {
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 * 0.01).collect();
        let mut lambda = 0.0;
        for _ in 0..3000 {
            let w: Vec<f64> = (0..d)
                .map(|i| (0..d).map(|j| a[i * d + j] * v[j]).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            lambda = norm;
            v = w.iter().map(|x| x / norm).collect();
        }
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] -= lambda * v[i] * v[j];
            }
        }
        out.push((lambda, v));
    }
    out
}

#[test]
fn pca_matches_an_f64_reference() {
    let gpu = gpu();
    let (n, d, k) = (400, 12, 3);
    // Data with a clear spectrum: independent normals scaled 1 / (1 + i), mixed by a fixed rotation.
    let raw = Rng::new(3).normal(&gpu, &[n, d], 0.0, 1.0).to_vec();
    let mut x = vec![0f32; n * d];
    for r in 0..n {
        for c in 0..d {
            let s: f32 = (0..d)
                .map(|j| {
                    raw[r * d + j] * 3.0 / (1.0 + j as f32) * (((j * 7 + c * 3) % 11) as f32 - 5.0)
                        / 5.0
                })
                .sum();
            x[r * d + c] = s + 2.0;
        }
    }
    let result = pca(&Tensor::from_slice(&gpu, &x, &[n, d]), k, 1);
    let mean: Vec<f64> = (0..d)
        .map(|c| (0..n).map(|r| f64::from(x[r * d + c])).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![0.0; d * d];
    for r in 0..n {
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] += (f64::from(x[r * d + i]) - mean[i])
                    * (f64::from(x[r * d + j]) - mean[j])
                    / (n - 1) as f64;
            }
        }
    }
    let reference = top_eigen(cov.clone(), d, k);
    for (i, (lambda, _)) in reference.iter().enumerate() {
        let got = result.explained_variance[i];
        assert!(
            (got - lambda).abs() <= 1e-3 * lambda,
            "variance {i}: {got} vs {lambda}"
        );
    }
    let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    assert!((result.total_variance - trace).abs() < 1e-3 * trace);
    // Subspace angle: every reference direction lies in the span of the computed ones.
    let comps = result.components.to_vec();
    for (i, (_, v)) in reference.iter().enumerate() {
        let in_span: f64 = (0..k)
            .map(|c| {
                (0..d)
                    .map(|t| f64::from(comps[c * d + t]) * v[t])
                    .sum::<f64>()
                    .powi(2)
            })
            .sum();
        assert!(
            in_span > 1.0 - 1e-4,
            "direction {i}: cos^2 of the angle to the subspace is {in_span}"
        );
    }
}

#[test]
fn kmeans_finds_planted_clusters_exactly() {
    let gpu = gpu();
    let centres = [
        [0.0f32, 0.0, 0.0],
        [10.0, 0.0, 0.0],
        [0.0, 10.0, 0.0],
        [0.0, 0.0, 10.0],
        [10.0, 10.0, 10.0],
    ];
    let noise = Rng::new(4).normal(&gpu, &[500, 3], 0.0, 0.5).to_vec();
    let truth: Vec<usize> = (0..500).map(|i| (i * 7) % 5).collect();
    let points: Vec<f32> = (0..500)
        .flat_map(|i| (0..3).map(move |t| (i, t)))
        .map(|(i, t)| centres[truth[i]][t] + noise[i * 3 + t])
        .collect();
    let result = kmeans(&Tensor::from_slice(&gpu, &points, &[500, 3]), 5, 3, 50, 2);
    // Same partition up to renaming the clusters.
    let mut map = [usize::MAX; 5];
    for (i, &a) in result.assignments.iter().enumerate() {
        if map[truth[i]] == usize::MAX {
            map[truth[i]] = a;
        }
        assert_eq!(
            map[truth[i]], a,
            "point {i} is split from its planted cluster"
        );
    }
    let mut used = map.to_vec();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 5, "five distinct clusters");
    // Inertia about n * d * sigma^2 = 500 * 3 * 0.25.
    assert!(
        (result.inertia - 375.0).abs() < 60.0,
        "inertia {}",
        result.inertia
    );
    let nearest = result.nearest(&Tensor::from_slice(&gpu, &points, &[500, 3]), 3);
    assert!(nearest.iter().all(|n| n.len() == 3));
}

/// A one-file HTTP/1.1 server on 127.0.0.1 that honours byte ranges; `cut_first` makes the
/// first response stop half way (as a dropped connection would). Returns the base URL and
/// the Range headers it saw.
fn serve(
    body: Vec<u8>,
    cut_first: bool,
    requests: usize,
) -> (String, std::sync::mpsc::Receiver<Option<String>>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(requests).enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut range = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = Some(v.trim().trim_end_matches('-').to_string());
                }
            }
            let _ = tx.send(range.clone());
            let start: usize = range.as_deref().map_or(0, |r| r.parse().unwrap());
            let rest = &body[start..];
            let status = if start > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                rest.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            let sent = if cut_first && i == 0 {
                rest.len() / 2
            } else {
                rest.len()
            };
            let _ = stream.write_all(&rest[..sent]);
        }
    });
    (url, rx)
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    format!("{:x}", Md5::digest(bytes))
}

#[test]
fn downloads_resume_and_check_their_checksums() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let dir = temp_dir("download");
    let (url, ranges) = serve(body.clone(), true, 2);
    let remote = Remote {
        url: format!("{url}archive.bin"),
        md5: md5_hex(&body),
    };
    let first = fetch(&remote, &dir, false).expect_err("the first transfer is cut");
    assert!(
        first
            .to_string()
            .contains("run the command again to resume"),
        "{first}"
    );
    assert!(
        dir.join("archive.bin.part").is_file(),
        "the partial file is kept"
    );
    let path = fetch(&remote, &dir, false).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(ranges.recv().unwrap(), None);
    assert_eq!(
        ranges.recv().unwrap(),
        Some("100000".into()),
        "the second request asked for the rest"
    );
    // A complete file with the right sum is not fetched again (the server is gone now).
    assert_eq!(fetch(&remote, &dir, false).unwrap(), path);

    let dir = temp_dir("download-bad");
    let (url, _ranges) = serve(body.clone(), false, 1);
    let wrong = Remote {
        url: format!("{url}archive.bin"),
        md5: md5_hex(b"something else"),
    };
    let m = fetch(&wrong, &dir, false).unwrap_err().to_string();
    assert!(
        m.contains("differs from the published") && m.contains("damaged"),
        "{m}"
    );
    assert!(
        !dir.join("archive.bin").exists() && !dir.join("archive.bin.part").exists(),
        "the damaged file is deleted"
    );
}

#[test]
fn archives_unpack_into_the_set_folder() {
    let dir = temp_dir("unpack");
    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let record = cifar_record(&[4], 0);
        let mut header = tar::Header::new_gnu();
        header.set_size(record.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                "cifar-10-batches-bin/data_batch_1.bin",
                record.as_slice(),
            )
            .unwrap();
        builder.finish().unwrap();
    }
    let archive = dir.join("cifar-10-binary.tar.gz");
    write(&archive, &gz(&tar_bytes));
    pegasus::data::download::unpack(&archive, &dir).unwrap();
    let set = load(&format!("cifar10:{}", dir.display())).unwrap();
    assert_eq!(set.labels.as_deref(), Some(&[4u16][..]));
    write(&archive, b"not gzip");
    assert!(pegasus::data::download::unpack(&archive, &dir).is_err());
}

#[test]
fn held_out_images_come_from_the_test_split_or_every_nth_image() {
    let dir = temp_dir("split");
    // 40 training digits labelled 0..9 in turn; each image's first pixel is its index.
    let pixels: Vec<u8> = (0..40u8).flat_map(|i| [i, 0, 0, 0]).collect();
    let labels: Vec<u8> = (0..40u8).map(|i| i % 10).collect();
    write(
        &dir.join("train-images-idx3-ubyte"),
        &idx_images(40, 2, 2, &pixels),
    );
    write(&dir.join("train-labels-idx1-ubyte"), &idx_labels(&labels));
    let selection = |classes: &[&str]| DataSelection {
        data: format!("mnist:{}", dir.display()),
        classes: classes.iter().map(|c| c.to_string()).collect(),
        clusters: None,
        cluster: Vec::new(),
        representatives: None,
        image_size: None,
        grey: false,
        limit: None,
    };
    let firsts = |set: &Dataset| -> Vec<u8> { (0..set.len()).map(|i| set.image(i)[0]).collect() };

    // No test files: every 4th image (3, 7, 11, ...) is held back.
    let split = Split::choose(&selection(&[]), Some(4)).unwrap();
    assert_eq!(split.how, HeldOut::EveryNth(4));
    let heldout = split.heldout.as_ref().unwrap();
    assert_eq!(
        firsts(heldout),
        (0..10).map(|k| 4 * k + 3).collect::<Vec<u8>>()
    );
    assert_eq!(split.train.len(), 30);
    assert!(firsts(&split.train).iter().all(|i| i % 4 != 3));
    // A run records its split; loading it again gives the same images.
    let again = Split::load(&selection(&[]), split.how).unwrap();
    assert_eq!(again.train.pixels, split.train.pixels);
    assert!(Split::choose(&selection(&[]), Some(1)).is_err());
    let all = Split::choose(&selection(&[]), None).unwrap();
    assert_eq!(
        (all.how, all.train.len(), all.heldout.is_none()),
        (HeldOut::None, 40, true)
    );

    // With test files, the test split (under the same class filter) is held out instead.
    let test_pixels: Vec<u8> = (100..106u8).flat_map(|i| [i, 0, 0, 0]).collect();
    write(
        &dir.join("t10k-images-idx3-ubyte"),
        &idx_images(6, 2, 2, &test_pixels),
    );
    write(
        &dir.join("t10k-labels-idx1-ubyte"),
        &idx_labels(&[1, 2, 1, 3, 1, 2]),
    );
    let split = Split::choose(&selection(&["1", "2"]), Some(4)).unwrap();
    assert_eq!(split.how, HeldOut::TestSplit);
    assert_eq!(
        firsts(split.heldout.as_ref().unwrap()),
        [100, 101, 102, 104, 105]
    );
    assert_eq!(split.train.len(), 8, "every 1 and 2 of the training images");
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    let error = Split::load(&selection(&["1", "2"]), HeldOut::TestSplit)
        .unwrap_err()
        .to_string();
    assert!(error.contains("test split"), "{error}");
}
