//! The command line: one file per subcommand.

mod bench;
pub mod data;
mod devices;
mod eval;
mod explore;
mod render;
mod report;
pub mod train;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::gpu::{AdapterChoice, Gpu};

#[derive(Parser)]
#[command(
    name = "pegasus",
    version,
    about = "Train and explore generative image models (GLO, VAE, VAE-GAN, CPPN-GAN) on any GPU",
    after_help = "Examples:\n  pegasus train glo\n  pegasus train vae\n  pegasus sample --run runs/glo --n 64\n  pegasus interpolate --run runs/glo --from 3 --to 4010\n  pegasus train glann --run runs/glo\n  pegasus train features\n  pegasus eval --run runs/glo\n  pegasus report --run runs/glo\n  pegasus devices\n  pegasus bench matmul --size 1024,1024,1024"
)]
struct Cli {
    /// Adapter to run on: an index from `pegasus devices` or part of its name. Overrides the
    /// PEGASUS_ADAPTER environment variable. Default: the first discrete GPU, else an
    /// integrated one, else the software driver.
    #[arg(long, global = true, value_name = "INDEX|NAME")]
    adapter: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with its limits and features; `*` marks the one pegasus uses.
    #[command(
        after_help = "Example:\n  pegasus devices\n  PEGASUS_ADAPTER=llvmpipe pegasus devices"
    )]
    Devices,
    /// Measure kernel speed on the chosen adapter.
    Bench(bench::BenchArgs),
    /// Fetch, describe and cluster image datasets.
    Data(data::DataArgs),
    /// Train a model on images (GLO, VAE, VAE-GAN, CPPN).
    Train(Box<train::TrainArgs>),
    /// Generate new images from a trained run.
    Sample(explore::SampleArgs),
    /// Frames between two images in a run's latent space, weighted mixes, or swapped blocks.
    Interpolate(explore::InterpolateArgs),
    /// Search mixes of two classes for the best hybrids (the Pegasus finder).
    Hybrid(explore::HybridArgs),
    /// Draw a CPPN run's latent at any size (7680 x 4320 and beyond), streamed to a PNG.
    Render(render::RenderArgs),
    /// An animated GIF through a run's latents (CPPN runs at any size).
    Morph(render::MorphArgs),
    /// Print or save the latents of image files.
    Encode(render::EncodeArgs),
    /// Measure a run on images it never trained on: held-out reconstruction, FD, precision
    /// and recall, memorisation and interpolation smoothness, in eval.json.
    Eval(eval::EvalArgs),
    /// One self-contained HTML page for a run (settings, losses, pictures, eval table), or
    /// several runs side by side.
    Report(report::ReportArgs),
    /// Run any pegasus command with the kernel profiler on: time, GFLOP/s, GB/s, arithmetic
    /// intensity and share of this adapter's peaks per kernel, optionally a trace file.
    #[command(
        after_help = "The table's peaks are measured at the end of the same run (`pegasus bench peak`).\nA training run also prints its dispatches, queue submissions, read-backs and\nbytes uploaded per step.\n\nExamples:\n  pegasus profile -- bench train-step --model glo\n  pegasus profile --trace glo.json -- train glo --steps 20 --run profiled\n  pegasus profile -- bench matmul --size 1024,1024,1024"
    )]
    Profile(ProfileArgs),
}

