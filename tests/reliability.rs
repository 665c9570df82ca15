//! What a run survives: `kill -9` at random moments, a GPU device that is lost and a GPU
//! that runs out of memory (both provoked through PEGASUS_FAULT, see src/gpu/failure.rs).
//! Each ends with a loadable checkpoint and a metrics.csv without lost or repeated rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pegasus-reliability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pegasus(dir: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pegasus"));
    command.args(args).current_dir(dir);
    if let Some(fault) = fault {
        command.env("PEGASUS_FAULT", fault);
    }
    command.output().expect("the pegasus binary runs")
}

const STEPS: usize = 48;
const LOG_EVERY: usize = 2;

/// A tiny GLO logging every 2 steps and saving every 6.
fn glo(steps: usize, run: &str, resume: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "glo",
        "--classes",
        "1,7",
        "--limit",
        "400",
        "--nz",
        "8",
        "--ngf",
        "8",
        "--batch",
        "32",
        "--log-every",
        "2",
        "--image-every",
        "1000",
        "--checkpoint-every",
        "6",
        "--run",
        run,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--steps".to_string(), steps.to_string()]);
    if resume {
        args.push("--resume".into());
    }
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The step column of metrics.csv, every row checked to have the header's column count.
fn logged_steps(run: &Path) -> Vec<usize> {
    let Ok(text) = std::fs::read_to_string(run.join("metrics.csv")) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let columns = lines.next().map_or(0, |h| h.split(',').count());
    lines
        .filter(|l| l.split(',').count() == columns)
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect()
}

/// The step counter of the run's checkpoint, which must load.
fn checkpoint_step(run: &Path) -> Option<usize> {
    let path = run.join("checkpoint.safetensors");
    if !path.exists() {
        return None;
    }
    let checkpoint = pegasus::io::Checkpoint::load(&path)
        .unwrap_or_else(|e| panic!("the checkpoint left behind does not load: {e}"));
    Some(checkpoint.metadata["step"].parse().unwrap())
}

/// A small generator for the kill moments, seeded from the clock and printed, so a failure
/// can be replayed with PEGASUS_KILL_SEED.
fn kill_seed() -> u64 {
    std::env::var("PEGASUS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn training_killed_at_random_moments_finishes_with_every_row_once() {
    let dir = scratch("kill");
    let run = dir.join("runs/killed");
    let seed = kill_seed();
    eprintln!("kill moments from PEGASUS_KILL_SEED={seed}");
    let mut state = seed | 1;
    // The first run's start-up (adapter, data, shaders) takes most of a second here; the
    // moments fall before the first checkpoint, between checkpoints and during them.
    let mut worst_loss = 0;
    for kill in 0..6 {
        let resume = run.join("config.json").exists();
        let wait = Duration::from_millis(100 + next(&mut state) % 2500);
        let mut child = Command::new(env!("CARGO_BIN_EXE_pegasus"))
            .args(strs(&glo(STEPS, "killed", resume)))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < wait && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL: no handler runs
        child.wait().unwrap();
        let logged = logged_steps(&run).last().copied().unwrap_or(0);
        let saved = checkpoint_step(&run).unwrap_or(0);
        assert!(saved <= logged.max(saved), "checkpoint past the metrics");
        worst_loss = worst_loss.max(logged.saturating_sub(saved));
        eprintln!(
            "kill {kill} after {} ms{}: last row step {logged}, checkpoint step {saved}",
            wait.as_millis(),
            if finished { " (it had finished)" } else { "" }
        );
        if finished {
            break;
        }
    }
    let resume = run.join("config.json").exists();
    let out = pegasus(&dir, &strs(&glo(STEPS, "killed", resume)), None);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "resuming after the kills failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<usize> = (1..=STEPS / LOG_EVERY).map(|i| i * LOG_EVERY).collect();
    assert_eq!(
        logged_steps(&run),
        expected,
        "metrics.csv after the kills and a resume"
    );
    assert_eq!(checkpoint_step(&run), Some(STEPS));
    eprintln!("worst loss of work: {worst_loss} steps (checkpoints every 6)");
    assert!(
        worst_loss <= 6,
        "lost {worst_loss} steps with checkpoints every 6"
    );
    let sample = pegasus(&dir, &["sample", "--run", "runs/killed", "--n", "4"], None);
    assert!(sample.status.success(), "the resumed run samples");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the tiny GLO with `fault` until it stops, and returns its error line.
fn stopped_by(dir: &Path, run: &str, fault: &str) -> String {
    let out = pegasus(dir, &strs(&glo(STEPS, run, false)), Some(fault));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "PEGASUS_FAULT={fault} should end the run with an error:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{fault} panicked:\n{stderr}");
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
        .to_string()
}

#[test]
fn a_lost_device_or_exhausted_memory_stops_with_a_sentence_and_keeps_the_checkpoint() {
    let dir = scratch("faults");
    // Submission 150 falls halfway through training (a step of this GLO submits about six
    // command buffers), after its first checkpoints.
    let lost = stopped_by(&dir, "lost", "device-lost:150");
    assert!(lost.contains("was lost"), "{lost}");
    assert!(lost.contains("The last checkpoint (step"), "{lost}");
    assert!(lost.contains("--run lost --resume"), "{lost}");
    let run = dir.join("runs/lost");
    let saved = checkpoint_step(&run).expect("a checkpoint was kept");
    assert!(saved > 0, "the device was lost before any training: {lost}");
    assert!(logged_steps(&run).iter().all(|&s| s <= STEPS));
    // The device loss cost at most the steps since that checkpoint: resuming finishes with
    // every row once.
    let out = pegasus(&dir, &strs(&glo(STEPS, "lost", true)), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<usize> = (1..=STEPS / LOG_EVERY).map(|i| i * LOG_EVERY).collect();
    assert_eq!(logged_steps(&run), expected);

    // Buffers are pooled, so new ones are made in the first steps: the 60th is one of them.
    let oom = stopped_by(&dir, "oom", "out-of-memory:60");
    assert!(oom.contains("ran out of memory"), "{oom}");
    assert!(oom.contains("smaller batch"), "{oom}");
    let run = dir.join("runs/oom");
    // Every buffer is made in the first step (the pool serves the rest), so the run stops
    // there, with the checkpoint saved before training.
    assert!(
        oom.contains("The last checkpoint (step 0) is kept"),
        "{oom}"
    );
    assert_eq!(checkpoint_step(&run), Some(0));
    let out = pegasus(
        &dir,
        &strs(&glo(STEPS, "oom", run.join("config.json").exists())),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(checkpoint_step(&run), Some(STEPS));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_metrics_row_cut_short_by_a_kill_is_dropped_on_resume() {
    let dir = scratch("cut-row");
    let path = dir.join("metrics.csv");
    // A kill during the append of step 12's row left "1" of it: a row that reads as step 1.
    std::fs::write(
        &path,
        "step,loss,elapsed\n2,0.5,1.0\n4,0.4,2.0\n6,0.3,3.0\n1",
    )
    .unwrap();
    pegasus::train::trim_metrics(&path, 4).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "step,loss,elapsed\n2,0.5,1.0\n4,0.4,2.0\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
