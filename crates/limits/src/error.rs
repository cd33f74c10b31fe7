//! Errors of darkprobe-limits.

/// Errors raised by spectra, likelihoods and limit setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A channel name not present in a spectrum table.
    #[error("unknown annihilation channel '{name}' in {table}; available: {available}")]
    UnknownChannel {
        /// The name asked for.
        name: String,
        /// The table (file) searched.
        table: String,
        /// The channels the table has, comma-separated.
        available: String,
    },
    /// A dark-matter mass outside what a table covers (or not tabulated when
    /// interpolation was not asked for).
    #[error("mass {mass_gev} GeV is not available in {table}: {reason}")]
    MassOutOfRange {
        /// The mass asked for, GeV.
        mass_gev: f64,
        /// The table (file).
        table: String,
        /// What is available / what to do.
        reason: String,
    },
    /// The test statistic never reached the threshold within the search range.
    #[error("no upper limit below <sigma v> = {sigma_v_max_cm3_s:e} cm^3/s: -2 delta ln L only reaches {reached} (threshold {threshold})")]
    LimitNotReached {
        /// The largest cross-section tried, cm^3/s.
        sigma_v_max_cm3_s: f64,
        /// The largest -2 delta ln L found.
        reached: f64,
        /// The threshold.
        threshold: f64,
    },
    /// An error from darkprobe-kde.
    #[error(transparent)]
    Kde(#[from] darkprobe_kde::KdeError),
    /// An error from darkprobe-core.
    #[error(transparent)]
    Core(#[from] darkprobe_core::Error),
}

impl From<LimitsError> for darkprobe_core::Error {
    fn from(e: LimitsError) -> Self {
        match e {
            LimitsError::Core(inner) => inner,
            LimitsError::Kde(inner) => inner.into(),
            other => darkprobe_core::Error::upstream(other),
        }
    }
}

/// Result alias of darkprobe-limits.
pub type Result<T, E = LimitsError> = std::result::Result<T, E>;
