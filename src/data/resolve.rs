//! Where datasets live on disk: the one resolution rule every command and
//! example uses.

use super::{check, DataError, Registry};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable that names the data directory.
pub const DATA_DIR_ENV: &str = "DARKPROBE_DATA";

/// Which rule chose the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDirSource {
    /// The `--data-dir` command-line flag.
    Flag,
    /// The `DARKPROBE_DATA` environment variable.
    Env,
    /// The platform cache directory (e.g. `~/.cache/darkprobe/data` on Linux).
    Cache,
}

impl fmt::Display for DataDirSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataDirSource::Flag => "from --data-dir",
            DataDirSource::Env => "from DARKPROBE_DATA",
            DataDirSource::Cache => "platform cache; set --data-dir or DARKPROBE_DATA to change",
        })
    }
}

/// The folder that holds one sub-folder per dataset, and how it was chosen.
///
/// ```
/// use darkprobe::data::{resolve_data_dir, DataDirSource};
/// use std::path::Path;
/// // An explicit flag always wins.
/// let dir = resolve_data_dir(Some(Path::new("/srv/darkprobe-data"))).unwrap();
/// assert_eq!(dir.source(), DataDirSource::Flag);
/// assert_eq!(dir.dataset_path("mlfermidwarfs"), Path::new("/srv/darkprobe-data/mlfermidwarfs"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
    source: DataDirSource,
}

impl DataDir {
    /// A data directory at `path`, chosen by `source`.
    pub fn new(path: impl Into<PathBuf>, source: DataDirSource) -> Self {
        Self {
            path: path.into(),
            source,
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which rule chose it.
    pub fn source(&self) -> DataDirSource {
        self.source
    }

    /// The folder of dataset `name` (whether or not it exists).
    pub fn dataset_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The command that fetches `name` into this directory.
    ///
    /// The `--data-dir` flag is repeated when it chose the directory; with
    /// `DARKPROBE_DATA` or the cache the plain command fetches to the same place.
    pub fn fetch_command(&self, name: &str) -> String {
        match self.source {
            DataDirSource::Flag => format!(
                "darkprobe data fetch {name} --data-dir {}",
                shell_quote(&self.path.display().to_string())
            ),
            DataDirSource::Env | DataDirSource::Cache => format!("darkprobe data fetch {name}"),
        }
    }

    /// The folder of the built-in dataset `name`, after checking that every
    /// file is present with its registered size (checksums are not computed;
    /// `darkprobe data verify` does that).
    ///
    /// # Errors
    /// [`DataError::UnknownDataset`] for a name the registry does not know,
    /// [`DataError::DatasetMissing`] (with the exact fetch command) when files
    /// are absent.
    pub fn dataset(&self, name: &str) -> Result<PathBuf, DataError> {
        self.dataset_in(&Registry::builtin()?, name)
    }

    /// As [`DataDir::dataset`], with an explicit registry.
    ///
    /// # Errors
    /// As [`DataDir::dataset`].
    pub fn dataset_in(&self, registry: &Registry, name: &str) -> Result<PathBuf, DataError> {
        let ds = registry.get(name)?;
        let dir = self.dataset_path(name);
        let missing: Vec<String> = ds
            .files
            .iter()
            .filter(|f| !check::has_registered_size(&dir, f))
            .map(|f| f.path.clone())
            .collect();
        if missing.is_empty() {
            Ok(dir)
        } else {
            Err(DataError::DatasetMissing {
                name: name.to_string(),
                dir,
                missing,
                n_files: ds.files.len(),
                fetch_command: self.fetch_command(name),
            })
        }
    }

    /// The path of one file of a built-in dataset, after checking that this
    /// file (only) is present with its registered size.
    ///
    /// # Errors
    /// [`DataError::UnknownDataset`], [`DataError::UnknownFile`], or
    /// [`DataError::DatasetMissing`] with the fetch command.
    pub fn file(&self, dataset: &str, file: &str) -> Result<PathBuf, DataError> {
        let registry = Registry::builtin()?;
        let ds = registry.get(dataset)?;
        let f = ds.file(file)?;
        let dir = self.dataset_path(dataset);
        if check::has_registered_size(&dir, f) {
            Ok(check::file_path(&dir, f))
        } else {
            Err(DataError::DatasetMissing {
                name: dataset.to_string(),
                dir,
                missing: vec![file.to_string()],
                n_files: ds.files.len(),
                fetch_command: self.fetch_command(dataset),
            })
        }
    }
}

/// The platform cache folder for datasets (`<cache>/darkprobe/data`, e.g.
/// `~/.cache/darkprobe/data` on Linux), if the platform has one.
pub fn default_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "darkprobe").map(|p| p.cache_dir().join("data"))
}

/// Chooses the data directory: `cli_flag` if given, else the `DARKPROBE_DATA`
/// environment variable if set and non-empty, else the platform cache folder.
///
/// Every darkprobe command and example calls this, so a dataset fetched once is
/// found everywhere.
///
/// # Errors
/// [`DataError::NoDataDir`] when neither a flag nor the variable is given and
/// the platform has no cache folder (e.g. no home directory).
pub fn resolve_data_dir(cli_flag: Option<&Path>) -> Result<DataDir, DataError> {
    resolve_data_dir_with(
        cli_flag,
        std::env::var_os(DATA_DIR_ENV),
        default_cache_dir(),
    )
}

