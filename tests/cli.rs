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

    succeeds(
        &dir,
        &["train", "glo", "--run", "tiny", "--resume", "--steps", "12"],
    );
    assert_eq!(metrics_steps(&run), [4, 8, 12]);

    succeeds(
        &dir,
        &[
            "sample",
            "--run",
            "runs/tiny",
            "--n",
            "6",
            "--out",
            "six.png",
        ],
    );
    let (w, h) = png_size(&dir.join("six.png"));
    assert!(
        w >= 6 * 28 && h >= 28,
        "a grid of six 28x28 samples is {w}x{h}"
    );

    let frames = [
        "--run",
        "runs/tiny",
        "--from",
        "0",
        "--to",
        "1500",
        "--steps",
        "5",
    ];
    succeeds(
        &dir,
        &[&["interpolate"], &frames[..], &["--out", "path.png"]].concat(),
    );
    let (w, _) = png_size(&dir.join("path.png"));
    assert!(w >= 5 * 28, "five frames in a {w} pixel row");
    succeeds(
        &dir,
        &[&["interpolate"], &frames[..], &["--weights", "0.65"]].concat(),
    );
    png_size(&run.join("interpolate_0_1500_mix.png"));
    succeeds(
        &dir,
        &[&["interpolate"], &frames[..], &["--mode", "swap"]].concat(),
    );
    png_size(&run.join("interpolate_0_1500_swap.png"));

    let ranking = succeeds(
        &dir,
        &[
            "hybrid",
            "--run",
            "runs/tiny",
            "--a",
            "1",
            "--b",
            "7",
            "--candidates",
            "2",
        ],
    );
    assert!(ranking.contains("rank"), "{ranking}");
    png_size(&run.join("hybrids_1_7.png"));
    let _ = std::fs::remove_dir_all(&dir);
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
