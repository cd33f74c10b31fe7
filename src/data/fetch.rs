//! Downloading datasets: resumable, checksummed, atomic (feature `download`).
//!
//! A file is downloaded into `<file>.part` next to its final place. An
//! interrupted transfer leaves the `.part` file, and the next fetch asks the
//! server for the remaining bytes with an HTTP `Range` request (starting over
//! if the server ignores it). Once all bytes are in, the SHA-256 is compared
//! with the registry: on a match the file is renamed into place (an atomic step
//! on one file system), otherwise it is deleted and the fetch fails.

use super::check::{check_file, file_path, hex, sha256_file, FileState};
use super::{derive, DataDir, DataError, Dataset, FileSource};
use darkprobe_core::progress::Progress;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of the HTTP client.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for the server to start answering.
    pub response_timeout: Duration,
    /// Longest silence allowed while receiving data.
    pub read_timeout: Duration,
    /// Use a proxy from `ALL_PROXY` / `HTTPS_PROXY` / `HTTP_PROXY` (honouring
    /// `NO_PROXY`) when set.
    pub proxy_from_env: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            proxy_from_env: true,
        }
    }
}

/// What fetching one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// The file was already present with the right checksum; nothing was downloaded.
    AlreadyVerified,
    /// The file was downloaded (or finished from a partial download) and verified.
    Downloaded {
        /// Bytes received in this run.
        bytes: u64,
        /// Bytes that were already in the partial file when this run started.
        resumed_from: u64,
    },
    /// The file was made from another file of the dataset and verified.
    Derived {
        /// The file it was made from.
        from: String,
    },
    /// The file cannot be downloaded; the registry says how to obtain it
    /// (`darkprobe data info <dataset>` prints the recipe).
    NeedsManualStep,
}

/// One file's result within a dataset fetch.
#[derive(Debug)]
pub struct FileReport {
    /// Registry path of the file.
    pub path: String,
    /// What happened.
    pub result: Result<FileOutcome, DataError>,
}

/// The result of fetching a dataset.
#[derive(Debug)]
pub struct DatasetFetch {
    /// The dataset.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// One report per registered file, in registry order.
    pub files: Vec<FileReport>,
}

impl DatasetFetch {
    /// Every file is on disk and verified.
    pub fn is_complete(&self) -> bool {
        self.files.iter().all(|f| {
            matches!(
                f.result,
                Ok(FileOutcome::AlreadyVerified
                    | FileOutcome::Downloaded { .. }
                    | FileOutcome::Derived { .. })
            )
        })
    }

    /// The files that failed, with their errors.
    pub fn errors(&self) -> impl Iterator<Item = (&str, &DataError)> {
        self.files
            .iter()
            .filter_map(|f| f.result.as_ref().err().map(|e| (f.path.as_str(), e)))
    }
}

/// A blocking HTTPS downloader (ureq with rustls and the Mozilla root
/// certificates).
///
/// ```no_run
/// use darkprobe::data::{resolve_data_dir, FetchOptions, Fetcher, Registry};
/// use darkprobe::core::progress::NoProgress;
/// let registry = Registry::builtin()?;
/// let dir = resolve_data_dir(None)?;
/// let fetcher = Fetcher::new(&FetchOptions::default());
/// let report = fetcher.fetch_dataset(&dir, registry.get("cosmixs-gamma-2024")?, &NoProgress, &mut |_| {});
/// assert!(report.is_complete());
/// # Ok::<(), darkprobe::data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
}

impl Fetcher {
    /// A downloader with these settings.
    pub fn new(options: &FetchOptions) -> Self {
        let proxy = if options.proxy_from_env {
            ureq::Proxy::try_from_env()
        } else {
            None
        };
        let config = ureq::Agent::config_builder()
            .proxy(proxy)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_recv_response(Some(options.response_timeout))
            .timeout_per_read(Some(options.read_timeout))
            .user_agent(concat!(
                "darkprobe/",
                env!("CARGO_PKG_VERSION"),
                " (data fetch)"
            ))
            .build();
        Self {
            agent: config.into(),
        }
    }

