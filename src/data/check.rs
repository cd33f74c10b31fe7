//! Checking datasets on disk against the registry's sizes and SHA-256 sums.

use super::{DataDir, DataError, DataFile, Dataset, FileSource};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Suffix of a partial download, next to the file it will become.
pub const PARTIAL_SUFFIX: &str = ".part";

/// Where registry file `file` lives inside dataset folder `dir`.
pub fn file_path(dir: &Path, file: &DataFile) -> PathBuf {
    let mut p = dir.to_path_buf();
    for part in file.path.split('/') {
        p.push(part);
    }
    p
}

/// Where the partial download of `file` lives inside dataset folder `dir`.
pub fn partial_path(dir: &Path, file: &DataFile) -> PathBuf {
    let mut p = file_path(dir, file).into_os_string();
    p.push(PARTIAL_SUFFIX);
    PathBuf::from(p)
}

/// Whether `file` exists in `dir` as a regular file of the registered size.
pub(crate) fn has_registered_size(dir: &Path, file: &DataFile) -> bool {
    std::fs::metadata(file_path(dir, file))
        .map(|m| m.is_file() && m.len() == file.size_bytes)
        .unwrap_or(false)
}

/// The SHA-256 of a file, as 64 lowercase hexadecimal digits.
///
/// ```
/// let path = std::env::temp_dir().join(format!("darkprobe-sha-doc-{}", std::process::id()));
/// std::fs::write(&path, b"abc").unwrap();
/// let sum = darkprobe::data::sha256_file(&path).unwrap();
/// assert_eq!(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// # std::fs::remove_file(&path).unwrap();
/// ```
///
/// # Errors
/// [`DataError::Io`] if the file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The state of one registered file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present with the registered size and SHA-256.
    Verified,
    /// Present with the registered size; the checksum was not computed.
    SizeOk,
    /// Absent, and no partial download either.
    Missing,
    /// Absent, but a partial download of this many bytes is waiting to be resumed.
    Partial {
        /// Bytes downloaded so far.
        bytes: u64,
    },
    /// Present with another size.
    WrongSize {
        /// The size found.
        found: u64,
    },
    /// Present with the registered size but another checksum.
    Corrupt {
        /// The checksum found.
        actual_sha256: String,
    },
}

impl FileState {
    /// Whether the file is usable (verified, or of the right size when not hashed).
    pub fn is_ok(&self) -> bool {
        matches!(self, FileState::Verified | FileState::SizeOk)
    }

    /// Whether the file is on disk in some form (including a partial download).
    pub fn is_present(&self) -> bool {
        !matches!(self, FileState::Missing)
    }
}

/// One file's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The registry entry.
    pub file: DataFile,
    /// Where it was looked for.
    pub path: PathBuf,
    /// What was found.
    pub state: FileState,
}

impl FileCheck {
    /// A one-line description, e.g. `ok  AtProduction-Gamma.dat` or
    /// `BAD fig1_data.npz: checksum ...`.
    pub fn describe(&self) -> String {
        let p = &self.file.path;
        match &self.state {
            FileState::Verified => format!("ok       {p}"),
            FileState::SizeOk => format!("present  {p} (checksum not computed)"),
            FileState::Missing => match &self.file.source {
                FileSource::Url { .. } => format!("missing  {p}"),
                FileSource::Derived { from, .. } => {
                    format!("missing  {p} (derived from {from}; see `darkprobe data info`)")
                }
                FileSource::Manual { .. } => {
                    format!("missing  {p} (no public download; see `darkprobe data info`)")
                }
            },
            FileState::Partial { bytes } => format!(
                "partial  {p} ({bytes} of {} bytes; `darkprobe data fetch` resumes it)",
                self.file.size_bytes
            ),
            FileState::WrongSize { found } => format!(
                "BAD      {p}: {found} bytes, expected {}",
                self.file.size_bytes
            ),
            FileState::Corrupt { actual_sha256 } => format!(
                "BAD      {p}: sha256 {actual_sha256}, expected {}",
                self.file.sha256
            ),
        }
    }
}

/// The check of a whole dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetCheck {
    /// The dataset's name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// One entry per registered file, in registry order.
    pub files: Vec<FileCheck>,
}

impl DatasetCheck {
    /// Every file is usable.
    pub fn is_complete(&self) -> bool {
        self.files.iter().all(|f| f.state.is_ok())
    }

    /// Every file was hashed and matches.
    pub fn is_verified(&self) -> bool {
        self.files.iter().all(|f| f.state == FileState::Verified)
    }

    /// No file (not even a partial one) is on disk.
    pub fn is_absent(&self) -> bool {
        self.files.iter().all(|f| !f.state.is_present())
    }

    /// Some file is on disk with the wrong size or checksum.
    pub fn has_bad_files(&self) -> bool {
        self.files.iter().any(|f| {
            matches!(
                f.state,
                FileState::WrongSize { .. } | FileState::Corrupt { .. }
            )
        })
    }

    /// Number of usable files.
    pub fn n_ok(&self) -> usize {
        self.files.iter().filter(|f| f.state.is_ok()).count()
    }

    /// A short status: `verified`, `present (not verified)`, `absent`,
    /// `BAD (2 of 5 files damaged)` or `incomplete (3/5 files)`.
    pub fn summary(&self) -> String {
        let n = self.files.len();
        if self.is_verified() {
            "verified".into()
        } else if self.is_complete() {
            "present (not verified)".into()
        } else if self.is_absent() {
            "absent".into()
        } else if self.has_bad_files() {
            let bad = self
                .files
                .iter()
                .filter(|f| {
                    matches!(
                        f.state,
                        FileState::WrongSize { .. } | FileState::Corrupt { .. }
                    )
                })
                .count();
            format!("BAD ({bad} of {n} files damaged)")
        } else {
            format!("incomplete ({}/{n} files)", self.n_ok())
        }
    }
}

