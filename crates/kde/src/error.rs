//! Errors of darkprobe-kde.

/// Errors raised by the kernel density estimators.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KdeError {
    /// A bandwidth (or bandwidth matrix) is not usable.
    #[error("invalid bandwidth: {0}")]
    InvalidBandwidth(String),
    /// A point has a different dimension than the estimator.
    #[error("dimension mismatch: the estimator is {expected}-dimensional, the input has {found} columns")]
    Dimension {
        /// The estimator's dimension.
        expected: usize,
        /// The dimension found.
        found: usize,
    },
    /// An error from darkprobe-core (invalid parameter, empty data, numerical failure, ...).
    #[error(transparent)]
    Core(#[from] darkprobe_core::Error),
}

impl From<KdeError> for darkprobe_core::Error {
    fn from(e: KdeError) -> Self {
        match e {
            KdeError::Core(inner) => inner,
            other => darkprobe_core::Error::upstream(other),
        }
    }
}

/// Result alias of darkprobe-kde.
pub type Result<T, E = KdeError> = std::result::Result<T, E>;
