//! Errors of darkprobe-subhalos.

/// Errors raised by the subhalo analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubhaloError {
    /// A source's CLASS1 label is not a 4FGL class.
    #[error("{location}: unknown 4FGL class '{class}': expected one of {allowed} (case-insensitive), or empty for unassociated sources")]
    UnknownClass {
        /// Where the label came from (file, line, column).
        location: darkprobe_core::Location,
        /// The label found.
        class: String,
        /// The known labels.
        allowed: String,
    },
    /// A FITS file could not be read as a 4FGL catalog.
    #[error("FITS catalog '{path}': {reason}")]
    Fits {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An error from the kernel density estimators.
    #[error(transparent)]
    Kde(#[from] darkprobe_kde::KdeError),
    /// An error from darkprobe-core (bad parameter, parse error, numerical failure, ...).
    #[error(transparent)]
    Core(#[from] darkprobe_core::Error),
}

impl From<SubhaloError> for darkprobe_core::Error {
    fn from(e: SubhaloError) -> Self {
        match e {
            SubhaloError::Core(inner) => inner,
            SubhaloError::Kde(inner) => inner.into(),
            other => darkprobe_core::Error::upstream(other),
        }
    }
}

impl SubhaloError {
    /// True when the error was caused by the user's input (bad file content,
    /// unknown label, invalid parameter), false for I/O and numerical failures.
    pub fn is_bad_input(&self) -> bool {
        match self {
            SubhaloError::UnknownClass { .. } | SubhaloError::Fits { .. } => true,
            SubhaloError::Kde(darkprobe_kde::KdeError::Core(e)) | SubhaloError::Core(e) => {
                e.is_bad_input()
            }
            SubhaloError::Kde(_) => true,
        }
    }
}

/// Result alias of darkprobe-subhalos.
pub type Result<T, E = SubhaloError> = std::result::Result<T, E>;
