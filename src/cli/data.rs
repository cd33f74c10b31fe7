//! `darkprobe data list|fetch|verify|path|info`: the public datasets on disk.

use super::{CliError, EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_NEGATIVE, EXIT_OK};
use crate::data::{
    check_dataset, resolve_data_dir, DataDir, DataError, Dataset, FileSource, Registry,
};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The `--data-dir` option, for any command that reads datasets.
///
/// Flatten it into a command's arguments (`#[command(flatten)]`) and call
/// [`DataDirArg::resolve`]: the flag, else `DARKPROBE_DATA`, else the
/// platform cache folder.
#[derive(Debug, Clone, Default, Args)]
pub struct DataDirArg {
    /// Folder with one sub-folder per dataset [default: $DARKPROBE_DATA, else the platform cache folder].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The data directory chosen by the resolution rule.
    ///
    /// # Errors
    /// [`DataError::NoDataDir`] when no rule gives a folder.
    pub fn resolve(&self) -> Result<DataDir, DataError> {
        resolve_data_dir(self.data_dir.as_deref())
    }
}

/// Arguments of `darkprobe data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Where the datasets are.
    #[command(flatten)]
    pub dir: DataDirArg,
    /// Use this registry file instead of the built-in one (same layout as data/datasets.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// The data command.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// Subcommands of `darkprobe data`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// List the datasets with their size and whether they are present and verified.
    List,
    /// Download datasets into the data directory (resumable; checksums verified).
    Fetch {
        /// Datasets to fetch.
        #[arg(required_unless_present = "all", value_name = "NAME")]
        names: Vec<String>,
        /// Fetch every dataset.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Check the SHA-256 of every file on disk. Exit status 1 if a file is
    /// damaged, or if a dataset named here is not complete.
    Verify {
        /// Datasets to verify [default: every dataset with files on disk].
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Print the folder of a dataset (an error with the fetch command if it is
    /// not there), or of the data directory when no name is given.
    Path {
        /// The dataset.
        name: Option<String>,
    },
    /// Show a dataset's description, licence, citation and where each file comes from.
    Info {
        /// The dataset.
        name: String,
    },
}

fn cli_error(e: DataError) -> CliError {
    CliError {
        code: if e.is_bad_input() {
            EXIT_BAD_INPUT
        } else {
            EXIT_FAILURE
        },
        error: e.into(),
    }
}

/// Runs `darkprobe data ...`; `quiet` hides the download progress bar.
///
/// # Errors
/// A [`CliError`]: exit status 2 for unknown names, a missing dataset or a
/// bad registry; 3 for network, checksum and disk failures.
pub fn run(args: DataArgs, quiet: bool) -> Result<u8, CliError> {
    let registry = match &args.registry {
        Some(path) => Registry::from_toml_file(path),
        None => Registry::builtin(),
    }
    .map_err(cli_error)?;
    let dir = args.dir.resolve().map_err(cli_error)?;
    match args.command {
        DataCommand::List => list(&registry, &dir),
        DataCommand::Fetch { names, all } => {
            let datasets = select(&registry, &names, all)?;
            fetch(&datasets, &dir, quiet)
        }
        DataCommand::Verify { names } => verify(&registry, &dir, &names),
        DataCommand::Path { name: None } => {
            println!("{}", dir.path().display());
            Ok(EXIT_OK)
        }
        DataCommand::Path { name: Some(name) } => {
            let p = dir.dataset_in(&registry, &name).map_err(cli_error)?;
            println!("{}", p.display());
            Ok(EXIT_OK)
        }
        DataCommand::Info { name } => {
            let ds = registry.get(&name).map_err(cli_error)?;
            print!("{}", info_text(ds, &dir));
            Ok(EXIT_OK)
        }
    }
}

/// The datasets named on the command line (all of them with `all`), checked
/// before anything is done.
fn select<'a>(
    registry: &'a Registry,
    names: &[String],
    all: bool,
) -> Result<Vec<&'a Dataset>, CliError> {
    if all {
        return Ok(registry.datasets().iter().collect());
    }
    names
        .iter()
        .map(|n| registry.get(n).map_err(cli_error))
        .collect()
}

