//! Every parser a user can reach, fed damaged versions of valid inputs: IDX (plain and
//! gzipped), CIFAR-10/100, STL-10, image folders, checkpoints, the config.json of every run
//! kind, clusters.json, latent expressions and command-line sizes and lists. A case passes
//! when pegasus answers with a result or an error sentence; it fails on a panic, on taking
//! longer than its time limit, or on asking for more than 256 MiB in one allocation (a header
//! that promises 2^32 images must not be believed).
//!
//! `cargo test --release --test fuzz` runs a few thousand cases (CI);
//! `cargo test --release --test fuzz -- --ignored --nocapture` runs 100,000
//! (PEGASUS_FUZZ_CASES sets another count, PEGASUS_FUZZ_SEED replays a seed,
//! PEGASUS_FUZZ_ONLY=NAME keeps the parsers whose name contains NAME, PEGASUS_FUZZ_VERBOSE=1
//! prints every error answer) and prints the count per parser.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pegasus::Gpu;
use pegasus::data::{DataSelection, Dataset, Source};

/// The largest single allocation a case may make.
const ALLOCATION_CAP: usize = 256 << 20;

struct Capped;

// SAFETY: every call is forwarded to the system allocator unchanged; oversized requests
// stop the process before reaching it.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        refuse_oversized(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        refuse_oversized(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        refuse_oversized(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

/// The case running now, for the messages of the allocation cap and the watchdog.
static CURRENT: Mutex<String> = Mutex::new(String::new());
/// When the current case started (ms since the epoch), 0 between cases.
static CASE_STARTED: AtomicU64 = AtomicU64::new(0);

/// Stops the process, naming the case: an allocation this size is the bug being looked for,
/// and unwinding from an allocator is not allowed. Nothing here allocates.
fn refuse_oversized(size: usize) {
    if size <= ALLOCATION_CAP {
        return;
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "\nfuzz: an allocation of {size} bytes in case: ");
    if let Ok(case) = CURRENT.try_lock() {
        let _ = err.write_all(case.as_bytes());
    }
    let _ = err.write_all(b"\n");
    std::process::abort();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Aborts, naming the case, when one runs past `limit`: a hang.
fn start_watchdog(limit: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let started = CASE_STARTED.load(Ordering::SeqCst);
            if started != 0 && now_ms().saturating_sub(started) > limit.as_millis() as u64 {
                let case = CURRENT.lock().map(|c| c.clone()).unwrap_or_default();
                // Straight to the descriptor: the test harness's capture dies with the process.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nfuzz: a case ran past {limit:?}: {case}"
                );
                std::process::abort();
            }
        }
    });
}

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Integers that break size arithmetic: zero, one, signed and unsigned extremes, 2^16.
const AWKWARD_WORDS: [u32; 7] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0x1_0000, 0xFF];
const AWKWARD_FLOATS: [f32; 5] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38, -0.0];

/// One to three damages to `bytes`, and what they were.
fn mutate(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    let mut said = Vec::new();
    for _ in 0..1 + rng.below(3) {
        // Headers live at the start: aim there half the time.
        let spot = |rng: &mut Rng, len: usize| {
            if rng.below(2) == 0 {
                rng.below(len.min(64))
            } else {
                rng.below(len)
            }
        };
        match rng.below(9) {
            0 => {
                let at = rng.below(out.len() + 1);
                out.truncate(at);
                said.push(format!("truncated to {at}"));
            }
            1 if !out.is_empty() => {
                for _ in 0..1 + rng.below(8) {
                    let at = spot(rng, out.len());
                    out[at] ^= 1 << rng.below(8);
                }
                said.push("bits flipped".into());
            }
            2 if out.len() >= 4 => {
                let at = spot(rng, out.len() - 3) & !3;
                let word = *rng.pick(&AWKWARD_WORDS);
                let bytes = if rng.below(2) == 0 {
                    word.to_be_bytes()
                } else {
                    word.to_le_bytes()
                };
                out[at..at + 4].copy_from_slice(&bytes);
                said.push(format!("word {word:#x} at {at}"));
            }
            3 if out.len() >= 4 => {
                let at = rng.below(out.len() - 3) & !3;
                let value = *rng.pick(&AWKWARD_FLOATS);
                out[at..at + 4].copy_from_slice(&value.to_le_bytes());
                said.push(format!("float {value} at {at}"));
            }
            4 => {
                let at = rng.below(out.len() + 1);
                let extra: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.next() as u8).collect();
                said.push(format!("{} bytes inserted at {at}", extra.len()));
                out.splice(at..at, extra);
            }
            5 if !out.is_empty() => {
                let at = rng.below(out.len());
                let end = (at + 1 + rng.below(256)).min(out.len());
                out.drain(at..end);
                said.push(format!("bytes {at}..{end} removed"));
            }
            6 => {
                out.clear();
                said.push("emptied".into());
            }
            7 => {
                let copy = out.clone();
                out.extend_from_slice(&copy);
                said.push("doubled".into());
            }
            _ if !out.is_empty() => {
                let at = spot(rng, out.len());
                out[at] = rng.next() as u8;
                said.push(format!("byte {at} replaced"));
            }
            _ => said.push("unchanged".into()),
        }
    }
    (out, said.join(", "))
}

