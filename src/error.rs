//! The one error type of the engine.

use std::path::PathBuf;

/// Everything the engine can report. Each variant names what went wrong and
/// with which value, so a user can act on the message alone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no GPU adapter found{0}")]
    NoAdapter(String),

    #[error("could not open the GPU device: {0}")]
    Device(String),

    #[error("wgpu reported an error: {0}")]
    Wgpu(String),

    #[error(
        "{what}: tensor of {bytes} bytes exceeds the device's storage binding limit of {limit} bytes"
    )]
    BindingTooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },

    #[error(
        "{what}: a buffer of {bytes} bytes exceeds the device's buffer size limit of {limit} bytes"
    )]
    BufferTooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },

    #[error(
        "{what}: needs {needed} workgroups, more than the device allows ({limit} per dimension)"
    )]
    DispatchTooLarge {
        what: String,
        needed: u64,
        limit: u32,
    },

    #[error("{what}: shape mismatch: expected {expected:?}, got {got:?}")]
    Shape {
        what: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },

    #[error("{0}")]
    Invalid(String),

    /// A plan, batch or input that the device or the machine cannot hold;
    /// the message says what would fit.
    #[error("{0}")]
    DoesNotFit(String),

    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