/// Checks one registered file in dataset folder `dir`; `hash` computes the
/// SHA-256 (otherwise only the size is compared).
///
/// # Errors
/// [`DataError::Io`] if a present file cannot be read.
pub fn check_file(dir: &Path, file: &DataFile, hash: bool) -> Result<FileCheck, DataError> {
    let path = file_path(dir, file);
    let state = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {
            if m.len() != file.size_bytes {
                FileState::WrongSize { found: m.len() }
            } else if !hash {
                FileState::SizeOk
            } else {
                let actual = sha256_file(&path)?;
                if actual == file.sha256 {
                    FileState::Verified
                } else {
                    FileState::Corrupt {
                        actual_sha256: actual,
                    }
                }
            }
        }
        Ok(_) => FileState::WrongSize { found: 0 },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::metadata(partial_path(dir, file)) {
                Ok(m) if m.is_file() => FileState::Partial { bytes: m.len() },
                _ => FileState::Missing,
            }
        }
        Err(e) => return Err(DataError::io(&path, e)),
    };
    Ok(FileCheck {
        file: file.clone(),
        path,
        state,
    })
}

/// Checks every file of `dataset` under data directory `dir`.
///
/// ```
/// use darkprobe::data::{check_dataset, DataDir, DataDirSource, Registry};
/// let registry = Registry::builtin().unwrap();
/// let empty = std::env::temp_dir().join("darkprobe-doc-no-data-here");
/// let dir = DataDir::new(&empty, DataDirSource::Flag);
/// let check = check_dataset(&dir, registry.get("cosmixs-gamma-2024").unwrap(), true).unwrap();
/// assert!(check.is_absent());
/// assert_eq!(check.summary(), "absent");
/// ```
///
/// # Errors
/// [`DataError::Io`] if a present file cannot be read.
pub fn check_dataset(
    dir: &DataDir,
    dataset: &Dataset,
    hash: bool,
) -> Result<DatasetCheck, DataError> {
    let ds_dir = dir.dataset_path(&dataset.name);
    let files = dataset
        .files
        .iter()
        .map(|f| check_file(&ds_dir, f, hash))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DatasetCheck {
        name: dataset.name.clone(),
        dir: ds_dir,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, content: &[u8]) -> DataFile {
        DataFile {
            path: path.into(),
            size_bytes: content.len() as u64,
            sha256: hex(&Sha256::digest(content)),
            source: FileSource::Manual { how: "test".into() },
            note: None,
        }
    }

    #[test]
    fn sha256_matches_the_fips_180_test_vectors() {
        let dir = std::env::temp_dir().join(format!("darkprobe-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [(&[u8], &str); 3] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            let p = dir.join(format!("v{i}"));
            std::fs::write(&p, input).unwrap();
            assert_eq!(sha256_file(&p).unwrap(), *want);
        }
        // One million 'a', read in several buffers.
        let p = dir.join("million");
        std::fs::write(&p, vec![b'a'; 1_000_000]).unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        let e = sha256_file(&dir.join("absent")).unwrap_err().to_string();
        assert!(e.contains("absent"), "{e}");
    }

    #[test]
    fn every_file_state_is_recognised() {
        let dir = std::env::temp_dir().join(format!("darkprobe-states-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let good = entry("sub/good.txt", b"good content");
        std::fs::write(dir.join("sub/good.txt"), b"good content").unwrap();
        let state = |f: &DataFile, hash| check_file(&dir, f, hash).unwrap().state;
        assert_eq!(state(&good, true), FileState::Verified);
        assert_eq!(state(&good, false), FileState::SizeOk);

        let corrupt = entry("corrupt.txt", b"right bytes!");
        std::fs::write(dir.join("corrupt.txt"), b"wrong bytes!").unwrap();
        assert_eq!(
            state(&corrupt, true),
            FileState::Corrupt {
                actual_sha256: hex(&Sha256::digest(b"wrong bytes!"))
            }
        );
        assert_eq!(state(&corrupt, false), FileState::SizeOk);

        let short = entry("short.txt", b"twelve bytes");
        std::fs::write(dir.join("short.txt"), b"six b").unwrap();
        assert_eq!(state(&short, true), FileState::WrongSize { found: 5 });

        let partial = entry("partial.bin", b"0123456789");
        std::fs::write(partial_path(&dir, &partial), b"0123").unwrap();
        assert_eq!(state(&partial, true), FileState::Partial { bytes: 4 });

        let missing = entry("missing.bin", b"x");
        assert_eq!(state(&missing, true), FileState::Missing);

        let data_dir = DataDir::new(&dir, super::super::DataDirSource::Flag);
        let ds = Dataset {
            name: "sub".into(),
            description: String::new(),
            used_by: String::new(),
            license: String::new(),
            citation: vec![],
            origin: String::new(),
            files: vec![entry("good.txt", b"good content")],
        };
        let c = check_dataset(&data_dir, &ds, true).unwrap();
        assert!(c.is_verified() && c.is_complete() && !c.is_absent());
        assert_eq!(c.summary(), "verified");
        assert_eq!(c.files[0].describe(), "ok       good.txt");
    }
}