/// `n` followed by `word`, with an `s` unless `n` is 1.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Bytes as a short human-readable size (binary units).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn header(dir: &DataDir) {
    println!(
        "data directory: {} ({})",
        dir.path().display(),
        dir.source()
    );
}

fn list(registry: &Registry, dir: &DataDir) -> Result<u8, CliError> {
    header(dir);
    let width = registry
        .datasets()
        .iter()
        .map(|d| d.name.len())
        .max()
        .unwrap_or(4)
        .max(7);
    println!(
        "{:<width$}  {:>5}  {:>9}  status",
        "dataset", "files", "size"
    );
    for ds in registry.datasets() {
        let check = check_dataset(dir, ds, true).map_err(cli_error)?;
        println!(
            "{:<width$}  {:>5}  {:>9}  {}",
            ds.name,
            ds.files.len(),
            human_size(ds.size_bytes()),
            check.summary()
        );
    }
    println!("fetch with `darkprobe data fetch NAME` or `darkprobe data fetch --all`");
    Ok(EXIT_OK)
}

fn verify(registry: &Registry, dir: &DataDir, names: &[String]) -> Result<u8, CliError> {
    let named = !names.is_empty();
    let datasets = select(registry, names, !named)?;
    header(dir);
    let mut failed = false;
    for ds in datasets {
        let check = check_dataset(dir, ds, true).map_err(cli_error)?;
        if check.is_verified() {
            println!("{}: verified ({})", ds.name, plural(ds.files.len(), "file"));
            continue;
        }
        if check.is_absent() {
            println!(
                "{}: absent (fetch with `{}`)",
                ds.name,
                dir.fetch_command(&ds.name)
            );
            failed |= named;
            continue;
        }
        println!("{}: {}", ds.name, check.summary());
        for f in &check.files {
            println!("  {}", f.describe());
        }
        failed |= check.has_bad_files() || named;
    }
    Ok(if failed { EXIT_NEGATIVE } else { EXIT_OK })
}

/// The text of `darkprobe data info NAME`.
pub fn info_text(ds: &Dataset, dir: &DataDir) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", ds.name, ds.description);
    let _ = writeln!(s, "used by:  {}", ds.used_by);
    let _ = writeln!(s, "licence:  {}", ds.license);
    let _ = writeln!(s, "origin:   {}", ds.origin);
    let _ = writeln!(s, "cite:");
    for c in &ds.citation {
        let _ = writeln!(s, "  - {c}");
    }
    let _ = writeln!(
        s,
        "folder:   {} ({}, {})",
        dir.dataset_path(&ds.name).display(),
        plural(ds.files.len(), "file"),
        human_size(ds.size_bytes())
    );
    for f in &ds.files {
        let _ = writeln!(s, "\n{} ({} bytes)", f.path, f.size_bytes);
        let _ = writeln!(s, "  sha256  {}", f.sha256);
        match &f.source {
            FileSource::Url { url, status } => {
                let _ = writeln!(s, "  url     {url}");
                let _ = writeln!(s, "  url checked: {}", status.as_str());
            }
            FileSource::Derived {
                from,
                recipe,
                builtin,
            } => {
                let who = if builtin.is_some() {
                    "made by `darkprobe data fetch`"
                } else {
                    "to be made by hand"
                };
                let _ = writeln!(s, "  derived from {from} ({who}): {recipe}");
            }
            FileSource::Manual { how } => {
                let _ = writeln!(s, "  no public download: {how}");
            }
        }
        if let Some(note) = &f.note {
            let _ = writeln!(s, "  note    {note}");
        }
    }
    s
}

#[cfg(not(feature = "download"))]
fn fetch(datasets: &[&Dataset], dir: &DataDir, _quiet: bool) -> Result<u8, CliError> {
    let name = datasets.first().map(|d| d.name.clone()).unwrap_or_default();
    Err(CliError {
        code: EXIT_FAILURE,
        error: DataError::DownloadDisabled {
            dir: dir.dataset_path(&name),
            name,
        }
        .into(),
    })
}