/// Values that a settings file might hold where a small count or a word belongs.
fn awkward_json(rng: &mut Rng) -> serde_json::Value {
    use serde_json::json;
    match rng.below(12) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1e300),
        3 => json!(u64::MAX),
        4 => json!(4_294_967_296u64),
        5 => json!("text"),
        6 => json!(null),
        7 => json!([]),
        8 => json!({}),
        9 => json!(true),
        10 => json!(0.5),
        _ => json!(1_000_000),
    }
}

/// A damaged copy of a JSON document: one value replaced, removed or added (and sometimes
/// bytes damaged as well), and what was done.
fn mutate_json(text: &str, rng: &mut Rng) -> (Vec<u8>, String) {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return mutate(text.as_bytes(), rng);
    };
    let mut said = Vec::new();
    for _ in 0..1 + rng.below(2) {
        said.push(damage_one_value(&mut value, rng));
    }
    let out = serde_json::to_vec_pretty(&value).unwrap();
    if rng.below(5) == 0 {
        let (bytes, how) = mutate(&out, rng);
        said.push(how);
        return (bytes, said.join("; "));
    }
    (out, said.join("; "))
}

fn damage_one_value(value: &mut serde_json::Value, rng: &mut Rng) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) if !map.is_empty() && rng.below(6) != 0 => {
            let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
            match rng.below(8) {
                0 => {
                    map.remove(&key);
                    format!("`{key}` removed")
                }
                1 => {
                    map.insert(format!("{key}_extra"), awkward_json(rng));
                    format!("key added beside `{key}`")
                }
                2 | 3 => {
                    let new = awkward_json(rng);
                    let said = format!("`{key}` = {new}");
                    map.insert(key, new);
                    said
                }
                _ => format!(
                    "{key}.{}",
                    damage_one_value(map.get_mut(&key).unwrap(), rng)
                ),
            }
        }
        Value::Array(items) if !items.is_empty() && rng.below(4) != 0 => match rng.below(4) {
            0 => {
                items.clear();
                "array emptied".into()
            }
            1 => {
                let copy = items[0].clone();
                items.push(copy);
                "array grown".into()
            }
            _ => {
                let i = rng.below(items.len());
                format!("[{i}].{}", damage_one_value(&mut items[i], rng))
            }
        },
        other => {
            let new = awkward_json(rng);
            let said = format!("value {other} -> {new}");
            *other = new;
            said
        }
    }
}

/// Tokens and characters latent expressions are made of.
const EXPRESSION_PIECES: &[&str] = &[
    "0",
    "3",
    "17",
    "0.65",
    "-",
    "+",
    "*",
    "(",
    ")",
    "enc(",
    "prior(",
    "a.png",
    " ",
    "e",
    "1e309",
    "NaN",
    "inf",
    "4294967296",
    "99999999999999999999",
    ",",
    ".",
    "--",
    "**",
    "\u{e9}",
    "\0",
];

