//! Typed errors of the library. The binary adds context with anyhow.

use std::path::PathBuf;

/// What a user sees when a GPU adapter cannot be found: the one-line fix for the common case.
pub const INSTALL_HINT: &str = "no GPU adapter was found. Install a Vulkan driver; on a machine \
without a GPU, Mesa's software driver works: `sudo apt-get update && sudo apt-get install -y \
mesa-vulkan-drivers libvulkan1` (Debian/Ubuntu). If it is installed, check that \
XDG_RUNTIME_DIR is set and that `vulkaninfo --summary` lists a device.";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{INSTALL_HINT}")]
    NoAdapter,

    #[error(
        "no adapter matches `{wanted}` (from {source_of_choice}); the adapters are:\n{available}\nPass an index or a part of a name, e.g. `--adapter 0` or `--adapter llvmpipe`."
    )]
    AdapterNotFound {
        wanted: String,
        source_of_choice: &'static str,
        available: String,
    },

    #[error("could not open the GPU device on adapter `{adapter}`: {reason}")]
    DeviceRequest { adapter: String, reason: String },

    #[error("{0}")]
    Limit(String),

    #[error("GPU error: {0}")]
    Gpu(String),

    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },

    #[error("{0}")]
    Invalid(String),

    /// Training produced a value that is not finite (in a scalar, a figure or a tensor).
    #[error("{what} became {value}")]
    NonFinite { what: String, value: f32 },
}

impl Error {
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
