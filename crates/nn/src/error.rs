//! Errors of darkprobe-nn.

/// Errors raised by the networks, losses, optimisers and training utilities.
///
/// Problems with the caller's numbers (shapes, parameters, files) are reported
/// as [`darkprobe_core::Error`] inside [`NnError::Core`], with the same context
/// (file, line, parameter name, allowed range) as everywhere in darkprobe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// `backward` was called on a layer whose `forward` has not run on a batch
    /// of this size.
    #[error("{layer}: backward called before forward (or with a different batch: forward saw {forward_rows} rows, backward got {backward_rows})")]
    BackwardBeforeForward {
        /// The layer kind.
        layer: String,
        /// Rows seen by the last forward pass (0 when there was none).
        forward_rows: usize,
        /// Rows passed to backward.
        backward_rows: usize,
    },
    /// Training produced a non-finite loss or gradient.
    #[error("training diverged at epoch {epoch}, step {step}: {what} = {value}; lower the learning rate or enable gradient clipping")]
    Diverged {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based optimiser step within the run.
        step: u64,
        /// What became non-finite ("loss", "gradient norm").
        what: String,
        /// The offending value.
        value: f64,
    },
    /// A checkpoint does not fit the network or optimiser it is loaded into.
    #[error("checkpoint mismatch: {0}")]
    Checkpoint(String),
    /// An error from darkprobe-core (invalid parameter, shape, I/O, parse, ...).
    #[error(transparent)]
    Core(#[from] darkprobe_core::Error),
}

impl From<NnError> for darkprobe_core::Error {
    fn from(e: NnError) -> Self {
        match e {
            NnError::Core(inner) => inner,
            other => darkprobe_core::Error::upstream(other),
        }
    }
}

/// Result alias of darkprobe-nn.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Shorthand for an invalid-parameter error.
pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, allowed: &str) -> NnError {
    NnError::Core(darkprobe_core::Error::invalid_param(name, value, allowed))
}

/// Shorthand for a shape-mismatch error.
pub(crate) fn shape(
    what: impl Into<String>,
    expected: impl std::fmt::Display,
    found: impl std::fmt::Display,
) -> NnError {
    NnError::Core(darkprobe_core::Error::shape(what, expected, found))
}