    /// Downloads `url` to `dest`, resuming `dest.part` if present, and keeps
    /// it only if it has `size_bytes` bytes and SHA-256 `sha256`.
    ///
    /// A `dest` that already has the right checksum is left alone; one that
    /// does not is replaced once the new download is verified.
    ///
    /// # Errors
    /// [`DataError::Network`] when the server cannot be reached,
    /// [`DataError::HttpStatus`] for an HTTP error (e.g. 404),
    /// [`DataError::Truncated`] when the transfer stops early (the partial
    /// file is kept for resuming), [`DataError::SizeMismatch`],
    /// [`DataError::TooLarge`] and [`DataError::ChecksumMismatch`] when the
    /// bytes are wrong (nothing is kept), [`DataError::Io`] for local disk
    /// errors.
    pub fn fetch_file(
        &self,
        url: &str,
        dest: &Path,
        size_bytes: u64,
        sha256: &str,
        progress: &dyn Progress,
    ) -> Result<FileOutcome, DataError> {
        if let Ok(m) = std::fs::metadata(dest) {
            if m.is_file() && m.len() == size_bytes && sha256_file(dest)? == sha256 {
                return Ok(FileOutcome::AlreadyVerified);
            }
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        }
        let mut part = dest.as_os_str().to_owned();
        part.push(super::check::PARTIAL_SUFFIX);
        let part = PathBuf::from(part);
        let label = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| url.to_string());

        let resumed_from;
        let mut received = 0;
        let mut attempt = 0;
        let hasher = loop {
            attempt += 1;
            let mut offset = match std::fs::metadata(&part) {
                Ok(m) => m.len(),
                Err(_) => 0,
            };
            if offset > size_bytes {
                remove(&part)?;
                offset = 0;
            }
            let mut hasher = Sha256::new();
            if offset > 0 {
                hash_prefix(&part, &mut hasher)?;
            }
            if offset == size_bytes {
                // A complete partial file (e.g. interrupted before the rename).
                resumed_from = offset;
                break hasher;
            }
            let mut request = self.agent.get(url);
            if offset > 0 {
                request = request.header("Range", format!("bytes={offset}-"));
            }
            let mut response = match request.call() {
                Ok(r) => r,
                Err(ureq::Error::StatusCode(416)) if offset > 0 && attempt == 1 => {
                    // The server does not accept our range: start over.
                    remove(&part)?;
                    continue;
                }
                Err(e) => return Err(request_error(url, e)),
            };
            let status = response.status().as_u16();
            let append = if offset > 0 && status == 206 {
                let start = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(offset) {
                    if attempt == 1 {
                        remove(&part)?;
                        continue;
                    }
                    return Err(DataError::Network {
                        url: url.to_string(),
                        reason: "the server answered a range request with the wrong range".into(),
                        offline_hint: false,
                    });
                }
                true
            } else {
                // Full content (the server ignored the range, or none was asked).
                if offset > 0 {
                    hasher = Sha256::new();
                    offset = 0;
                }
                false
            };
            resumed_from = offset;
            // A Content-Length that contradicts the registry means another file.
            let announced = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(len) = announced {
                let total = if append { offset + len } else { len };
                if total != size_bytes {
                    remove(&part)?;
                    return Err(DataError::SizeMismatch {
                        url: url.to_string(),
                        expected: size_bytes,
                        served: total,
                    });
                }
            }
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&part)
                .map_err(|e| DataError::io(&part, e))?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            progress.start(&label, size_bytes);
            progress.inc(offset);
            let mut reader = response.body_mut().as_reader();
            let mut buf = vec![0u8; 1 << 16];
            let mut written = offset;
            let stop = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        if written + n as u64 > size_bytes {
                            drop(out);
                            remove(&part)?;
                            progress.finish();
                            return Err(DataError::TooLarge {
                                url: url.to_string(),
                                expected: size_bytes,
                            });
                        }
                        out.write_all(&buf[..n])
                            .map_err(|e| DataError::io(&part, e))?;
                        hasher.update(&buf[..n]);
                        written += n as u64;
                        received += n as u64;
                        progress.inc(n as u64);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Some(e.to_string()),
                }
            };
            out.flush().map_err(|e| DataError::io(&part, e))?;
            out.get_ref()
                .sync_all()
                .map_err(|e| DataError::io(&part, e))?;
            drop(out);
            progress.finish();
            if written < size_bytes {
                return Err(DataError::Truncated {
                    url: url.to_string(),
                    received: written,
                    expected: size_bytes,
                    reason: stop.unwrap_or_else(|| "the connection closed early".into()),
                    partial: part,
                });
            }
            break hasher;
        };
        let actual = hex(&hasher.finalize());
        if actual != sha256 {
            remove(&part)?;
            return Err(DataError::ChecksumMismatch {
                path: dest.to_path_buf(),
                origin: url.to_string(),
                expected: sha256.to_string(),
                actual,
            });
        }
        std::fs::rename(&part, dest).map_err(|e| DataError::io(dest, e))?;
        Ok(FileOutcome::Downloaded {
            bytes: received,
            resumed_from,
        })
    }

    /// Fetches every downloadable file of `dataset` into its folder under
    /// `dir`, then makes the derived files darkprobe can make itself.
    ///
    /// Failures are collected per file (one bad file does not stop the
    /// others); `on_file` is called as each file finishes.
    pub fn fetch_dataset(
        &self,
        dir: &DataDir,
        dataset: &Dataset,
        progress: &dyn Progress,
        on_file: &mut dyn FnMut(&FileReport),
    ) -> DatasetFetch {
        let ds_dir = dir.dataset_path(&dataset.name);
        let mut files = Vec::with_capacity(dataset.files.len());
        let mut report = |files: &mut Vec<FileReport>, r: FileReport| {
            on_file(&r);
            files.push(r);
        };
        for f in &dataset.files {
            if let FileSource::Url { url, .. } = &f.source {
                let result = self.fetch_file(
                    url,
                    &file_path(&ds_dir, f),
                    f.size_bytes,
                    &f.sha256,
                    progress,
                );
                let r = FileReport {
                    path: f.path.clone(),
                    result,
                };
                report(&mut files, r);
            }
        }
        for f in &dataset.files {
            let result = match &f.source {
                FileSource::Url { .. } => continue,
                FileSource::Manual { .. } => manual_or_present(&ds_dir, f),
                FileSource::Derived { builtin: None, .. } => manual_or_present(&ds_dir, f),
                FileSource::Derived {
                    from,
                    builtin: Some(b),
                    ..
                } => derive_one(&ds_dir, dataset, f, from, *b),
            };
            report(
                &mut files,
                FileReport {
                    path: f.path.clone(),
                    result,
                },
            );
        }
        // Report in registry order.
        files.sort_by_key(|r| dataset.files.iter().position(|f| f.path == r.path));
        DatasetFetch {
            name: dataset.name.clone(),
            dir: ds_dir,
            files,
        }
    }
}