fn mutate_expression(valid: &str, rng: &mut Rng) -> String {
    let mut text: Vec<char> = valid.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(text.len() + 1);
        match rng.below(4) {
            0 if at < text.len() => {
                text.remove(at);
            }
            1 => {
                let piece: Vec<char> = rng.pick(EXPRESSION_PIECES).chars().collect();
                text.splice(at..at, piece);
            }
            2 => text.truncate(at),
            _ => {
                let soup: String = (0..1 + rng.below(6))
                    .map(|_| *rng.pick(EXPRESSION_PIECES))
                    .collect();
                text = soup.chars().collect();
            }
        }
    }
    text.into_iter().collect()
}

/// Values given where the command line wants a size, a count, a number or a list.
const AWKWARD_ARGUMENTS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "nan",
    "inf",
    "",
    "abc",
    "2.5",
    "1e3",
    "4294967296",
    "18446744073709551616",
    "65536",
    ",",
    "1,,2",
    "0,0",
    " 3",
    "-0",
];

/// What a case is handed to read: a path it may overwrite.
struct Case<'a> {
    rng: &'a mut Rng,
    dir: &'a Path,
}

/// A parser under test: its name, and a case that damages an input and parses it, returning
/// what it did (for the failure message) and the parser's answer.
type Parser<'a> = (
    &'static str,
    Box<dyn FnMut(&mut Case) -> (String, Result<(), String>) + 'a>,
);

struct Fuzz {
    counts: BTreeMap<&'static str, (usize, usize)>,
    failures: Vec<String>,
}

impl Fuzz {
    /// Runs one case of `parser`, catching a panic; counts (cases, errors).
    fn run(&mut self, parser: &mut Parser, seed: u64, dir: &Path) {
        let (name, case) = parser;
        if std::env::var("PEGASUS_FUZZ_ONLY").is_ok_and(|only| !name.contains(only.as_str())) {
            return;
        }
        let mut rng = Rng(seed | 1);
        *CURRENT.lock().unwrap() = format!("{name}, seed {seed} (PEGASUS_FUZZ_SEED={seed})");
        CASE_STARTED.store(now_ms(), Ordering::SeqCst);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            case(&mut Case { rng: &mut rng, dir })
        }));
        CASE_STARTED.store(0, Ordering::SeqCst);
        let entry = self.counts.entry(name).or_default();
        entry.0 += 1;
        match outcome {
            Ok((_, Ok(()))) => {}
            Ok((how, Err(sentence))) => {
                entry.1 += 1;
                if std::env::var_os("PEGASUS_FUZZ_VERBOSE").is_some() {
                    eprintln!("{name} ({how}): {sentence}");
                }
                if sentence.trim().is_empty() {
                    self.failures
                        .push(format!("{name} ({how}, seed {seed}): an empty error"));
                }
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.failures
                    .push(format!("{name} (seed {seed}): panicked: {message}"));
            }
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pegasus-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Deterministic pixel bytes.
fn pixels(count: usize, salt: usize) -> Vec<u8> {
    (0..count)
        .map(|i| ((i * 7 + salt * 13) % 251) as u8)
        .collect()
}

const IDX_IMAGES: usize = 24;

fn idx_images() -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for n in [IDX_IMAGES as u32, 28, 28] {
        bytes.extend(n.to_be_bytes());
    }
    bytes.extend(pixels(IDX_IMAGES * 28 * 28, 1));
    bytes
}

fn idx_labels() -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend((IDX_IMAGES as u32).to_be_bytes());
    bytes.extend((0..IDX_IMAGES).map(|i| (i % 10) as u8));
    bytes
}

fn cifar_records(count: usize, label_bytes: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..count {
        bytes.extend((0..label_bytes).map(|b| ((i + b) % 10) as u8));
        bytes.extend(pixels(3072, i));
    }
    bytes
}

