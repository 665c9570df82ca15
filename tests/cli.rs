//! The binary as a user runs it: a tiny GLO trained, resumed and explored through every
//! command, and bad input answered with an error sentence (exit status 1), never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder for one test's runs.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pegasus-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pegasus(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pegasus"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the pegasus binary runs")
}

#[track_caller]
fn succeeds(dir: &Path, args: &[&str]) -> String {
    let out = pegasus(dir, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pegasus {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Runs a command that must be refused and returns its error sentence.
#[track_caller]
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = pegasus(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "pegasus {args:?} should fail with an error, not exit {:?}:\n{stderr}",
        out.status.code()
    );
    assert!(
        !stderr.contains("panicked"),
        "pegasus {args:?} panicked:\n{stderr}"
    );
    let line = stderr.lines().find(|l| l.starts_with("error: "));
    line.unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
        .to_string()
}

/// Width and height from a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn metrics_steps(run: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,loss,psnr_db,images_per_second,elapsed_seconds"
    );
    lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            let psnr: f64 = fields[2].parse().unwrap();
            assert!(psnr.is_finite() && psnr > 0.0, "PSNR {psnr} in `{l}`");
            fields[0].parse().unwrap()
        })
        .collect()
}

/// The tiny GLO of these tests, without its schedule.
const GLO_MODEL: &[&str] = &[
    "train",
    "glo",
    "--classes",
    "1,7",
    "--limit",
    "2000",
    "--nz",
    "8",
    "--ngf",
    "8",
    "--batch",
    "32",
];

const TINY: &[&str] = &[
    "train",
    "glo",
    "--classes",
    "1,7",
    "--limit",
    "2000",
    "--nz",
    "8",
    "--ngf",
    "8",
    "--batch",
    "32",
    "--log-every",
    "4",
    "--image-every",
    "8",
    "--checkpoint-every",
    "8",
];

#[test]
fn train_resume_sample_interpolate_and_hybrid() {
    let dir = scratch("flow");
    let first = [TINY, &["--steps", "8", "--run", "tiny"]].concat();
    let said = succeeds(&dir, &first);
    assert!(said.contains("reconstruction PSNR"), "{said}");
    let run = dir.join("runs/tiny");
    for picture in [
        "reconstructions.png",
        "samples.png",
        "interpolation.png",
        "loss.png",
    ] {
        png_size(&run.join(picture));
    }
    assert_eq!(metrics_steps(&run), [4, 8]);

    // The run as the exploring commands name it, its folder under runs/, is the same run.
    succeeds(
        &dir,
        &[
            "train",
            "glo",
            "--run",
            "runs/tiny",
            "--resume",
            "--steps",
            "12",
        ],
    );
    assert_eq!(metrics_steps(&run), [4, 8, 12]);
    explore_every_way(&dir, "tiny", "1500");
    let _ = std::fs::remove_dir_all(&dir);
}

/// sample, interpolate (by index: a path, mixes and swaps; from an image file) and hybrid
/// on `runs/RUN`, whose training images include 1s from index 0 and 7s at index `seven`.
fn explore_every_way(dir: &Path, run: &str, seven: &str) {
    let run_arg = format!("runs/{run}");
    let folder = dir.join(&run_arg);
    let said = succeeds(
        dir,
        &[
            "sample",
            "--run",
            &run_arg,
            "--n",
            "6",
            "--temperature",
            "0.8",
            "--out",
            "six.png",
        ],
    );
    assert!(said.contains("6 samples"), "{said}");
    let (w, h) = png_size(&dir.join("six.png"));
    assert!(
        w >= 6 * 28 && h >= 28,
        "a grid of six 28x28 samples is {w}x{h}"
    );

    let frames = [
        "--run", &run_arg, "--from", "0", "--to", seven, "--steps", "5",
    ];
    succeeds(
        dir,
        &[&["interpolate"], &frames[..], &["--out", "path.png"]].concat(),
    );
    let (w, _) = png_size(&dir.join("path.png"));
    assert!(w >= 5 * 28, "five frames in a {w} pixel row");
    for (extra, kind) in [
        (&["--mode", "lerp"][..], "lerp"),
        (&["--weights", "0.65"], "mix"),
        (&["--mode", "swap"], "swap"),
    ] {
        succeeds(dir, &[&["interpolate"], &frames[..], extra].concat());
        png_size(&folder.join(format!("interpolate_0_{seven}_{kind}.png")));
    }
    // An image file: through the encoder, or for GLO by optimising its latent.
    std::fs::copy(folder.join("samples.png"), dir.join("digit.png")).unwrap();
    let from_file = [
        "interpolate",
        "--run",
        &run_arg,
        "--from",
        "digit.png",
        "--to",
        "3",
        "--encode-steps",
        "20",
        "--out",
        "from-file.png",
    ];
    succeeds(dir, &from_file);
    png_size(&dir.join("from-file.png"));

    let hybrid = [
        "hybrid",
        "--run",
        &run_arg,
        "--a",
        "1",
        "--b",
        "7",
        "--candidates",
        "2",
    ];
    let ranking = succeeds(dir, &hybrid);
    assert!(ranking.contains("rank"), "{ranking}");
    png_size(&folder.join("hybrids_1_7.png"));
    let faithful = [
        &hybrid[..],
        &["--pick", "faithful", "--out", "faithful.png"],
    ]
    .concat();
    let ranking = succeeds(dir, &faithful);
    assert!(ranking.contains("rank"), "{ranking}");
    png_size(&dir.join("faithful.png"));
}