/// A file that needs a manual step: fine if it is already there and verified.
fn manual_or_present(ds_dir: &Path, f: &super::DataFile) -> Result<FileOutcome, DataError> {
    Ok(match check_file(ds_dir, f, true)?.state {
        FileState::Verified => FileOutcome::AlreadyVerified,
        _ => FileOutcome::NeedsManualStep,
    })
}

fn derive_one(
    ds_dir: &Path,
    dataset: &Dataset,
    f: &super::DataFile,
    from: &str,
    builtin: super::Builtin,
) -> Result<FileOutcome, DataError> {
    if check_file(ds_dir, f, true)?.state == FileState::Verified {
        return Ok(FileOutcome::AlreadyVerified);
    }
    let source = dataset.file(from)?;
    let src_check = check_file(ds_dir, source, true)?;
    if src_check.state != FileState::Verified {
        return Err(DataError::Derive {
            file: f.path.clone(),
            from: from.to_string(),
            reason: format!(
                "the source is not verified ({})",
                src_check.describe().trim()
            ),
        });
    }
    derive::derive_file(builtin, &src_check.path, ds_dir, f)?;
    Ok(FileOutcome::Derived {
        from: from.to_string(),
    })
}

/// Removes a file that may already be gone.
fn remove(path: &Path) -> Result<(), DataError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// Feeds the current content of `path` to `hasher`.
fn hash_prefix(path: &Path, hasher: &mut Sha256) -> Result<(), DataError> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes")?
        .trim_start()
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Turns a client error into a [`DataError`], flagging likely offline cases.
fn request_error(url: &str, e: ureq::Error) -> DataError {
    use std::io::ErrorKind;
    match e {
        ureq::Error::StatusCode(status) => DataError::HttpStatus {
            url: url.to_string(),
            status,
        },
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) => {
            DataError::Network {
                url: url.to_string(),
                reason: e.to_string(),
                offline_hint: true,
            }
        }
        ureq::Error::Io(io) => {
            let offline = matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::TimedOut
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
            );
            DataError::Network {
                url: url.to_string(),
                reason: io.to_string(),
                offline_hint: offline,
            }
        }
        other => DataError::Network {
            url: url.to_string(),
            reason: other.to_string(),
            offline_hint: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start(" bytes  0-9/10 "), Some(0));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }
}
