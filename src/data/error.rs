//! The error type of data provisioning.

use std::path::PathBuf;

/// Errors raised while finding, fetching or verifying datasets.
///
/// Every message says what to do next: which command to run, which file to
/// delete, which setting to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No dataset of this name is in the registry.
    #[error("unknown dataset '{name}'; known datasets: {}", known.join(", "))]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The names the registry holds.
        known: Vec<String>,
    },

    /// The registry text is not valid.
    #[error("invalid dataset registry {origin}: {reason}")]
    InvalidRegistry {
        /// Where the registry came from (a file path or "built-in").
        origin: String,
        /// What is wrong, with the line when known.
        reason: String,
    },

    /// No data directory could be determined.
    #[error(
        "no data directory: {reason}; pass --data-dir DIR or set {env}=DIR",
        env = super::DATA_DIR_ENV
    )]
    NoDataDir {
        /// Why the platform cache directory is not available.
        reason: String,
    },

    /// A dataset (or some of its files) is not on disk.
    #[error(
        "dataset '{name}' is not complete in {} ({}); run `{fetch_command}`",
        dir.display(),
        describe_missing(missing, *n_files)
    )]
    DatasetMissing {
        /// The dataset.
        name: String,
        /// The folder that was searched.
        dir: PathBuf,
        /// Files that are absent or have the wrong size.
        missing: Vec<String>,
        /// Number of files in the dataset.
        n_files: usize,
        /// The exact command that fetches the dataset into that folder.
        fetch_command: String,
    },

    /// A file is not part of a dataset.
    #[error("dataset '{dataset}' has no file '{file}'; its files are: {}", known.join(", "))]
    UnknownFile {
        /// The dataset.
        dataset: String,
        /// The file asked for.
        file: String,
        /// The dataset's files.
        known: Vec<String>,
    },

    /// Reading or writing a local file failed.
    #[error("cannot access '{}': {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The server could not be reached or the connection failed.
    #[error("cannot download {url}: {reason}{}", if *offline_hint {
        " (no connection: are you offline, or behind a proxy that needs HTTPS_PROXY?)"
    } else { "" })]
    Network {
        /// The URL being fetched.
        url: String,
        /// The client's description of the failure.
        reason: String,
        /// Whether the failure looks like missing connectivity.
        offline_hint: bool,
    },

    /// The server answered with an HTTP error status.
    #[error(
        "{url} answered HTTP {status}; the file may have moved upstream \
         (check the dataset's origin with `darkprobe data info`)"
    )]
    HttpStatus {
        /// The URL being fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },

    /// A downloaded or converted file does not have the registered SHA-256.
    #[error(
        "checksum mismatch for '{}' (from {origin}): expected sha256 {expected}, got {actual}; \
         the file was deleted",
        path.display()
    )]
    ChecksumMismatch {
        /// Where the file would have been stored.
        path: PathBuf,
        /// The URL or conversion it came from.
        origin: String,
        /// The registered checksum.
        expected: String,
        /// The checksum of the bytes received.
        actual: String,
    },

    /// The transfer stopped before the whole file arrived.
    #[error(
        "transfer of {url} stopped after {received} of {expected} bytes ({reason}); \
         the partial file '{}' is kept and the next `darkprobe data fetch` resumes it",
        partial.display()
    )]
    Truncated {
        /// The URL being fetched.
        url: String,
        /// Bytes on disk so far.
        received: u64,
        /// Bytes expected.
        expected: u64,
        /// Why the transfer stopped.
        reason: String,
        /// The partial file.
        partial: PathBuf,
    },

    /// The server sent more bytes than the registry expects.
    #[error(
        "{url} sent more than the {expected} bytes the registry expects; the download was \
         deleted (the upstream file has probably changed)"
    )]
    TooLarge {
        /// The URL being fetched.
        url: String,
        /// Bytes expected.
        expected: u64,
    },

    /// The server announces a file of another size than the registry's.
    #[error(
        "{url} serves {served} bytes but the registry expects {expected}; nothing was kept \
         (the upstream file has probably changed: check `darkprobe data info`)"
    )]
    SizeMismatch {
        /// The URL being fetched.
        url: String,
        /// Bytes expected.
        expected: u64,
        /// Total size the server announced.
        served: u64,
    },

    /// A derived file could not be made from its source.
    #[error("cannot derive '{file}' from '{from}': {reason}")]
    Derive {
        /// The derived file.
        file: String,
        /// The source file.
        from: String,
        /// What went wrong.
        reason: String,
    },

    /// Downloading is not compiled in.
    #[error(
        "this darkprobe was built without the `download` feature: download the files listed \
         by `darkprobe data info {name}` into {}, then run `darkprobe data verify {name}`",
        dir.display()
    )]
    DownloadDisabled {
        /// The dataset.
        name: String,
        /// Where its files belong.
        dir: PathBuf,
    },
}

/// "none of its 22 files is there" / "missing: a, b" / "missing: a, b, c, d, e and 3 more".
fn describe_missing(missing: &[String], n_files: usize) -> String {
    const SHOWN: usize = 5;
    if missing.len() == n_files && n_files > 1 {
        return format!("none of its {n_files} files is there");
    }
    if missing.len() <= SHOWN {
        return format!("missing: {}", missing.join(", "));
    }
    format!(
        "missing: {} and {} more",
        missing[..SHOWN].join(", "),
        missing.len() - SHOWN
    )
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the error comes from the user's input or environment (unknown
    /// names, a missing dataset, a bad registry file) rather than from a
    /// failure while running (network, checksum, disk).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DataError::UnknownDataset { .. }
                | DataError::InvalidRegistry { .. }
                | DataError::NoDataDir { .. }
                | DataError::DatasetMissing { .. }
                | DataError::UnknownFile { .. }
        )
    }
}

impl From<DataError> for darkprobe_core::Error {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Io { path, source } => darkprobe_core::Error::io(path, source),
            other => darkprobe_core::Error::Upstream(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("f{i}")).collect()
    }

    #[test]
    fn missing_files_are_summarised() {
        assert_eq!(describe_missing(&names(1), 1), "missing: f0");
        assert_eq!(
            describe_missing(&names(22), 22),
            "none of its 22 files is there"
        );
        assert_eq!(describe_missing(&names(2), 5), "missing: f0, f1");
        assert_eq!(
            describe_missing(&names(8), 9),
            "missing: f0, f1, f2, f3, f4 and 3 more"
        );
    }

    #[test]
    fn conversion_to_the_core_error_keeps_the_message() {
        let e = DataError::HttpStatus {
            url: "http://x/y".into(),
            status: 404,
        };
        let msg = e.to_string();
        let core: darkprobe_core::Error = e.into();
        assert_eq!(core.to_string(), msg);
        let io: darkprobe_core::Error = DataError::io("/a", std::io::Error::other("boom")).into();
        assert!(matches!(io, darkprobe_core::Error::Io { .. }));
    }
}