#[test]
fn bad_input_is_refused_with_a_sentence() {
    let dir = scratch("bad");
    let tiny = [TINY, &["--steps", "4", "--run", "kept"]].concat();
    succeeds(&dir, &tiny);
    let checkpoint = dir.join("runs/kept/checkpoint.safetensors");
    let saved = std::fs::read(&checkpoint).unwrap();
    for (args, says) in [
        (
            vec!["train", "glo", "--data", "no/such/folder"],
            "not a data source",
        ),
        (vec!["train", "glo", "--batch", "0"], "--batch"),
        (
            vec!["train", "glo", "--lap-weights", "1,2"],
            "--lap-weights",
        ),
        (
            vec!["train", "glo", "--run", "kept", "--steps", "9"],
            "--resume",
        ),
        (vec!["sample", "--run", "runs/none"], "run folder"),
        (
            vec![
                "interpolate",
                "--run",
                "runs/kept",
                "--from",
                "99999",
                "--to",
                "3",
            ],
            "does not exist",
        ),
        (
            vec![
                "interpolate",
                "--run",
                "runs/kept",
                "--from",
                "a.png",
                "--to",
                "3",
            ],
            "neither",
        ),
        (
            vec![
                "hybrid",
                "--run",
                "runs/kept",
                "--a",
                "cluster:1",
                "--b",
                "7",
            ],
            "cluster",
        ),
        (
            vec!["hybrid", "--run", "runs/kept", "--a", "horse", "--b", "7"],
            "no class `horse`",
        ),
    ] {
        let error = refused(&dir, &args);
        assert!(error.contains(says), "pegasus {args:?} said `{error}`");
    }
    assert_eq!(
        std::fs::read(&checkpoint).unwrap(),
        saved,
        "a refused command changed the saved checkpoint"
    );

    std::fs::write(&checkpoint, &saved[..saved.len() / 3]).unwrap();
    let error = refused(&dir, &["sample", "--run", "runs/kept"]);
    assert!(error.contains("checkpoint"), "{error}");
    let error = refused(&dir, &["train", "glo", "--run", "kept", "--resume"]);
    assert!(error.contains("checkpoint"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny VAE on 1s and 7s (the first 1,400: 1,127 ones, 273 sevens).
const VAE_MODEL: &[&str] = &[
    "train",
    "vae",
    "--classes",
    "1,7",
    "--limit",
    "1400",
    "--nz",
    "4",
    "--nf",
    "4",
    "--batch",
    "16",
];
const VAE_SCHEDULE: &[&str] = &[
    "--log-every",
    "2",
    "--image-every",
    "4",
    "--checkpoint-every",
    "4",
];

/// Every row of metrics.csv without its two timing columns.
fn metrics_without_timing(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            fields[..fields.len() - 2].join(",")
        })
        .collect()
}

fn checkpoint_tensors(run: &Path) -> pegasus::io::Checkpoint {
    pegasus::io::Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap()
}

/// Trains `model` for `steps` as runs/straight and as runs/split stopped halfway and resumed;
/// both must end with the same metrics, tensors (weights and every optimiser's moments) and
/// counters. Returns straight's metrics rows and what its training printed.
fn resumes_exactly(dir: &Path, model: &[&str], steps: usize) -> (Vec<String>, String) {
    let kind = model[1];
    let (all, half) = (steps.to_string(), (steps / 2).to_string());
    let said = succeeds(
        dir,
        &[model, VAE_SCHEDULE, &["--steps", &all, "--run", "straight"]].concat(),
    );
    succeeds(
        dir,
        &[model, VAE_SCHEDULE, &["--steps", &half, "--run", "split"]].concat(),
    );
    succeeds(
        dir,
        &["train", kind, "--run", "split", "--resume", "--steps", &all],
    );
    let (straight, split) = (dir.join("runs/straight"), dir.join("runs/split"));
    let rows = metrics_without_timing(&straight);
    assert_eq!(
        metrics_without_timing(&split),
        rows,
        "{kind}: metrics after a resume"
    );
    let (a, b) = (checkpoint_tensors(&straight), checkpoint_tensors(&split));
    assert_eq!(
        a.tensors, b.tensors,
        "{kind}: weights and optimisers after a resume"
    );
    assert_eq!(a.metadata, b.metadata, "{kind}: counters after a resume");
    (rows, said)
}

#[test]
fn vae_trains_resumes_exactly_and_is_explored_by_every_command() {
    let dir = scratch("vae");
    let (rows, said) = resumes_exactly(&dir, VAE_MODEL, 8);
    assert!(said.contains("held-out reconstruction"), "{said}");
    let straight = dir.join("runs/straight");
    for picture in [
        "reconstructions.png",
        "heldout_reconstructions.png",
        "samples.png",
        "interpolation.png",
        "loss.png",
    ] {
        png_size(&straight.join(picture));
    }
    assert_eq!(
        rows[0], "step,loss,ssim_loss,colour,kl,psnr_db,heldout_psnr_db",
        "one column per named scalar"
    );
    assert_eq!(rows.len(), 5, "rows at steps 2, 4, 6, 8: {rows:?}");

    explore_every_way(&dir, "straight", "1200");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_diverging_vae_stops_with_a_sentence_and_a_loadable_checkpoint() {
    let dir = scratch("nan");
    let args = [
        VAE_MODEL,
        &[
            "--lr",
            "1e30",
            "--log-every",
            "1",
            "--checkpoint-every",
            "2",
            "--steps",
            "40",
            "--run",
            "wild",
        ],
    ]
    .concat();
    let error = refused(&dir, &args);
    for says in [
        "training stopped at step",
        "became",
        "--lr",
        "last good checkpoint",
    ] {
        assert!(error.contains(says), "`{says}` missing from: {error}");
    }
    let run = dir.join("runs/wild");
    let saved = checkpoint_tensors(&run);
    for (name, (_, values)) in &saved.tensors {
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{name} holds a value that is not finite"
        );
    }
    succeeds(&dir, &["sample", "--run", "runs/wild", "--n", "4"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_killed_before_its_first_checkpoint_can_be_started_again_or_resumed() {
    let dir = scratch("killed");
    for (name, then) in [("again", &[][..]), ("resumed", &["--resume"][..])] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pegasus"))
            .args([VAE_MODEL, VAE_SCHEDULE, &["--steps", "400", "--run", name]].concat())
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let run = dir.join("runs").join(name);
        while !run.join("config.json").exists() {
            assert!(child.try_wait().unwrap().is_none(), "training ended early");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL: no handler runs
        child.wait().unwrap();
        // What a kill a moment earlier leaves: settings, no checkpoint.
        let _ = std::fs::remove_file(run.join("checkpoint.safetensors"));
        let said = succeeds(
            &dir,
            &[
                VAE_MODEL,
                VAE_SCHEDULE,
                &["--steps", "4", "--run", name],
                then,
            ]
            .concat(),
        );
        assert!(said.contains("finished at step 4 of 4"), "{said}");
        png_size(&run.join("loss.png"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runs_of_another_kind_damaged_or_resized_are_refused_and_left_alone() {
    let dir = scratch("kinds");
    succeeds(&dir, &[TINY, &["--steps", "4", "--run", "glo"]].concat());
    succeeds(
        &dir,
        &[VAE_MODEL, VAE_SCHEDULE, &["--steps", "4", "--run", "vae"]].concat(),
    );
    let kept: Vec<(PathBuf, Vec<u8>)> = ["glo", "vae"]
        .iter()
        .flat_map(|r| {
            ["checkpoint.safetensors", "metrics.csv", "config.json"]
                .map(|f| dir.join("runs").join(r).join(f))
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    for (args, says) in [
        (
            vec!["train", "vae", "--run", "glo", "--resume"],
            "is a glo run",
        ),
        (
            vec!["train", "glo", "--run", "vae", "--resume"],
            "is a vae run",
        ),
        (vec!["train", "vae", "--image-size", "8"], "--image-size"),
        (
            vec!["train", "vae", "--holdout-every", "1"],
            "--holdout-every",
        ),
        (
            vec!["sample", "--run", "runs/vae", "--temperature", "0"],
            "--temperature",
        ),
    ] {
        let error = refused(&dir, &args);
        assert!(error.contains(says), "pegasus {args:?} said `{error}`");
    }
    for (path, bytes) in &kept {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }

    // A copy of the VAE run whose config names a kind pegasus cannot explore, one whose
    // latent size no longer matches its checkpoint, and one with a damaged checkpoint.
    let copy = |name: &str, edit: &dyn Fn(&str) -> String, damage: bool| {
        let to = dir.join("runs").join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in ["checkpoint.safetensors", "config.json", "metrics.csv"] {
            std::fs::copy(dir.join("runs/vae").join(f), to.join(f)).unwrap();
        }
        let config = std::fs::read_to_string(to.join("config.json")).unwrap();
        std::fs::write(to.join("config.json"), edit(&config)).unwrap();
        if damage {
            let bytes = std::fs::read(to.join("checkpoint.safetensors")).unwrap();
            std::fs::write(to.join("checkpoint.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
        }
        to
    };
    let other = copy(
        "other",
        &|c| c.replace("\"model\": \"vae\"", "\"model\": \"diffusion\""),
        false,
    );
    let resized = copy("resized", &|c| c.replace("\"nz\": 4", "\"nz\": 5"), false);
    let damaged = copy("damaged", &|c| c.to_string(), true);
    for (run, says) in [
        (&other, "holds a `diffusion` run"),
        (&resized, "shape"),
        (&damaged, "checkpoint"),
    ] {
        let before = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
        let shown = run.to_string_lossy().into_owned();
        let error = refused(&dir, &["sample", "--run", &shown]);
        assert!(error.contains(says), "sample on {shown} said `{error}`");
        let error = refused(
            &dir,
            &["interpolate", "--run", &shown, "--from", "0", "--to", "1"],
        );
        assert!(
            error.contains(says),
            "interpolate on {shown} said `{error}`"
        );
        assert_eq!(
            std::fs::read(run.join("checkpoint.safetensors")).unwrap(),
            before
        );
    }
    let error = refused(&dir, &["train", "vae", "--run", "resized", "--resume"]);
    assert!(error.contains("shape"), "{error}");
    let error = refused(&dir, &["train", "vae", "--run", "damaged", "--resume"]);
    assert!(error.contains("checkpoint"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny VAE-GAN on the same 1s and 7s.
const VAEGAN_MODEL: &[&str] = &[
    "train",
    "vaegan",
    "--classes",
    "1,7",
    "--limit",
    "1400",
    "--nz",
    "4",
    "--nf",
    "2",
    "--batch",
    "8",
];

#[test]
fn vaegan_trains_resumes_all_three_optimisers_exactly_and_is_explored() {
    let dir = scratch("vaegan");
    let (rows, said) = resumes_exactly(&dir, VAEGAN_MODEL, 8);
    for says in [
        "held-out reconstruction",
        "diversity",
        "saturated samples",
        "balance guard",
    ] {
        assert!(said.contains(says), "`{says}` missing from:\n{said}");
    }
    assert_eq!(
        rows[0],
        "step,kl,llike,g_loss,d_loss,d_real,d_recon,d_prior,saturated,psnr_db,heldout_psnr_db"
    );
    png_size(&dir.join("runs/straight/loss.png"));
    assert!(
        checkpoint_tensors(&dir.join("runs/straight"))
            .tensors
            .keys()
            .any(|k| k.starts_with("optim.discriminator.")),
        "the discriminator's optimiser is saved"
    );

    explore_every_way(&dir, "straight", "1200");
    for (args, says) in [
        (vec!["train", "vaegan", "--dis-layer", "9"], "--dis-layer 9"),
        (vec!["train", "vaegan", "--batch", "1"], "--batch"),
        (vec!["train", "vaegan", "--pixel=-1"], "--pixel"),
        (
            vec!["train", "vaegan", "--saturation-penalty=-1"],
            "--saturation-penalty",
        ),
        (vec!["train", "vaegan", "--run", "straight"], "--resume"),
        (
            vec!["train", "vae", "--run", "straight", "--resume"],
            "is a vaegan run",
        ),
    ] {
        let error = refused(&dir, &args);
        assert!(error.contains(says), "pegasus {args:?} said `{error}`");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny CPPN on the same 1s and 7s.
const CPPN_MODEL: &[&str] = &[
    "train",
    "cppn",
    "--classes",
    "1,7",
    "--limit",
    "1400",
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
    "--vae-steps",
    "1",
    "--g-steps",
    "1",
];

/// Frames of a GIF, counted by walking its blocks; every frame's data must end where the
/// format says.
fn gif_frames(path: &Path) -> (usize, usize, usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"GIF89a", "{} is not a GIF", path.display());
    let le = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let skip_blocks = |mut at: usize| {
        while bytes[at] != 0 {
            at += 1 + usize::from(bytes[at]);
        }
        at + 1
    };
    let mut at = 13 + 3 * (2 << (bytes[10] & 7));
    let mut frames = 0;
    loop {
        match bytes[at] {
            0x3b => return (le(6), le(8), frames),
            0x21 => at = skip_blocks(at + 2),
            0x2c => {
                frames += 1;
                at = skip_blocks(at + 11);
            }
            other => panic!("{}: block {other:#x} at {at}", path.display()),
        }
    }
}

/// The largest buffer a kernel can bind on the adapter pegasus uses, as `pegasus devices`
/// reports it.
fn largest_binding(dir: &Path) -> u64 {
    let listing = succeeds(dir, &["devices"]);
    let lines: Vec<&str> = listing.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with("* ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no adapter marked * in:\n{listing}"));
    let chosen = lines[first..first + 3].join("\n");
    let mib = |what: &str| -> u64 {
        let after = chosen
            .split(what)
            .nth(1)
            .unwrap_or_else(|| panic!("no `{what}` in:\n{chosen}"));
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    mib("max storage binding ").min(mib("max buffer ")) << 20
}

#[test]
fn cppn_trains_resumes_renders_in_tiles_encodes_and_morphs() {
    let dir = scratch("cppn");
    let (rows, said) = resumes_exactly(&dir, CPPN_MODEL, 8);
    for says in ["held-out reconstruction", "the discriminator updated on"] {
        assert!(said.contains(says), "`{says}` missing from:\n{said}");
    }
    assert_eq!(
        rows[0],
        "step,vae_loss,g_loss,d_loss,d_real,d_fake,psnr_db,heldout_psnr_db"
    );

    // A render whose packed pixels pass the largest binding: drawn in tiles, streamed out.
    let side = ((largest_binding(&dir) / 4) as f64).sqrt() as usize + 1;
    let side_arg = side.to_string();
    let said = succeeds(
        &dir,
        &[
            "render",
            "--run",
            "runs/straight",
            "--width",
            &side_arg,
            "--height",
            &side_arg,
            "--out",
            "big.png",
        ],
    );
    assert!(said.contains("Mpx/s"), "{said}");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(dir.join("big.png")).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut rows_read = 0;
    while let Some(row) = reader.next_row().unwrap() {
        assert_eq!(row.data().len(), side, "a grey row of {side}");
        rows_read += 1;
    }
    assert_eq!(rows_read, side, "every row of the {side} x {side} render");

    // encode, arithmetic, morph.
    succeeds(
        &dir,
        &[
            "render",
            "--run",
            "runs/straight",
            "--width",
            "28",
            "--height",
            "28",
            "--out",
            "digit.png",
        ],
    );
    let said = succeeds(&dir, &["encode", "--run", "runs/straight", "digit.png"]);
    let values = said
        .lines()
        .find(|l| l.starts_with("digit.png: "))
        .unwrap_or_else(|| panic!("no latent in:\n{said}"))
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<f32>().unwrap())
        .collect::<Vec<f32>>()
        .len();
    assert_eq!(values, 4, "a latent of --nz values");
    succeeds(
        &dir,
        &[
            "render",
            "--run",
            "runs/straight",
            "--z",
            "enc(digit.png) - 0.5*train(3) + seed(2)",
            "--width",
            "40",
            "--height",
            "30",
            "--out",
            "sum.png",
        ],
    );
    assert_eq!(png_size(&dir.join("sum.png")), (40, 30));
    // A file name with a space and a minus sign is a file, not arithmetic.
    std::fs::copy(dir.join("digit.png"), dir.join("my digit - copy.png")).unwrap();
    succeeds(
        &dir,
        &[
            "render",
            "--run",
            "runs/straight",
            "--z",
            "my digit - copy.png",
            "--width",
            "10",
            "--height",
            "10",
            "--out",
            "copy.png",
        ],
    );
    succeeds(
        &dir,
        &[
            "morph",
            "--run",
            "runs/straight",
            "0",
            "1200",
            "seed(3)",
            "--frames",
            "4",
            "--width",
            "24",
            "--height",
            "16",
            "--gif",
            "m.gif",
        ],
    );
    assert_eq!(
        gif_frames(&dir.join("m.gif")),
        (24, 16, 12),
        "3 keys x 4 frames"
    );

    for (args, says) in [
        (
            vec!["render", "--run", "runs/straight", "--width", "0"],
            "--width",
        ),
        (
            vec!["render", "--run", "runs/straight", "--z", "enc(a.png) +"],
            "operator",
        ),
        (
            vec!["render", "--run", "runs/straight", "--z", "train(99999)"],
            "does not exist",
        ),
        (
            vec!["train", "cppn", "--curriculum", "2,40"],
            "--curriculum",
        ),
        (vec!["train", "cppn", "--width", "300"], "--width 300"),
        (
            vec!["morph", "--run", "runs/straight", "0", "1", "--frames", "0"],
            "--frames",
        ),
    ] {
        let error = refused(&dir, &args);
        assert!(error.contains(says), "pegasus {args:?} said `{error}`");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn render_refuses_runs_that_are_not_cppn_runs() {
    let dir = scratch("render-kind");
    succeeds(
        &dir,
        &[VAE_MODEL, VAE_SCHEDULE, &["--steps", "2", "--run", "vae"]].concat(),
    );
    let error = refused(&dir, &["render", "--run", "runs/vae"]);
    assert!(error.contains("not a CPPN run"), "{error}");
    // morph draws a VAE at its own size.
    succeeds(
        &dir,
        &[
            "morph", "--run", "runs/vae", "0", "5", "--frames", "3", "--gif", "v.gif",
        ],
    );
    assert_eq!(gif_frames(&dir.join("v.gif")), (28, 28, 6));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fails unless every src= and href= of an HTML page that is not inline data names a file
/// that exists beside the page.
#[track_caller]
fn assert_links_resolve(page: &Path) {
    let html = std::fs::read_to_string(page).unwrap();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let target = &rest[..rest.find('"').unwrap()];
            if !target.starts_with("data:") && !target.starts_with('#') {
                let file = page.parent().unwrap().join(target);
                assert!(
                    file.is_file(),
                    "{} links to {}",
                    page.display(),
                    file.display()
                );
            }
        }
    }
}

#[test]
fn features_eval_report_and_compare() {
    let dir = scratch("eval");
    let selection = ["--classes", "1,7", "--limit", "2000"];
    let trained = succeeds(
        &dir,
        &[
            &["train", "features"][..],
            &selection,
            &[
                "--nf",
                "4",
                "--feature-size",
                "16",
                "--steps",
                "30",
                "--log-every",
                "10",
            ],
        ]
        .concat(),
    );
    // Against the majority class of the same images, the trivial classifier's accuracy.
    let ones = pegasus::data::Dataset::embedded()
        .unwrap()
        .filter_classes(&["1".into(), "7".into()])
        .unwrap()
        .labels
        .unwrap()
        .iter()
        .take(2000)
        .filter(|&&l| l == 1)
        .count() as f64
        / 2000.0;
    let majority = ones.max(1.0 - ones);
    let accuracy: f64 = trained
        .lines()
        .find_map(|l| l.strip_prefix("held-out accuracy: "))
        .and_then(|rest| rest.split('%').next())
        .unwrap_or_else(|| panic!("no held-out accuracy in:\n{trained}"))
        .parse()
        .unwrap();
    assert!(
        accuracy / 100.0 > majority + 0.3,
        "held-out accuracy {accuracy}% against the majority class's {majority}"
    );

    succeeds(
        &dir,
        &[TINY, &["--steps", "8", "--run", "pyramid"]].concat(),
    );
    succeeds(
        &dir,
        &[TINY, &["--steps", "8", "--loss", "l1", "--run", "plain"]].concat(),
    );
    let eval = [
        "--images",
        "64",
        "--recon-images",
        "16",
        "--fit-steps",
        "5",
        "--pairs",
        "2",
        "--frames",
        "4",
    ];
    let table = succeeds(
        &dir,
        &[&["eval", "--run", "runs/pyramid"][..], &eval].concat(),
    );
    assert!(
        table.contains("FD") && table.contains("precision / recall"),
        "{table}"
    );
    let run = dir.join("runs/pyramid");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert!(
        report["features"]
            .as_str()
            .unwrap()
            .contains("runs/features"),
        "the newest features run on the same data: {report}"
    );
    let number = |path: &str| -> f64 {
        path.split('/')
            .fold(&report, |v, k| &v[k])
            .as_f64()
            .unwrap_or_else(|| panic!("{path} in {report}"))
    };
    assert!(number("reconstruction/psnr_db") > 0.0);
    assert!((0.0..=1.0).contains(&number("reconstruction/ssim")));
    assert!(number("distribution/fd") >= 0.0 && number("distribution/fd_train_vs_heldout") >= 0.0);
    for unit in ["distribution/precision", "distribution/recall"] {
        assert!((0.0..=1.0).contains(&number(unit)), "{unit}");
    }
    assert!(number("memorisation/median_ratio") > 0.0);
    assert!(number("interpolation/largest_step") >= number("interpolation/mean_step"));
    for picture in [
        "eval_samples.png",
        "eval_memorisation.png",
        "eval_interpolations.png",
    ] {
        png_size(&run.join(picture));
    }

    succeeds(&dir, &["report", "--run", "runs/pyramid"]);
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("eval_memorisation.png") && html.contains("held-out PSNR"));
    assert!(html.contains(&format!("{:.2}", number("distribution/fd"))));
    assert_links_resolve(&page);
    succeeds(&dir, &["report", "--compare", "runs/pyramid", "runs/plain"]);
    let page = dir.join("runs/compare.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("runs/pyramid (glo)") && html.contains("runs/plain (glo)"),
        "both runs named"
    );
    assert!(
        html.contains("no eval.json"),
        "the run not yet measured says so"
    );
    assert!(
        html.contains("glo.loss"),
        "the setting that differs is listed"
    );
    assert_links_resolve(&page);

    for (args, expected) in [
        (
            vec!["eval", "--run", "runs/pyramid", "--features", "runs/plain"],
            "not a features run",
        ),
        (
            vec![
                "eval",
                "--run",
                "runs/pyramid",
                "--features",
                "vgg16:absent.safetensors",
            ],
            "absent.safetensors",
        ),
        (
            vec!["eval", "--run", "runs/pyramid", "--frames", "1"],
            "--frames",
        ),
        (
            vec!["eval", "--run", "runs/pyramid", "--temperature", "0"],
            "--temperature 0",
        ),
        (vec!["report", "--run", "runs/absent"], "runs/absent"),
    ] {
        let message = refused(&dir, &args);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    // The same draws at a narrower spread: other samples, and eval.json says how they came.
    let samples_at_1 = std::fs::read(run.join("eval_samples.png")).unwrap();
    let table = succeeds(
        &dir,
        &[
            &["eval", "--run", "runs/pyramid", "--temperature", "0.5"][..],
            &eval,
        ]
        .concat(),
    );
    assert!(table.contains("at temperature 0.5"), "{table}");
    let narrower: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(narrower["distribution"]["temperature"].as_f64(), Some(0.5));
    assert_ne!(
        std::fs::read(run.join("eval_samples.png")).unwrap(),
        samples_at_1,
        "samples at temperature 0.5 are those at 1"
    );
    // Seed 004's perceptual loss measures with that features run.
    let said = succeeds(
        &dir,
        &[
            TINY,
            &[
                "--steps",
                "4",
                "--loss",
                "perceptual",
                "--features",
                "runs/features",
            ],
            &["--run", "perceptual"],
        ]
        .concat(),
    );
    assert!(said.contains("finished at step 4"), "{said}");
    let perceptual = [
        GLO_MODEL,
        &["--loss", "perceptual", "--features", "runs/features"],
    ]
    .concat();
    resumes_exactly(&dir, &perceptual, 8);
    let message = refused(
        &dir,
        &[TINY, &["--loss", "perceptual", "--run", "p2"]].concat(),
    );
    assert!(message.contains("--features"), "{message}");

    // Without a features run on the same images, and for a run that held nothing out.
    let bare = scratch("eval-bare");
    succeeds(&bare, &[TINY, &["--steps", "4", "--run", "kept"]].concat());
    let message = refused(&bare, &["eval", "--run", "runs/kept"]);
    assert!(
        message.contains("pegasus train features --data embedded --classes 1,7"),
        "{message}"
    );
    succeeds(
        &bare,
        &[
            TINY,
            &["--steps", "4", "--holdout-every", "0", "--run", "all"],
        ]
        .concat(),
    );
    let message = refused(&bare, &["eval", "--run", "runs/all"]);
    assert!(message.contains("trained on every image"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&bare);
}

/// Copies a run folder (the files directly in it).
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// `pegasus eval` of `run` on a few images with `options`; returns its eval.json.
fn quick_eval(dir: &Path, run: &str, options: &[&str]) -> String {
    let quick = [
        "--images",
        "32",
        "--recon-images",
        "4",
        "--fit-steps",
        "2",
        "--pairs",
        "1",
        "--frames",
        "3",
    ];
    succeeds(
        dir,
        &[&["eval", "--run", run][..], &quick, options].concat(),
    );
    std::fs::read_to_string(dir.join(run).join("eval.json")).unwrap()
}

/// Trains `kind` (a model that learns from a GLO run: glann, encoder) on runs/glo for 8
/// steps, and on a copy of it for 4 steps resumed to 8; both must end alike. Returns what the
/// straight run printed.
fn resumes_exactly_beside_glo(dir: &Path, kind: &str, options: &[&str]) -> String {
    let split_run = format!("runs/split-{kind}");
    copy_run(&dir.join("runs/glo"), &dir.join(&split_run));
    let said = succeeds(
        dir,
        &[
            &["train", kind, "--run", "runs/glo", "--steps", "8"][..],
            VAE_SCHEDULE,
            options,
        ]
        .concat(),
    );
    succeeds(
        dir,
        &[
            &["train", kind, "--run", &split_run, "--steps", "4"][..],
            VAE_SCHEDULE,
            options,
        ]
        .concat(),
    );
    succeeds(
        dir,
        &[
            "train", kind, "--run", &split_run, "--resume", "--steps", "8",
        ],
    );
    let straight = dir.join("runs/glo").join(kind);
    let split = dir.join(&split_run).join(kind);
    assert_eq!(
        metrics_without_timing(&split),
        metrics_without_timing(&straight),
        "{kind}: metrics after a resume"
    );
    let (a, b) = (checkpoint_tensors(&straight), checkpoint_tensors(&split));
    assert_eq!(
        a.tensors, b.tensors,
        "{kind}: weights and optimiser after a resume"
    );
    assert_eq!(a.metadata, b.metadata, "{kind}: counters after a resume");
    said
}

#[test]
fn glann_and_encoder_learn_from_a_glo_run_resume_exactly_and_serve_sample_and_eval() {
    let dir = scratch("glann");
    succeeds(&dir, &[TINY, &["--steps", "8", "--run", "glo"]].concat());
    let glo = dir.join("runs/glo");
    let said = resumes_exactly_beside_glo(&dir, "glann", &["--candidates", "4", "--width", "16"]);
    assert!(said.contains("runs/glo/glann/samples.png"), "{said}");
    png_size(&glo.join("glann/gaussian_samples.png"));

    let drawn = succeeds(&dir, &["sample", "--run", "runs/glo", "--n", "4"]);
    assert!(drawn.contains("GLANN's mapper"), "{drawn}");
    let own = succeeds(
        &dir,
        &[
            "sample", "--run", "runs/glo", "--n", "4", "--prior", "own", "--out", "own.png",
        ],
    );
    assert!(own.contains("Gaussian"), "{own}");
    assert_ne!(
        std::fs::read(glo.join("sample_1.png")).unwrap(),
        std::fs::read(dir.join("own.png")).unwrap(),
        "GLANN's draws and the Gaussian's differ"
    );

    succeeds(
        &dir,
        &[
            "train",
            "features",
            "--classes",
            "1,7",
            "--limit",
            "2000",
            "--nf",
            "4",
            "--feature-size",
            "8",
            "--steps",
            "4",
        ],
    );
    for (prior, drawn_from) in [("glann", "GLANN"), ("own", "Gaussian")] {
        let report = quick_eval(&dir, "runs/glo", &["--prior", prior]);
        assert!(report.contains(drawn_from), "--prior {prior}: {report}");
    }

    // Fitted latents first, then the encoder's, which eval then uses by default.
    let said = resumes_exactly_beside_glo(&dir, "encoder", &["--nf", "4"]);
    assert!(
        said.contains("reconstruction PSNR through the encoder"),
        "{said}"
    );
    png_size(&glo.join("encoder/heldout_reconstructions.png"));
    for (latents, encoded_by) in [("auto", "encoder"), ("fit", "optimising")] {
        let report = quick_eval(&dir, "runs/glo", &["--latents", latents]);
        assert!(report.contains(encoded_by), "--latents {latents}: {report}");
    }
    let interpolated = succeeds(
        &dir,
        &[
            "interpolate",
            "--run",
            "runs/glo",
            "--from",
            "3",
            "--to",
            "1500",
        ],
    );
    assert!(interpolated.contains("interpolate"), "{interpolated}");

    // Seed 004's continuity term resumes exactly too (its noise is drawn per step).
    let glo_model = [GLO_MODEL, &["--continuity", "0.05", "--beta", "0.5"]].concat();
    let (rows, _) = resumes_exactly(&dir, &glo_model, 8);
    assert!(rows[0].contains("shaken_loss"), "{rows:?}");
    let staged = [
        GLO_MODEL,
        &[
            "--stages",
            "2",
            "--stage-steps",
            "3",
            "--stage-clusters",
            "2",
            "--stage-images",
            "10",
        ],
    ]
    .concat();
    let _ = std::fs::remove_dir_all(dir.join("runs/straight"));
    let _ = std::fs::remove_dir_all(dir.join("runs/split"));
    resumes_exactly(&dir, &staged, 8);
    let message = refused(&dir, &["train", "glo", "--continuity=-1", "--run", "bad"]);
    assert!(message.contains("--continuity"), "{message}");

    // A VAE run has no GLANN and no GLO encoder; both learn only from GLO runs.
    succeeds(
        &dir,
        &[VAE_MODEL, VAE_SCHEDULE, &["--steps", "2", "--run", "vae"]].concat(),
    );
    for (args, expected) in [
        (
            vec!["sample", "--run", "runs/vae", "--prior", "glann"],
            "pegasus train glann --run runs/vae",
        ),
        (vec!["train", "glann", "--run", "runs/vae"], "is a vae run"),
        (
            vec!["train", "encoder", "--run", "runs/vae"],
            "is a vae run",
        ),
        (
            vec!["train", "glann", "--run", "runs/glo"],
            "already holds a trained glann: continue it with --resume",
        ),
        (
            vec!["eval", "--run", "runs/split-glann", "--latents", "encoder"],
            "pegasus train encoder --run runs/split-glann",
        ),
        (
            vec![
                "train",
                "encoder",
                "--run",
                "runs/split-glann",
                "--w-l1",
                "0",
                "--w-l2",
                "0",
            ],
            "--w-l1",
        ),
        (
            vec!["train", "glann", "--run", "runs/absent"],
            "runs/absent",
        ),
        (
            vec!["train", "glann", "--run", "runs/glo", "--candidates", "0"],
            "--candidates",
        ),
    ] {
        let message = refused(&dir, &args);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The profile table's row for the first of `kernels` it has: its cells after the name.
fn profile_row(stderr: &str, kernels: &[&str]) -> Vec<String> {
    let line = stderr
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|k| kernels.contains(&k))
        })
        .unwrap_or_else(|| panic!("no {kernels:?} row in:\n{stderr}"));
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Cell `column` (1: calls, 2: total ms) of the kernel table's "all" row.
fn all_kernels(stderr: &str, column: usize) -> f64 {
    stderr
        .lines()
        .find(|l| l.starts_with("all "))
        .and_then(|l| l.split_whitespace().nth(column)?.parse().ok())
        .unwrap_or_else(|| panic!("no \"all\" row in:\n{stderr}"))
}

/// The per-layer table of a profiled GLO run: each layer's time lands in the phases its
/// kernels belong to, and the layers account for all of the kernels' time.
fn check_layer_table(stderr: &str) {
    let table: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("GPU time per layer and phase"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    // The phase columns: forward, input grad, weight grad, optimiser; then total.
    let phases = |layer: &str| -> [f64; 5] {
        let line = table
            .iter()
            .find(|l| l.starts_with(layer))
            .unwrap_or_else(|| panic!("no layer {layer:?} in:\n{stderr}"));
        let cells: Vec<f64> = line[layer.len()..]
            .split_whitespace()
            .skip(1)
            .take(5)
            .map(|c| c.parse().unwrap())
            .collect();
        cells.try_into().unwrap()
    };
    let [forward, input, weight, update, _] = phases("generator/3 ConvTranspose2d");
    assert!(
        forward > 0.0 && input > 0.0 && weight > 0.0 && update > 0.0,
        "a hidden transposed convolution runs in every phase:\n{stderr}"
    );
    let [forward, input, weight, update, _] = phases("loss laplacian_l1");
    assert!(
        forward > 0.0 && input > 0.0 && weight == 0.0 && update == 0.0,
        "the loss has no parameters:\n{stderr}"
    );
    let [forward, input, weight, update, _] = phases("latents");
    assert!(
        forward == 0.0 && input == 0.0 && weight == 0.0 && update > 0.0,
        "the latent table is only updated:\n{stderr}"
    );
    let layers: f64 = table
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells[cells.len() - 4].parse::<f64>().unwrap()
        })
        .sum();
    let kernels = all_kernels(stderr, 2);
    assert!(
        (layers - kernels).abs() <= 0.001 * table.len() as f64 + 1e-3 * kernels,
        "layers sum to {layers} ms, kernels to {kernels} ms:\n{stderr}"
    );
}

#[test]
fn bench_times_a_vaegan_step_and_refuses_a_batch_batchnorm_cannot_take() {
    let dir = scratch("bench-vaegan");
    let out = pegasus(
        &dir,
        &[
            "bench",
            "train-step",
            "--model",
            "vaegan",
            "--batch",
            "4",
            "--steps",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("vaegan train step, batch 4"))
        .unwrap_or_else(|| panic!("no step line in:\n{stdout}"));
    let number_before = |tail: &str| -> f64 {
        let head = &line[..line.find(tail).unwrap()];
        head.rsplit([' ', '(']).next().unwrap().parse().unwrap()
    };
    let (ms, rate) = (number_before(" ms over"), number_before(" images/s"));
    assert!(ms > 0.0, "{line}");
    assert!(
        (rate - 4.0 / (ms * 1e-3)).abs() <= 0.01 * rate + 0.1,
        "{rate} images/s does not match a {ms} ms step of 4 images: {line}"
    );
    let out = pegasus(
        &dir,
        &["bench", "train-step", "--model", "vaegan", "--batch", "1"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--batch 1") && stderr.contains("at least 2"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn profile_reports_rates_against_measured_peaks_and_writes_a_trace() {
    let dir = scratch("profile");
    let out = pegasus(
        &dir,
        &[
            "profile",
            "--trace",
            "matmul.json",
            "--",
            "bench",
            "matmul",
            "--size",
            "64,48,80",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("FMA peak") && stderr.contains("GB/s (ridge"),
        "{stderr}"
    );
    // calls, total ms, mean us, share, GFLOP/s, GB/s, FLOP/B, %FMA, %copy, bound
    let row = profile_row(
        &stderr,
        &[
            "gemm_lanes.gemm_lanes:matmul",
            "gemm_tiled.gemm_tiled:matmul",
        ],
    );
    let (m, n, k) = (64.0, 48.0, 80.0);
    let intensity = 2.0 * m * n * k / (4.0 * (m * k + k * n + m * n));
    let shown: f64 = row[6].parse().unwrap();
    assert!(
        (shown - intensity).abs() < 0.01,
        "FLOP/B {shown}, expected {intensity:.2}"
    );
    let (calls, ms): (f64, f64) = (row[0].parse().unwrap(), row[1].parse().unwrap());
    let gflops: f64 = row[4].parse().unwrap();
    let expected = calls * 2.0 * m * n * k / (ms * 1e-3) / 1e9;
    assert!(
        (gflops - expected).abs() <= 0.02 * expected + 0.01,
        "GFLOP/s {gflops}, from calls and time {expected}"
    );
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("matmul.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let dispatches: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["cat"] == "dispatch").collect();
    assert_eq!(
        dispatches.len() as f64,
        all_kernels(&stderr, 1),
        "one trace event per dispatch"
    );
    assert!(
        dispatches
            .iter()
            .all(|e| e["dur"].as_f64().unwrap() >= 0.0 && e["ts"].is_number())
    );
    assert!(
        dispatches
            .iter()
            .all(|e| e["args"]["layer"].is_string() && e["args"]["phase"] == "forward"),
        "a bare matmul is a forward dispatch outside any layer"
    );

    let trained = pegasus(
        &dir,
        &[
            &["profile", "--trace", "glo.json", "--"][..],
            GLO_MODEL,
            &["--steps", "4", "--log-every", "2"],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&trained.stderr).into_owned();
    assert!(trained.status.success(), "{stderr}");
    assert!(
        stderr.contains("per training step (mean of 4") && stderr.contains("queue submissions"),
        "{stderr}"
    );
    check_layer_table(&stderr);
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("glo.json")).unwrap()).unwrap();
    let dispatches: Vec<&serde_json::Value> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["cat"] == "dispatch")
        .collect();
    let phase = |e: &serde_json::Value| e["args"]["phase"].as_str().unwrap().to_string();
    let backward_start = dispatches
        .iter()
        .position(|e| phase(e) == "input grad")
        .expect("a backward pass in the trace");
    let backward: Vec<_> = dispatches[backward_start..]
        .iter()
        .take_while(|e| phase(e) != "optimiser")
        .collect();
    assert!(
        backward
            .iter()
            .all(|e| phase(e) != "forward" && e["args"]["layer"] != "(outside layers)"),
        "every dispatch of a backward pass belongs to a layer's gradient: {backward:?}"
    );
    let said = refused(&dir, &["profile", "--", "profile", "--", "devices"]);
    assert!(said.contains("not itself"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
