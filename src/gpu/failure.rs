//! What stops the GPU itself: running out of its memory, losing the device (a driver reset,
//! an unplugged or removed adapter), a tensor too large to bind. Tensor operations have no
//! error path (a launch that goes wrong otherwise is a pegasus bug), so these unwind with a
//! `GpuFailure` payload, and `catching` turns it back into an error where a command or the
//! training loop can say what happened and what was kept.
//!
//! `PEGASUS_FAULT` provokes them on purpose, for the tests: `device-lost:N` destroys the
//! device just before the N-th queue submission, `out-of-memory:N` fails the N-th buffer
//! creation as an out-of-memory error from the driver would.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Once;

/// The sentence a user reads when the GPU cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuFailure(pub String);

impl std::fmt::Display for GpuFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GpuFailure {}

/// Unwinds with `message` as a `GpuFailure`.
pub(crate) fn fail(message: String) -> ! {
    std::panic::panic_any(GpuFailure(message))
}

/// Runs `f`; a `GpuFailure` raised inside comes back as `Err`, any other panic keeps
/// unwinding (it is a bug and should be seen as one).
pub fn catching<T>(f: impl FnOnce() -> T) -> Result<T, GpuFailure> {
    quiet_about_failures();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast::<GpuFailure>() {
            Ok(failure) => Err(*failure),
            Err(other) => resume_unwind(other),
        },
    }
}

/// The default panic message ("thread main panicked at ...") is for bugs; a `GpuFailure` is
/// reported by whoever catches it.
fn quiet_about_failures() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<GpuFailure>().is_none() {
                default(info);
            }
        }));
    });
}

/// Failures asked for by `PEGASUS_FAULT`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Faults {
    /// Destroy the device just before this queue submission (1 = the first).
    pub(crate) device_lost_at_submission: Option<u64>,
    /// Fail this buffer creation (1 = the first) as out of memory.
    pub(crate) out_of_memory_at_buffer: Option<u64>,
}

impl Faults {
    pub(crate) fn from_env() -> Faults {
        match std::env::var("PEGASUS_FAULT") {
            Ok(spec) if !spec.is_empty() => Faults::parse(&spec).unwrap_or_else(|e| fail(e)),
            _ => Faults::default(),
        }
    }

    fn parse(spec: &str) -> Result<Faults, String> {
        let bad = || {
            format!(
                "PEGASUS_FAULT=`{spec}` is not `device-lost:N` or `out-of-memory:N` (N >= 1); unset it to run normally"
            )
        };
        let (what, count) = spec.split_once(':').ok_or_else(bad)?;
        let count: u64 = count
            .trim()
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(bad)?;
        match what.trim() {
            "device-lost" => Ok(Faults {
                device_lost_at_submission: Some(count),
                ..Faults::default()
            }),
            "out-of-memory" => Ok(Faults {
                out_of_memory_at_buffer: Some(count),
                ..Faults::default()
            }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_or_say_what_is_accepted() {
        assert_eq!(
            Faults::parse("device-lost:3")
                .unwrap()
                .device_lost_at_submission,
            Some(3)
        );
        assert_eq!(
            Faults::parse("out-of-memory:12")
                .unwrap()
                .out_of_memory_at_buffer,
            Some(12)
        );
        for bad in [
            "device-lost",
            "device-lost:0",
            "oom:3",
            "out-of-memory:x",
            ":",
        ] {
            let e = Faults::parse(bad).unwrap_err();
            assert!(e.contains("device-lost:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn catching_returns_failures_and_lets_bugs_through() {
        let caught = catching(|| -> u32 { fail("out of memory".into()) });
        assert_eq!(caught, Err(GpuFailure("out of memory".into())));
        assert_eq!(catching(|| 7), Ok(7));
        let bug = std::panic::catch_unwind(|| catching(|| -> u32 { panic!("a bug") }));
        assert!(bug.is_err(), "a plain panic must keep unwinding");
    }
}