fn small_image(format: image::ImageFormat, salt: usize) -> Vec<u8> {
    let img = image::RgbImage::from_fn(12, 10, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 25) as u8, (salt * 40) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Loads `spec` as `pegasus data info` would, as an answer.
fn load(spec: &str) -> Result<(), String> {
    Source::parse(spec)
        .and_then(|s| Dataset::load(&s))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The file parsers: data sets and the pure parsers, no GPU.
fn file_parsers(valid: &Path) -> Vec<Parser<'static>> {
    let images = idx_images();
    let labels = idx_labels();
    let mnist = valid.join("mnist");
    let idx = {
        let (images, labels, mnist) = (images.clone(), labels.clone(), mnist.clone());
        move |case: &mut Case, gz: bool| {
            let dir = case.dir.join(if gz { "idx-gz" } else { "idx" });
            let (mut i, mut l) = (images.clone(), labels.clone());
            let target = if case.rng.below(3) == 0 {
                &mut l
            } else {
                &mut i
            };
            let (damaged, how) = mutate(target, case.rng);
            *target = damaged;
            let suffix = if gz { ".gz" } else { "" };
            let (i, l) = if gz { (gzip(&i), gzip(&l)) } else { (i, l) };
            write(&dir.join(format!("train-images-idx3-ubyte{suffix}")), &i);
            write(&dir.join(format!("train-labels-idx1-ubyte{suffix}")), &l);
            let _ = &mnist;
            (how, load(&format!("mnist:{}", dir.display())))
        }
    };
    let idx_plain = idx.clone();
    write(&mnist.join("train-images-idx3-ubyte"), &images);
    write(&mnist.join("train-labels-idx1-ubyte"), &labels);
    let gz_images = gzip(&images);
    let cifar10 = cifar_records(5, 1);
    let cifar100 = cifar_records(4, 2);
    let names100: String = (0..100).map(|i| format!("class{i}\n")).collect();
    let stl_images = pixels(2 * 3 * 96 * 96, 3);
    let stl_labels = vec![1u8, 10];
    let png = small_image(image::ImageFormat::Png, 1);
    let jpeg = small_image(image::ImageFormat::Jpeg, 2);
    let checkpoint = {
        let mut tensors = BTreeMap::new();
        for (name, dims) in [("w", vec![3usize, 4]), ("b", vec![4])] {
            let values: Vec<f32> = (0..dims.iter().product()).map(|i| i as f32 * 0.5).collect();
            tensors.insert(name.to_string(), (dims, values));
        }
        let metadata = BTreeMap::from([("step".to_string(), "12".to_string())]);
        pegasus::io::Checkpoint { tensors, metadata }.to_bytes()
    };
    let expressions = [
        "0.65*enc(a.png) + 0.35*enc(b.png)",
        "3 - 17 + prior(5)",
        "enc(a.png) - enc(b.png) + enc(c.png)",
        "0.5 * (3 + 4)",
        "12",
    ];
    vec![
        (
            "IDX images and labels",
            Box::new(move |case: &mut Case| idx_plain(case, false)),
        ),
        (
            "IDX gzipped (damaged after compression)",
            Box::new(move |case: &mut Case| {
                let dir = case.dir.join("idx-gz-raw");
                let (damaged, how) = mutate(&gz_images, case.rng);
                write(&dir.join("train-images-idx3-ubyte.gz"), &damaged);
                write(&dir.join("train-labels-idx1-ubyte.gz"), &gzip(&labels));
                (how, load(&format!("mnist:{}", dir.display())))
            }),
        ),
        (
            "IDX gzipped (damaged before compression)",
            Box::new(move |case: &mut Case| idx(case, true)),
        ),
        (
            "CIFAR-10 batches",
            Box::new(move |case: &mut Case| {
                let dir = case.dir.join("cifar10");
                let (damaged, how) = mutate(&cifar10, case.rng);
                write(&dir.join("data_batch_1.bin"), &damaged);
                (how, load(&format!("cifar10:{}", dir.display())))
            }),
        ),
        (
            "CIFAR-100 records and class names",
            Box::new(move |case: &mut Case| {
                let dir = case.dir.join("cifar100");
                let (records, names, how) = if case.rng.below(4) == 0 {
                    let (n, how) = mutate(names100.as_bytes(), case.rng);
                    (cifar100.clone(), n, how)
                } else {
                    let (r, how) = mutate(&cifar100, case.rng);
                    (r, names100.as_bytes().to_vec(), how)
                };
                write(&dir.join("train.bin"), &records);
                write(&dir.join("fine_label_names.txt"), &names);
                (how, load(&format!("cifar100:{}", dir.display())))
            }),
        ),
        (
            "STL-10 images and labels",
            Box::new(move |case: &mut Case| {
                let dir = case.dir.join("stl10");
                let (mut x, mut y) = (stl_images.clone(), stl_labels.clone());
                let target = if case.rng.below(2) == 0 {
                    &mut x
                } else {
                    &mut y
                };
                let (damaged, how) = mutate(target, case.rng);
                *target = damaged;
                write(&dir.join("train_X.bin"), &x);
                write(&dir.join("train_y.bin"), &y);
                let split = *case.rng.pick(&["train", "unlabeled"]);
                if split == "unlabeled" {
                    write(&dir.join("unlabeled_X.bin"), &x);
                }
                (how, load(&format!("stl10:{}:{split}", dir.display())))
            }),
        ),
        (
            "image folder (PNG, JPEG)",
            Box::new(move |case: &mut Case| {
                let dir = case.dir.join("folder");
                let _ = std::fs::remove_dir_all(&dir);
                write(&dir.join("cats/a.png"), &png);
                write(&dir.join("dogs/b.jpg"), &jpeg);
                let (name, original) = if case.rng.below(2) == 0 {
                    ("cats/c.png", &png)
                } else {
                    ("dogs/d.jpeg", &jpeg)
                };
                let (damaged, how) = mutate(original, case.rng);
                write(&dir.join(name), &damaged);
                (how, load(&dir.display().to_string()))
            }),
        ),
        (
            "checkpoint bytes (safetensors)",
            Box::new(move |case: &mut Case| {
                let (damaged, how) = mutate(&checkpoint, case.rng);
                let answer = pegasus::io::Checkpoint::from_bytes(&damaged).map(drop);
                (how, answer)
            }),
        ),
        (
            "latent expression",
            Box::new(move |case: &mut Case| {
                let text = {
                    let start = case.rng.pick(&expressions).to_string();
                    mutate_expression(&start, case.rng)
                };
                let answer = pegasus::latent::expr::parse(&text).map(drop);
                (format!("`{text}`"), answer)
            }),
        ),
    ]
}

/// The tiny runs the GPU cases damage, trained once.
struct Runs {
    gpu: Arc<Gpu>,
    root: PathBuf,
    data: String,
    clusters: PathBuf,
}

/// Runs a command in-process; the case's description first names it, for the watchdog.
fn pegasus_on(gpu: &Arc<Gpu>, args: &[&str]) -> Result<(), String> {
    if let Ok(mut case) = CURRENT.lock() {
        case.push_str(&format!(": {args:?}"));
    }
    let mut full = vec!["pegasus"];
    full.extend_from_slice(args);
    pegasus::cli::run_on(gpu, &full).map_err(|e| format!("{e:#}"))
}

fn train_runs(gpu: Arc<Gpu>, root: &Path) -> Runs {
    let data_dir = root.join("mnist");
    let mut images = vec![0, 0, 8, 3];
    for n in [200u32, 28, 28] {
        images.extend(n.to_be_bytes());
    }
    images.extend(pixels(200 * 784, 5));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend(200u32.to_be_bytes());
    labels.extend((0..200).map(|i| (i % 10) as u8));
    write(&data_dir.join("train-images-idx3-ubyte"), &images);
    write(&data_dir.join("train-labels-idx1-ubyte"), &labels);
    let data = format!("mnist:{}", data_dir.display());
    let runs = root.join("runs");
    let runs_s = runs.display().to_string();
    let common = [
        "--data",
        &data,
        "--runs",
        &runs_s,
        "--steps",
        "2",
        "--log-every",
        "1",
    ];
    let models: [&[&str]; 5] = [
        &[
            "train", "glo", "--nz", "4", "--ngf", "4", "--batch", "8", "--run", "glo",
        ],
        &[
            "train", "vae", "--nz", "4", "--nf", "4", "--batch", "8", "--run", "vae",
        ],
        &[
            "train", "vaegan", "--nz", "4", "--nf", "2", "--batch", "8", "--run", "vaegan",
        ],
        &[
            "train",
            "cppn",
            "--nz",
            "4",
            "--width",
            "4",
            "--depth",
            "2",
            "--q-width",
            "8",
            "--df",
            "2",
            "--batch",
            "8",
            "--run",
            "cppn",
        ],
        &["train", "features", "--batch", "8", "--run", "features"],
    ];
    for model in models {
        pegasus_on(&gpu, &[model, &common[..]].concat()).unwrap();
    }
    let glo = runs.join("glo").display().to_string();
    for beside in ["glann", "encoder"] {
        pegasus_on(
            &gpu,
            &[
                "train",
                beside,
                "--run",
                &glo,
                "--steps",
                "2",
                "--log-every",
                "1",
            ],
        )
        .unwrap();
    }
    let clusters_dir = root.join("clusters");
    let clusters_s = clusters_dir.display().to_string();
    pegasus_on(
        &gpu,
        &[
            "data",
            "cluster",
            "--data",
            &data,
            "--k",
            "3",
            "--pca",
            "4",
            "--out",
            &clusters_s,
        ],
    )
    .unwrap();
    Runs {
        gpu,
        root: runs,
        data,
        clusters: clusters_dir.join("clusters.json"),
    }
}

/// Copies a run folder (and the folders inside it) to `to`, replacing what was there.
fn copy_run(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_run(&path, &target);
        } else if path
            .extension()
            .is_some_and(|e| e == "json" || e == "safetensors")
        {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// What explores or resumes a damaged run of each kind: (kind, file inside the run, command).
fn run_commands(kind: &str) -> (&'static str, Vec<&'static str>) {
    match kind {
        "glann" => ("glann/", vec!["sample", "--n", "2", "--prior", "glann"]),
        "encoder" => (
            "encoder/",
            vec!["interpolate", "--from", "0", "--to", "1", "--steps", "2"],
        ),
        // --steps 2: the run's own length, whatever the damaged settings say.
        "features" => ("", vec!["train", "features", "--resume", "--steps", "2"]),
        _ => ("", vec!["sample", "--n", "2"]),
    }
}

/// The parsers behind a trained run: config.json and checkpoints of every kind, clusters.json,
/// latent expressions through a run, and command-line values.
fn run_parsers(runs: &Runs) -> Vec<Parser<'_>> {
    let mut parsers: Vec<Parser> = Vec::new();
    for kind in [
        "glo", "vae", "vaegan", "cppn", "features", "glann", "encoder",
    ] {
        let (inside, command) = run_commands(kind);
        let home = if inside.is_empty() { kind } else { "glo" };
        let source = runs.root.join(home);
        for file in ["config.json", "checkpoint.safetensors"] {
            let name: &'static str = Box::leak(format!("{kind} run {file}").into_boxed_str());
            let original = std::fs::read(source.join(inside).join(file)).unwrap();
            let (source, command) = (source.clone(), command.clone());
            parsers.push((
                name,
                Box::new(move |case: &mut Case| {
                    let copy = case.dir.join("run");
                    copy_run(&source, &copy);
                    let (damaged, how) = if file == "config.json" {
                        mutate_json(&String::from_utf8_lossy(&original), case.rng)
                    } else {
                        mutate(&original, case.rng)
                    };
                    write(&copy.join(inside).join(file), &damaged);
                    if let Ok(mut case) = CURRENT.lock() {
                        case.push_str(&format!(" ({how})"));
                    }
                    let copy_s = copy.display().to_string();
                    let out = case.dir.join("out.png").display().to_string();
                    let mut args = command.clone();
                    if args[0] == "train" {
                        args.extend(["--runs", copy.parent().unwrap().to_str().unwrap()]);
                        args.extend(["--run", "run"]);
                    } else {
                        args.extend(["--run", &copy_s]);
                        args.extend(["--out", &out]);
                    }
                    (how, pegasus_on(&runs.gpu, &args))
                }),
            ));
        }
    }
    let clusters = std::fs::read_to_string(&runs.clusters).unwrap();
    let data = runs.data.clone();
    parsers.push((
        "clusters.json",
        Box::new(move |case: &mut Case| {
            let path = case.dir.join("clusters.json");
            let (damaged, how) = mutate_json(&clusters, case.rng);
            write(&path, &damaged);
            let selection = DataSelection {
                data: data.clone(),
                classes: Vec::new(),
                clusters: Some(path),
                cluster: vec![case.rng.below(4)],
                representatives: [None, Some(2), Some(0)][case.rng.below(3)],
                image_size: None,
                grey: false,
                limit: None,
            };
            (how, selection.load().map(drop).map_err(|e| e.to_string()))
        }),
    ));
    let glo = runs.root.join("glo").display().to_string();
    let glo_for_expressions = glo.clone();
    parsers.push((
        "latent expression through a run",
        Box::new(move |case: &mut Case| {
            let valid = ["3 + 0.5*(7 - 2)", "prior(4) - 12", "0.65*0 + 0.35*1"];
            let text = {
                let start = case.rng.pick(&valid).to_string();
                mutate_expression(&start, case.rng)
            };
            let out = case.dir.join("frames.png").display().to_string();
            let args = [
                "interpolate",
                "--run",
                &glo_for_expressions,
                "--from",
                &text,
                "--to",
                "1",
                "--steps",
                "2",
                "--out",
                &out,
            ];
            (format!("`{text}`"), pegasus_on(&runs.gpu, &args))
        }),
    ));
    let data = runs.data.clone();
    let cppn = runs.root.join("cppn").display().to_string();
    parsers.push((
        "command-line sizes and lists",
        Box::new(move |case: &mut Case| {
            let v = |rng: &mut Rng| rng.pick(AWKWARD_ARGUMENTS).to_string();
            let (a, b) = (v(case.rng), v(case.rng));
            let runs_dir = case.dir.join("cli-runs").display().to_string();
            let _ = std::fs::remove_dir_all(&runs_dir);
            let out = case.dir.join("cli.png").display().to_string();
            // `--flag=value`, so a value such as -1 is not taken for a flag.
            let set = |flag: &str, value: &str| format!("--{flag}={value}");
            let train = |flag: &str, value: &str| -> Vec<String> {
                let mut args: Vec<String> = ["train", "glo", "--data", &data, "--steps", "1"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for (name, default) in [("nz", "4"), ("ngf", "4"), ("batch", "4")] {
                    if name != flag {
                        args.push(set(name, default));
                    }
                }
                args.extend([set("runs", &runs_dir), set(flag, value)]);
                args
            };
            let owned =
                |args: &[&str]| -> Vec<String> { args.iter().map(|s| s.to_string()).collect() };
            let c_json = case.dir.join("c.json").display().to_string();
            let args: Vec<String> = match case.rng.below(12) {
                0 => owned(&[
                    "data",
                    "info",
                    "--data",
                    &data,
                    &set("limit", &a),
                    &set("image-size", &b),
                ]),
                1 => owned(&[
                    "data",
                    "info",
                    "--data",
                    &data,
                    &set("classes", &a),
                    &set("limit", &b),
                ]),
                2 => owned(&[
                    "sample",
                    "--run",
                    &glo,
                    &set("n", &a),
                    &set("temperature", &b),
                    "--out",
                    &out,
                ]),
                3 => owned(&[
                    "interpolate",
                    "--run",
                    &glo,
                    &set("from", &a),
                    "--to",
                    "1",
                    &set("steps", &b),
                    "--out",
                    &out,
                ]),
                4 => owned(&[
                    "interpolate",
                    "--run",
                    &glo,
                    "--from",
                    "0",
                    "--to",
                    "1",
                    &set("weights", &a),
                    &set("blocks", &b),
                    "--out",
                    &out,
                ]),
                5 => owned(&[
                    "hybrid",
                    "--run",
                    &glo,
                    &set("a", &a),
                    "--b",
                    "1",
                    &set("weights", &b),
                    "--out",
                    &out,
                ]),
                6 => owned(&[
                    "render",
                    "--run",
                    &cppn,
                    &set("width", &a),
                    &set("height", &b),
                    "--out",
                    &out,
                ]),
                7 => train("nz", &a),
                8 => train("batch", &a),
                9 => train("image-size", &a),
                10 => train("holdout-every", &a),
                _ => owned(&[
                    "data",
                    "cluster",
                    "--data",
                    &data,
                    &set("k", &a),
                    &set("pca", &b),
                    "--out",
                    &c_json,
                ]),
            };
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            (format!("{args:?}"), pegasus_on(&runs.gpu, &refs))
        }),
    ));
    parsers
}

/// The damaged settings this suite found to panic or hang, each refused with a sentence now.
fn regressions(runs: &Runs, work: &Path) {
    let cases = [
        // The element count overflowed 64 bits and a kernel grid assertion fired.
        (
            "vaegan",
            "nf",
            serde_json::json!(4_294_967_296u64),
            "nf = 4294967296",
        ),
        // A million layers were being built.
        (
            "cppn",
            "depth",
            serde_json::json!(1_000_000),
            "depth = 1000000",
        ),
    ];
    for (kind, key, value, says) in cases {
        let copy = work.join("regression");
        copy_run(&runs.root.join(kind), &copy);
        let path = copy.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config[kind][key] = value;
        write(&path, &serde_json::to_vec_pretty(&config).unwrap());
        let answer = pegasus_on(
            &runs.gpu,
            &["sample", "--run", copy.to_str().unwrap(), "--n", "2"],
        );
        let error = answer.expect_err("damaged sizes must be refused");
        assert!(
            error.contains(says) && error.contains("edited or damaged"),
            "{error}"
        );
    }
}

/// Runs `file_cases` cases spread over the file parsers and `run_cases` over the run parsers,
/// prints the count per parser, and fails listing every case that panicked.
fn fuzz(file_cases: usize, run_cases: usize) {
    start_watchdog(Duration::from_secs(60));
    let seed0 = std::env::var("PEGASUS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let valid = scratch("valid");
    let work = scratch("work");
    let started = Instant::now();
    let mut fuzz = Fuzz {
        counts: BTreeMap::new(),
        failures: Vec::new(),
    };
    let mut seeds = Rng(seed0.unwrap_or(0x5eed));
    let mut next_seed = |i: usize| seed0.unwrap_or_else(|| seeds.next() ^ i as u64);
    let mut parsers = file_parsers(&valid);
    let per = file_cases.div_ceil(parsers.len());
    for parser in &mut parsers {
        for i in 0..per {
            fuzz.run(parser, next_seed(i), &work);
        }
    }
    let file_seconds = started.elapsed().as_secs_f64();
    let gpu = Gpu::new(&pegasus::AdapterChoice::default())
        .unwrap_or_else(|e| panic!("the run parsers need a GPU adapter: {e}"));
    let runs_dir = scratch("runs");
    let runs = train_runs(gpu, &runs_dir);
    let trained = started.elapsed().as_secs_f64();
    let mut parsers = run_parsers(&runs);
    let per = run_cases.div_ceil(parsers.len());
    for parser in &mut parsers {
        for i in 0..per {
            fuzz.run(parser, next_seed(i), &work);
        }
    }
    regressions(&runs, &work);
    let total: usize = fuzz.counts.values().map(|c| c.0).sum();
    eprintln!(
        "{total} cases in {:.1} s (file parsers {file_seconds:.1} s, training the runs {:.1} s):",
        started.elapsed().as_secs_f64(),
        trained - file_seconds
    );
    for (name, (cases, errors)) in &fuzz.counts {
        eprintln!("  {name:<45} {cases:>7} cases, {errors:>7} answered with an error");
    }
    let _ = std::fs::remove_dir_all(&valid);
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&runs_dir);
    assert!(
        fuzz.failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        fuzz.failures.len(),
        fuzz.failures.join("\n")
    );
}

#[test]
fn damaged_inputs_get_an_answer_never_a_panic() {
    fuzz(20_000, 1_000);
}

#[test]
#[ignore = "the long run: 100,000 cases, about a minute"]
fn fuzz_long() {
    let total: usize = std::env::var("PEGASUS_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    fuzz(total * 9 / 10, total / 10);
}