#[cfg(feature = "download")]
fn fetch(datasets: &[&Dataset], dir: &DataDir, quiet: bool) -> Result<u8, CliError> {
    use crate::data::{FetchOptions, Fetcher, FileOutcome};

    let fetcher = Fetcher::new(&FetchOptions::default());
    let bar = bytes_bar::ByteBar::new(quiet);
    let mut failures: Vec<String> = Vec::new();
    let mut manual: Vec<String> = Vec::new();
    header(dir);
    for ds in datasets {
        println!(
            "fetching {} ({}) into {}",
            ds.name,
            human_size(ds.size_bytes()),
            dir.dataset_path(&ds.name).display()
        );
        let report = fetcher.fetch_dataset(dir, ds, &bar, &mut |r| {
            let size = ds
                .file(&r.path)
                .map(|f| human_size(f.size_bytes))
                .unwrap_or_default();
            let line = match &r.result {
                Ok(FileOutcome::AlreadyVerified) => {
                    format!("ok          {} (already verified)", r.path)
                }
                Ok(FileOutcome::Downloaded {
                    resumed_from: 0, ..
                }) => {
                    format!("downloaded  {} ({size})", r.path)
                }
                Ok(FileOutcome::Downloaded { resumed_from, .. }) => format!(
                    "resumed     {} ({size}; {} were already here)",
                    r.path,
                    human_size(*resumed_from)
                ),
                Ok(FileOutcome::Derived { from }) => format!("derived     {} from {from}", r.path),
                Ok(FileOutcome::NeedsManualStep) => format!(
                    "by hand     {}: no direct download; see `darkprobe data info {}`",
                    r.path, ds.name
                ),
                Err(e) => format!("FAILED      {}: {e}", r.path),
            };
            println!("  {line}");
        });
        for (path, e) in report.errors() {
            failures.push(format!("{}/{path}: {e}", ds.name));
        }
        for f in &report.files {
            if matches!(f.result, Ok(FileOutcome::NeedsManualStep)) {
                manual.push(format!("{}/{}", ds.name, f.path));
            }
        }
        if report.is_complete() {
            println!("{}: complete and verified", ds.name);
        }
    }
    if !manual.is_empty() {
        println!(
            "{} file(s) have no direct download and need a manual step (see `darkprobe data info`): {}",
            manual.len(),
            manual.join(", ")
        );
    }
    if failures.is_empty() {
        Ok(EXIT_OK)
    } else {
        Err(CliError {
            code: EXIT_FAILURE,
            error: anyhow::anyhow!(
                "{} file(s) could not be fetched:\n  {}",
                failures.len(),
                failures.join("\n  ")
            ),
        })
    }
}

#[cfg(feature = "download")]
mod bytes_bar {
    //! A byte-counting progress bar for downloads.

    use darkprobe_core::progress::Progress;
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    use std::sync::Mutex;

    /// A download progress bar on stderr (hidden when quiet or not a terminal).
    pub(super) struct ByteBar {
        visible: bool,
        bar: Mutex<Option<ProgressBar>>,
    }

    impl ByteBar {
        pub(super) fn new(quiet: bool) -> Self {
            Self {
                visible: !quiet && std::io::stderr().is_terminal(),
                bar: Mutex::new(None),
            }
        }
    }

    impl Progress for ByteBar {
        fn start(&self, label: &str, total: u64) {
            let bar = if self.visible {
                let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg:>32} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                ) {
                    b.set_style(style.progress_chars("=> "));
                }
                b
            } else {
                ProgressBar::hidden()
            };
            bar.set_message(label.to_string());
            if let Ok(mut slot) = self.bar.lock() {
                if let Some(old) = slot.replace(bar) {
                    old.finish_and_clear();
                }
            }
        }

        fn inc(&self, n: u64) {
            if let Ok(slot) = self.bar.lock() {
                if let Some(b) = slot.as_ref() {
                    b.inc(n);
                }
            }
        }

        fn finish(&self) {
            if let Ok(mut slot) = self.bar.lock() {
                if let Some(b) = slot.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(2_716_814), "2.6 MiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