/// The rule of [`resolve_data_dir`] with its inputs made explicit (for tests
/// and for callers that read their settings elsewhere).
///
/// # Errors
/// [`DataError::NoDataDir`] when all three inputs are missing or empty.
pub fn resolve_data_dir_with(
    cli_flag: Option<&Path>,
    env_value: Option<OsString>,
    cache: Option<PathBuf>,
) -> Result<DataDir, DataError> {
    if let Some(flag) = cli_flag.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(DataDir::new(flag, DataDirSource::Flag));
    }
    if let Some(env) = env_value.filter(|v| !v.is_empty()) {
        return Ok(DataDir::new(PathBuf::from(env), DataDirSource::Env));
    }
    match cache {
        Some(c) => Ok(DataDir::new(c, DataDirSource::Cache)),
        None => Err(DataError::NoDataDir {
            reason: "the platform has no cache directory (is HOME set?)".into(),
        }),
    }
}

/// The folder of built-in dataset `name` under the resolved data directory,
/// checked to hold every file with its registered size.
///
/// This is the one call an example or test needs:
/// `let dir = darkprobe::data::dataset_dir("mlfermidwarfs", None)?;`
///
/// # Errors
/// [`DataError::NoDataDir`], [`DataError::UnknownDataset`], or
/// [`DataError::DatasetMissing`] whose message is the exact
/// `darkprobe data fetch` command to run.
pub fn dataset_dir(name: &str, cli_flag: Option<&Path>) -> Result<PathBuf, DataError> {
    resolve_data_dir(cli_flag)?.dataset(name)
}

/// Quotes `s` for a POSIX shell when it contains anything but safe characters.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_cache() {
        let flag = Path::new("/flag");
        let env = Some(OsString::from("/env"));
        let cache = Some(PathBuf::from("/cache"));
        let d = resolve_data_dir_with(Some(flag), env.clone(), cache.clone()).unwrap();
        assert_eq!((d.path(), d.source()), (flag, DataDirSource::Flag));
        let d = resolve_data_dir_with(None, env.clone(), cache.clone()).unwrap();
        assert_eq!(
            (d.path(), d.source()),
            (Path::new("/env"), DataDirSource::Env)
        );
        let d = resolve_data_dir_with(None, None, cache.clone()).unwrap();
        assert_eq!(
            (d.path(), d.source()),
            (Path::new("/cache"), DataDirSource::Cache)
        );
        // Empty values count as unset.
        let d = resolve_data_dir_with(Some(Path::new("")), Some(OsString::new()), cache).unwrap();
        assert_eq!(d.source(), DataDirSource::Cache);
        let e = resolve_data_dir_with(None, Some(OsString::new()), None).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("--data-dir") && msg.contains("DARKPROBE_DATA"),
            "{msg}"
        );
        assert!(e.is_bad_input());
    }

    #[test]
    fn the_cache_dir_ends_in_darkprobe_data() {
        if let Some(c) = default_cache_dir() {
            assert!(c.ends_with("data"), "{}", c.display());
            assert!(c.to_string_lossy().to_lowercase().contains("darkprobe"));
        }
    }

    #[test]
    fn missing_dataset_error_names_the_exact_fetch_command() {
        let tmp = std::env::temp_dir().join(format!("darkprobe-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let with_flag = DataDir::new(tmp.join("my data"), DataDirSource::Flag);
        let e = with_flag.dataset("cosmixs-gamma-2024").unwrap_err();
        let msg = e.to_string();
        assert!(e.is_bad_input());
        assert!(
            msg.contains(&format!(
                "run `darkprobe data fetch cosmixs-gamma-2024 --data-dir '{}'`",
                tmp.join("my data").display()
            )),
            "{msg}"
        );
        assert!(msg.contains("AtProduction-Gamma.dat"), "{msg}");
        let from_env = DataDir::new(&tmp, DataDirSource::Env);
        let msg = from_env
            .dataset("cosmixs-gamma-2024")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("run `darkprobe data fetch cosmixs-gamma-2024`"),
            "{msg}"
        );
        let msg = from_env.dataset("nope").unwrap_err().to_string();
        assert!(msg.contains("unknown dataset 'nope'"), "{msg}");
        let msg = from_env
            .file("cosmixs-gamma-2024", "nope.dat")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("AtProduction-Gamma.dat"), "{msg}");
    }

    #[test]
    #[ignore = "needs DARKPROBE_DATA"]
    fn every_builtin_dataset_is_found_in_darkprobe_data() {
        let dir = resolve_data_dir(None).unwrap();
        assert_eq!(dir.source(), DataDirSource::Env);
        let registry = Registry::builtin().unwrap();
        for ds in registry.datasets() {
            let path = dir.dataset(&ds.name).unwrap();
            assert_eq!(path, dir.path().join(&ds.name));
            for f in &ds.files {
                let p = dir.file(&ds.name, &f.path).unwrap();
                assert!(p.is_file(), "{}", p.display());
            }
        }
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(shell_quote("/a b"), "'/a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
