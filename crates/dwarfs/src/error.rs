//! Errors of darkprobe-dwarfs.

/// Errors raised by the dwarf analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DwarfsError {
    /// A dwarf name that is not in the table.
    #[error("unknown dwarf '{name}': known dwarfs (case-insensitive) are {known}")]
    UnknownDwarf {
        /// The name as given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A FITS file could not be read or written, or lacks what is needed.
    #[error("FITS file '{path}': {reason}")]
    Fits {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An error from darkprobe-kde.
    #[error(transparent)]
    Kde(#[from] darkprobe_kde::KdeError),
    /// An error from darkprobe-limits (spectra, likelihood, limits).
    #[error(transparent)]
    Limits(#[from] darkprobe_limits::LimitsError),
    /// An error from darkprobe-core (parse errors with file and line, invalid
    /// parameters, empty inputs, numerical failures, ...).
    #[error(transparent)]
    Core(#[from] darkprobe_core::Error),
}

impl DwarfsError {
    /// True when the error was caused by the user's input (see
    /// [`darkprobe_core::Error::is_bad_input`]).
    pub fn is_bad_input(&self) -> bool {
        match self {
            DwarfsError::UnknownDwarf { .. } | DwarfsError::Fits { .. } => true,
            DwarfsError::Kde(e) => match e {
                darkprobe_kde::KdeError::Core(c) => c.is_bad_input(),
                _ => true,
            },
            DwarfsError::Limits(e) => match e {
                darkprobe_limits::LimitsError::Core(c) => c.is_bad_input(),
                darkprobe_limits::LimitsError::Kde(darkprobe_kde::KdeError::Core(c)) => {
                    c.is_bad_input()
                }
                darkprobe_limits::LimitsError::UnknownChannel { .. }
                | darkprobe_limits::LimitsError::MassOutOfRange { .. } => true,
                _ => false,
            },
            DwarfsError::Core(c) => c.is_bad_input(),
        }
    }
}

impl From<DwarfsError> for darkprobe_core::Error {
    fn from(e: DwarfsError) -> Self {
        match e {
            DwarfsError::Core(inner) => inner,
            DwarfsError::Kde(k) => k.into(),
            DwarfsError::Limits(darkprobe_limits::LimitsError::UnknownChannel {
                name,
                table,
                available,
            }) => darkprobe_core::Error::invalid_param(
                format!("channel in {table}"),
                format!("'{name}'"),
                format!("one of {available}"),
            ),
            DwarfsError::Limits(darkprobe_limits::LimitsError::MassOutOfRange {
                mass_gev,
                table,
                reason,
            }) => darkprobe_core::Error::invalid_param(
                format!("mass_gev for {table}"),
                mass_gev,
                reason,
            ),
            DwarfsError::Limits(l) => l.into(),
            DwarfsError::UnknownDwarf { name, known } => darkprobe_core::Error::invalid_param(
                "dwarf",
                format!("'{name}'"),
                format!("one of (case-insensitive) {known}"),
            ),
            other => darkprobe_core::Error::upstream(other),
        }
    }
}

/// Result alias of darkprobe-dwarfs.
pub type Result<T, E = DwarfsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_dwarf_lists_names_and_converts_to_core() {
        let e = DwarfsError::UnknownDwarf {
            name: "Drako".into(),
            known: "Draco, UrsaMinor".into(),
        };
        assert_eq!(
            e.to_string(),
            "unknown dwarf 'Drako': known dwarfs (case-insensitive) are Draco, UrsaMinor"
        );
        assert!(e.is_bad_input());
        let c: darkprobe_core::Error = e.into();
        assert!(c.is_bad_input());
        assert!(c.to_string().contains("Drako"));
        let core = DwarfsError::from(darkprobe_core::Error::empty("x", "y"));
        assert!(matches!(
            darkprobe_core::Error::from(core),
            darkprobe_core::Error::Empty { .. }
        ));
    }
}
