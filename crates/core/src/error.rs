//! The error type shared by every darkprobe crate.
//!
//! Every variant carries the context a physicist needs to fix the problem:
//! which file and line, which parameter and what range was allowed, which
//! numerical procedure failed and where it stopped.

use std::fmt;
use std::path::PathBuf;

/// Result alias used across darkprobe.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a text input a value came from: file, 1-based line and column name.
///
/// `file` is the path as the user gave it, or a description such as
/// `"<string>"` for in-memory input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File path (or a description of the input).
    pub file: String,
    /// 1-based line number; 0 when the problem concerns the file as a whole.
    pub line: usize,
    /// Column name or 0-based index as text; empty when not column-specific.
    pub column: String,
}

impl Location {
    /// A location in `file` at 1-based `line`, not tied to a column.
    pub fn new(file: impl Into<String>, line: usize) -> Self {
        Self {
            file: file.into(),
            line,
            column: String::new(),
        }
    }

    /// The same location, narrowed to the column `column`.
    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.column = column.into();
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ", line {}", self.line)?;
        }
        if !self.column.is_empty() {
            write!(f, ", column '{}'", self.column)?;
        }
        Ok(())
    }
}

/// Errors raised by darkprobe.
///
/// The enum is `#[non_exhaustive]`: match on the variants you handle and keep a
/// wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("cannot access '{}': {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A value in a text input could not be used.
    #[error("{location}: {reason} (found '{text}')")]
    Parse {
        /// Where the offending text is.
        location: Location,
        /// The offending text, shortened to at most 80 characters.
        text: String,
        /// What was expected instead.
        reason: String,
    },

    /// A parameter is outside its allowed range or set.
    #[error("invalid {name} = {value}: allowed {allowed}")]
    InvalidParameter {
        /// Name of the parameter, as the user knows it.
        name: String,
        /// The value given, formatted.
        value: String,
        /// The allowed range or set, in words (e.g. "finite and > 0").
        allowed: String,
    },

    /// An iterative numerical procedure failed.
    #[error("{what} failed after {iterations} iterations (last value {last_value:e}): {reason}")]
    Numerical {
        /// The procedure (e.g. "Brent root finding for the upper limit").
        what: String,
        /// Iterations performed.
        iterations: usize,
        /// The last value of the quantity being driven (objective, residual, ...).
        last_value: f64,
        /// Why it stopped.
        reason: String,
    },

    /// Array or table dimensions do not agree.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// What was being combined.
        what: String,
        /// The expected shape, formatted.
        expected: String,
        /// The shape found, formatted.
        found: String,
    },

    /// An input holds no data where some is required.
    #[error("{what} is empty: {hint}")]
    Empty {
        /// What was empty (e.g. "void sample file 'voids.dat'").
        what: String,
        /// What the user should provide.
        hint: String,
    },

    /// An error from a crate built on top of darkprobe-core, boxed.
    #[error(transparent)]
    Upstream(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Shortens `text` to at most 80 characters for display in an error message.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX - 3).collect();
        format!("{head}...")
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error at `location`; `text` is shortened for display.
    pub fn parse(location: Location, text: &str, reason: impl Into<String>) -> Self {
        Error::Parse {
            location,
            text: shorten(text),
            reason: reason.into(),
        }
    }

    /// An invalid-parameter error.
    ///
    /// ```
    /// use darkprobe_core::Error;
    /// let e = Error::invalid_param("bandwidth", -1.0, "finite and > 0");
    /// assert_eq!(e.to_string(), "invalid bandwidth = -1: allowed finite and > 0");
    /// ```
    pub fn invalid_param(
        name: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            value: shorten(&value.to_string()),
            allowed: allowed.into(),
        }
    }

    /// A numerical-failure error.
    pub fn numerical(
        what: impl Into<String>,
        iterations: usize,
        last_value: f64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Numerical {
            what: what.into(),
            iterations,
            last_value,
            reason: reason.into(),
        }
    }

    /// A shape-mismatch error.
    pub fn shape(
        what: impl Into<String>,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Self {
        Error::ShapeMismatch {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// An empty-input error.
    pub fn empty(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Empty {
            what: what.into(),
            hint: hint.into(),
        }
    }

    /// Wraps an error from a higher-level crate.
    pub fn upstream(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Upstream(Box::new(err))
    }

    /// True when the error was caused by the user's input or parameters
    /// (the CLI exits with status 2 for these), false for I/O and numerical
    /// failures.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Parse { .. }
            | Error::InvalidParameter { .. }
            | Error::ShapeMismatch { .. }
            | Error::Empty { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData
            ),
            Error::Upstream(inner) => inner
                .downcast_ref::<Error>()
                .map(Error::is_bad_input)
                .unwrap_or(false),
            Error::Numerical { .. } => false,
        }
    }
}

/// Checks that `value` is finite and strictly positive.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `name` otherwise.
///
/// ```
/// use darkprobe_core::error::check_positive;
/// assert!(check_positive("sigma", 1.4).is_ok());
/// assert!(check_positive("sigma", f64::NAN).is_err());
/// ```
pub fn check_positive(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(Error::invalid_param(name, value, "finite and > 0"))
    }
}

/// Checks that `value` is finite.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `name` otherwise.
pub fn check_finite(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::invalid_param(name, value, "a finite number"))
    }
}

/// Checks that `value` lies in the closed interval `[lo, hi]`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `name` otherwise (NaN is rejected).
pub fn check_in_range(name: &str, value: f64, lo: f64, hi: f64) -> Result<f64> {
    if value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(Error::invalid_param(
            name,
            value,
            format!("in [{lo}, {hi}]"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_file_line_column_and_text() {
        let e = Error::parse(
            Location::new("dwarfs.dat", 17).with_column("log10_j"),
            "abc",
            "expected a number",
        );
        assert_eq!(
            e.to_string(),
            "dwarfs.dat, line 17, column 'log10_j': expected a number (found 'abc')"
        );
        assert!(e.is_bad_input());
    }

    #[test]
    fn long_text_is_shortened() {
        let long = "x".repeat(500);
        let e = Error::parse(Location::new("f", 1), &long, "bad");
        let Error::Parse { text, .. } = e else {
            panic!("wrong variant")
        };
        assert_eq!(text.chars().count(), 80);
        assert!(text.ends_with("..."));
    }

    #[test]
    fn upstream_keeps_bad_input_classification() {
        let inner = Error::invalid_param("mass", -3.0, "> 0");
        let e = Error::upstream(inner);
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), "invalid mass = -3: allowed > 0");
        let num = Error::upstream(Error::numerical("Brent", 100, 1.0, "no convergence"));
        assert!(!num.is_bad_input());
    }

    #[test]
    fn checks_reject_nan_and_bounds() {
        assert!(check_positive("h", 0.0).is_err());
        assert!(check_finite("x", f64::INFINITY).is_err());
        assert!(check_in_range("cl", 0.95, 0.0, 1.0).is_ok());
        assert!(check_in_range("cl", f64::NAN, 0.0, 1.0).is_err());
        assert!(check_in_range("cl", 1.5, 0.0, 1.0).is_err());
    }
}