#[derive(clap::Args)]
struct ProfileArgs {
    /// Also write every dispatch (GPU timestamps) and host span (training steps) to FILE in
    /// the Chrome trace-event format, for Perfetto or chrome://tracing.
    #[arg(long, value_name = "FILE")]
    trace: Option<std::path::PathBuf>,
    /// The pegasus command to profile, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

pub fn run() -> ExitCode {
    ensure_runtime_dir();
    let cli = Cli::parse();
    let choice = AdapterChoice::from_flag_or_env(cli.adapter.as_deref());
    match execute(cli, &|| open(&choice)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command line as the binary would (`args[0]` is the program name), returning its
/// error instead of printing it: for tests that drive pegasus in-process.
pub fn run_with(args: &[&str]) -> anyhow::Result<()> {
    ensure_runtime_dir();
    let cli = Cli::try_parse_from(args)?;
    let choice = AdapterChoice::from_flag_or_env(cli.adapter.as_deref());
    execute(cli, &|| open(&choice))
}

/// As `run_with`, on an adapter already open (its `--adapter` is ignored): for tests that run
/// many commands, which then share its compiled kernels.
pub fn run_on(gpu: &Arc<Gpu>, args: &[&str]) -> anyhow::Result<()> {
    execute(Cli::try_parse_from(args)?, &|| Ok(gpu.clone()))
}

/// Runs a parsed command; a GPU that runs out of memory or is lost ends it with a sentence.
fn execute(cli: Cli, open: &dyn Fn() -> anyhow::Result<Arc<Gpu>>) -> anyhow::Result<()> {
    let opened: std::cell::RefCell<Option<Arc<Gpu>>> = std::cell::RefCell::new(None);
    let remembered = || {
        let gpu = open()?;
        *opened.borrow_mut() = Some(gpu.clone());
        Ok(gpu)
    };
    crate::gpu::catching(|| {
        execute_command(cli, &remembered)?;
        match opened.borrow().as_ref() {
            Some(gpu) => print_profile(gpu),
            None => Ok(()),
        }
    })
    .unwrap_or_else(|failure| Err(failure.into()))
}

fn execute_command(cli: Cli, open: &dyn Fn() -> anyhow::Result<Arc<Gpu>>) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices => devices::run(&AdapterChoice::from_flag_or_env(cli.adapter.as_deref())),
        Command::Bench(args) => open().and_then(|gpu| bench::run(&gpu, &args)),
        Command::Data(args) => data::run(&args, open),
        Command::Train(args) => train::run(&args, open),
        Command::Sample(args) => open().and_then(|gpu| explore::sample(&gpu, &args)),
        Command::Interpolate(args) => open().and_then(|gpu| explore::interpolate_cmd(&gpu, &args)),
        Command::Hybrid(args) => open().and_then(|gpu| explore::hybrid(&gpu, &args)),
        Command::Render(args) => open().and_then(|gpu| render::render(&gpu, &args)),
        Command::Morph(args) => open().and_then(|gpu| render::morph(&gpu, &args)),
        Command::Encode(args) => open().and_then(|gpu| render::encode(&gpu, &args)),
        Command::Eval(args) => open().and_then(|gpu| eval::eval(&gpu, &args)),
        Command::Report(args) => report::report(&args),
        Command::Profile(args) => {
            anyhow::ensure!(
                args.command.first().is_none_or(|c| c != "profile"),
                "`pegasus profile` profiles another command, not itself"
            );
            // SAFETY: no adapter is open yet and the command line has started no thread;
            // the profiler reads these when the profiled command opens its adapter.
            unsafe {
                std::env::set_var("PEGASUS_PROFILE", "1");
                if let Some(trace) = &args.trace {
                    std::env::set_var("PEGASUS_TRACE", trace);
                }
            }
            let inner = std::iter::once("pegasus".to_string()).chain(args.command.iter().cloned());
            execute_command(Cli::try_parse_from(inner)?, open)
        }
    }
}

/// Mesa's Vulkan drivers complain on every start when XDG_RUNTIME_DIR is unset (common in
/// containers and CI), though compute needs no display; give them a private directory.
fn ensure_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("pegasus-runtime");
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir) };
    }
}

/// Opens the chosen adapter and says which one, so every figure printed has its device.
fn open(choice: &AdapterChoice) -> anyhow::Result<Arc<Gpu>> {
    let gpu = Gpu::new(choice)?;
    let info = gpu.info();
    eprintln!(
        "adapter: {} ({:?}, {:?})",
        info.name, info.backend, info.device_type
    );
    Ok(gpu)
}

/// With PEGASUS_PROFILE=1: the per-kernel and per-layer tables against this adapter's peaks (measured now,
/// after the rows are taken) and the trace file PEGASUS_TRACE names.
fn print_profile(gpu: &Arc<Gpu>) -> anyhow::Result<()> {
    let Some((rows, how)) = gpu.profile_rows() else {
        return Ok(());
    };
    let layers = gpu.profile_layers().unwrap_or_default();
    let trace = gpu.trace_json();
    let peaks = crate::ops::peak::measure(gpu);
    eprintln!("\n{}", crate::gpu::profile_table(how, &rows, peaks));
    eprintln!("{}", crate::gpu::layer_table(&layers, peaks));
    if let (Some(json), Some(path)) = (trace, std::env::var_os("PEGASUS_TRACE")) {
        let path = std::path::Path::new(&path);
        crate::io::write_atomically(path, json.as_bytes())?;
        eprintln!(
            "trace: {} (open it in Perfetto or chrome://tracing)",
            path.display()
        );
    }
    Ok(())
}

/// What the host asked of the GPU per training step since `before`, over `steps` steps.
fn print_traffic(gpu: &Gpu, before: crate::gpu::Traffic, steps: usize) {
    if steps == 0 {
        return;
    }
    let now = gpu.traffic();
    let each = |now: u64, before: u64| (now - before) as f64 / steps as f64;
    eprintln!(
        "per training step (mean of {steps}, logging and checkpoints included): {:.1} dispatches, {:.1} queue submissions, {:.2} host read-backs, {:.1} KiB uploaded",
        each(now.dispatches, before.dispatches),
        each(now.submissions, before.submissions),
        each(now.readbacks, before.readbacks),
        each(now.uploaded_bytes, before.uploaded_bytes) / 1024.0
    );
}
