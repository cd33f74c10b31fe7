//! Data provisioning: the registry of public datasets, the rule that finds
//! them on disk, checksum verification and (feature `download`) resumable
//! downloads.
//!
//! darkprobe's analyses run on public datasets (MLFermiLATDwarfs inputs,
//! CosmiXs spectra, Fermi-LAT 4FGL tables, HernquistFlows reference data).
//! The repository never holds them; it holds their registry
//! (`data/datasets.toml`, compiled in): for each file a download URL pinned to
//! an upstream commit, its size and its SHA-256.
//!
//! # Where datasets live
//!
//! One rule, used by every command, example and real-data test
//! ([`resolve_data_dir`]): the `--data-dir` flag if given, else the
//! `DARKPROBE_DATA` environment variable, else the platform cache folder
//! (`~/.cache/darkprobe/data` on Linux). Dataset `NAME` is the sub-folder
//! `NAME`. A missing dataset is an error whose message is the exact
//! `darkprobe data fetch` command to run.
//!
//! ```
//! use darkprobe::data::{resolve_data_dir_with, DataDirSource};
//! use std::path::Path;
//! let dir = resolve_data_dir_with(None, Some("/data".into()), None).unwrap();
//! assert_eq!(dir.source(), DataDirSource::Env);
//! let err = dir.dataset("mlfermidwarfs").unwrap_err().to_string();
//! assert!(err.contains("run `darkprobe data fetch mlfermidwarfs`"));
//! ```
//!
//! # Integrity
//!
//! A file counts as present only with its registered size; `verify` also
//! compares the SHA-256. Downloads go to `<file>.part`, resume with HTTP
//! `Range` requests, and are renamed into place only after the checksum
//! matches; a mismatching download is deleted. Files that upstream does not
//! publish directly are marked in the registry as derived (with the
//! conversion; darkprobe runs the ones it can) or manual.
//!
//! # Features
//!
//! `download` (default) adds [`Fetcher`] and `darkprobe data fetch`, through
//! the `ureq` HTTP client with rustls. Without it everything else works on
//! files placed by hand.

mod check;
mod derive;
mod error;
#[cfg(feature = "download")]
mod fetch;
mod registry;
mod resolve;

pub use check::{
    check_dataset, check_file, file_path, partial_path, sha256_file, DatasetCheck, FileCheck,
    FileState, PARTIAL_SUFFIX,
};
pub use derive::derive_file;
pub use error::DataError;
#[cfg(feature = "download")]
pub use fetch::{DatasetFetch, FetchOptions, Fetcher, FileOutcome, FileReport};
pub use registry::{
    Builtin, DataFile, Dataset, FileSource, Registry, UrlStatus, BUILTIN_REGISTRY_TOML,
};
pub use resolve::{
    dataset_dir, default_cache_dir, resolve_data_dir, resolve_data_dir_with, DataDir,
    DataDirSource, DATA_DIR_ENV,
};

/// The code examples of `data/README.md`, compiled and run as doc tests.
#[doc = include_str!("../../data/README.md")]
#[cfg(doctest)]
pub struct DataReadmeDoctests;
