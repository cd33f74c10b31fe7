//! The dataset registry: which files make up each dataset, their checksums and
//! where they come from.
//!
//! The built-in registry is `data/datasets.toml`, compiled into the binary; a
//! registry with the same layout can be read from any file (a private mirror,
//! or the tests' local server).

use super::DataError;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// The registry text compiled into darkprobe (`data/datasets.toml`).
pub const BUILTIN_REGISTRY_TOML: &str = include_str!("../../data/datasets.toml");

/// How far a download URL was checked when it was written into the registry.
///
/// Whatever the status, a download is accepted only if its SHA-256 matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStatus {
    /// The file is at this path and commit upstream, and the stored copy has the
    /// same length and last line as the checksummed file.
    Checked,
    /// The path and commit exist upstream; the bytes were not compared.
    PathOnly,
    /// The path follows from the upstream packaging; the file was not seen.
    Inferred,
}

impl UrlStatus {
    /// The registry spelling (`checked`, `path-only`, `inferred`).
    pub fn as_str(self) -> &'static str {
        match self {
            UrlStatus::Checked => "checked",
            UrlStatus::PathOnly => "path-only",
            UrlStatus::Inferred => "inferred",
        }
    }
}

/// A conversion darkprobe can run itself to make a derived file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Columns `x, y0..y4` of HernquistFlows' `fig3_data.npz` as a CSV table.
    Fig3NpzToCsv,
}

impl Builtin {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "fig3-npz-to-csv" => Some(Builtin::Fig3NpzToCsv),
            _ => None,
        }
    }
}

/// How a file of a dataset is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// A direct download.
    Url {
        /// The download URL (pinned to a commit for repository files).
        url: String,
        /// How far the URL was checked.
        status: UrlStatus,
    },
    /// Made from another file of the same dataset.
    Derived {
        /// The file it is made from.
        from: String,
        /// How to make it, in words (and code when it must be done by hand).
        recipe: String,
        /// The conversion darkprobe runs itself, if any.
        builtin: Option<Builtin>,
    },
    /// No public file exists; the text says how to obtain it.
    Manual {
        /// How to obtain the file.
        how: String,
    },
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Path inside the dataset folder, with `/` separators.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the content, 64 lowercase hexadecimal digits.
    pub sha256: String,
    /// How the file is obtained.
    pub source: FileSource,
    /// Remarks on the file's origin.
    pub note: Option<String>,
}

impl DataFile {
    /// The download URL, if the file is downloadable.
    pub fn url(&self) -> Option<&str> {
        match &self.source {
            FileSource::Url { url, .. } => Some(url),
            _ => None,
        }
    }
}

/// A dataset: a folder of files used by one analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Folder name and command-line name (lowercase letters, digits and `-`).
    pub name: String,
    /// What the data are.
    pub description: String,
    /// The analysis (and crates) that use it.
    pub used_by: String,
    /// The licence the files come under.
    pub license: String,
    /// What to cite when using it.
    pub citation: Vec<String>,
    /// The public origin (repository, commit, date).
    pub origin: String,
    /// The files.
    pub files: Vec<DataFile>,
}

impl Dataset {
    /// Total size of the files in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size_bytes).sum()
    }

    /// The file with registry path `path`.
    ///
    /// # Errors
    /// [`DataError::UnknownFile`] when the dataset has no such file.
    pub fn file(&self, path: &str) -> Result<&DataFile, DataError> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| DataError::UnknownFile {
                dataset: self.name.clone(),
                file: path.to_string(),
                known: self.files.iter().map(|f| f.path.clone()).collect(),
            })
    }
}

/// The set of known datasets.
///
/// ```
/// use darkprobe::data::Registry;
/// let registry = Registry::builtin().unwrap();
/// let dwarfs = registry.get("mlfermidwarfs").unwrap();
/// assert_eq!(dwarfs.files.len(), 22);
/// assert!(registry.get("no-such-data").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    datasets: Vec<Dataset>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    dataset: Vec<RawDataset>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: String,
    description: String,
    used_by: String,
    license: String,
    #[serde(default)]
    citation: Vec<String>,
    origin: String,
    #[serde(default)]
    file: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: String,
    size: u64,
    sha256: String,
    url: Option<String>,
    url_status: Option<String>,
    derived_from: Option<String>,
    recipe: Option<String>,
    builtin: Option<String>,
    manual: Option<String>,
    note: Option<String>,
}

impl Registry {
    /// The registry compiled into darkprobe.
    ///
    /// # Errors
    /// [`DataError::InvalidRegistry`] if the compiled-in text is invalid (a
    /// build defect, caught by the test suite).
    pub fn builtin() -> Result<Self, DataError> {
        Self::from_toml_str(BUILTIN_REGISTRY_TOML, "built-in (data/datasets.toml)")
    }

    /// Reads a registry file with the layout of `data/datasets.toml`.
    ///
    /// # Errors
    /// [`DataError::Io`] if the file cannot be read, [`DataError::InvalidRegistry`]
    /// if its content is invalid.
    pub fn from_toml_file(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        Self::from_toml_str(&text, &format!("'{}'", path.display()))
    }

    /// Parses and validates registry text; `origin` names it in error messages.
    ///
    /// # Errors
    /// [`DataError::InvalidRegistry`] naming the dataset, file and field at fault.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::InvalidRegistry {
            origin: origin.to_string(),
            reason,
        };
        let raw: RawRegistry =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        let mut names = HashSet::new();
        let mut datasets = Vec::with_capacity(raw.dataset.len());
        for d in raw.dataset {
            if !is_valid_name(&d.name) {
                return Err(invalid(format!(
                    "dataset name '{}' must be non-empty lowercase letters, digits and '-'",
                    d.name
                )));
            }
            if !names.insert(d.name.clone()) {
                return Err(invalid(format!("dataset '{}' is listed twice", d.name)));
            }
            if d.file.is_empty() {
                return Err(invalid(format!("dataset '{}' has no files", d.name)));
            }
            let mut paths = HashSet::new();
            let mut files = Vec::with_capacity(d.file.len());
            for f in d.file {
                let at = |what: &str| format!("dataset '{}', file '{}': {what}", d.name, f.path);
                if let Some(reason) = path_problem(&f.path) {
                    return Err(invalid(at(&reason)));
                }
                if !paths.insert(f.path.clone()) {
                    return Err(invalid(at("listed twice")));
                }
                if !is_sha256(&f.sha256) {
                    return Err(invalid(at(&format!(
                        "sha256 '{}' is not 64 lowercase hexadecimal digits",
                        f.sha256
                    ))));
                }
                let source = match (&f.url, &f.derived_from, &f.manual) {
                    (Some(url), None, None) => {
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            return Err(invalid(at(&format!(
                                "url '{url}' must start with https:// or http://"
                            ))));
                        }
                        let status = match f.url_status.as_deref() {
                            Some("checked") => UrlStatus::Checked,
                            Some("path-only") => UrlStatus::PathOnly,
                            Some("inferred") => UrlStatus::Inferred,
                            other => {
                                return Err(invalid(at(&format!(
                                    "url_status {other:?} must be \"checked\", \"path-only\" \
                                     or \"inferred\""
                                ))))
                            }
                        };
                        if f.recipe.is_some() || f.builtin.is_some() {
                            return Err(invalid(at("recipe/builtin are only for derived files")));
                        }
                        FileSource::Url {
                            url: url.clone(),
                            status,
                        }
                    }
                    (None, Some(from), None) => {
                        let Some(recipe) = f.recipe.clone() else {
                            return Err(invalid(at("a derived file needs a recipe")));
                        };
                        let builtin = match f.builtin.as_deref() {
                            None => None,
                            Some(b) => Some(Builtin::parse(b).ok_or_else(|| {
                                invalid(at(&format!(
                                    "unknown builtin conversion '{b}' (known: fig3-npz-to-csv)"
                                )))
                            })?),
                        };
                        FileSource::Derived {
                            from: from.clone(),
                            recipe,
                            builtin,
                        }
                    }
                    (None, None, Some(how)) => FileSource::Manual { how: how.clone() },
                    _ => {
                        return Err(invalid(at(
                            "exactly one of url, derived_from or manual must be given",
                        )))
                    }
                };
                if f.url.is_none() && f.url_status.is_some() {
                    return Err(invalid(at("url_status without url")));
                }
                files.push(DataFile {
                    path: f.path,
                    size_bytes: f.size,
                    sha256: f.sha256,
                    source,
                    note: f.note,
                });
            }
            // A derived file must come from a downloadable file of the same dataset.
            for f in &files {
                if let FileSource::Derived { from, .. } = &f.source {
                    let ok = files
                        .iter()
                        .any(|g| &g.path == from && matches!(g.source, FileSource::Url { .. }));
                    if !ok {
                        return Err(invalid(format!(
                            "dataset '{}', file '{}': derived_from '{from}' is not a \
                             downloadable file of the dataset",
                            d.name, f.path
                        )));
                    }
                }
            }
            datasets.push(Dataset {
                name: d.name,
                description: d.description,
                used_by: d.used_by,
                license: d.license,
                citation: d.citation,
                origin: d.origin,
                files,
            });
        }
        Ok(Self { datasets })
    }

    /// All datasets, in registry order.
    pub fn datasets(&self) -> &[Dataset] {
        &self.datasets
    }

    /// The dataset called `name`.
    ///
    /// # Errors
    /// [`DataError::UnknownDataset`] listing the known names.
    pub fn get(&self, name: &str) -> Result<&Dataset, DataError> {
        self.datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| DataError::UnknownDataset {
                name: name.to_string(),
                known: self.names(),
            })
    }

    /// The dataset names, in registry order.
    pub fn names(&self) -> Vec<String> {
        self.datasets.iter().map(|d| d.name.clone()).collect()
    }
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why a registry path is unsafe or malformed, if it is.
fn path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("the path is empty".into());
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Some("the path must be relative, with '/' separators".into());
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("the path must not contain empty, '.' or '..' components".into());
    }
    if path.ends_with(".part") {
        return Some("'.part' is reserved for partial downloads".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[dataset]]
name = "demo"
description = "d"
used_by = "tests"
license = "MIT"
origin = "here"

[[dataset.file]]
path = "a/b.txt"
size = 3
sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
url = "http://127.0.0.1:1/b.txt"
url_status = "checked"
"#;

    #[test]
    fn builtin_registry_is_valid_and_matches_the_documented_datasets() {
        let r = Registry::builtin().unwrap();
        let names = r.names();
        for expected in [
            "mlfermidwarfs",
            "cosmixs-gamma-2024",
            "fermi-4fgl-dr4-lp-features",
            "fermi-4fgl-dr2-probcat-bhat-malyshev",
            "fermi-4fgl-dr4-srcpop-uw1410",
            "fermi-4fgl-unids-dm-gammaldi2023",
            "hernquist-flows-reference",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing");
        }
        assert_eq!(names.len(), 7);
        let n_files: usize = r.datasets().iter().map(|d| d.files.len()).sum();
        assert_eq!(n_files, 39);
        for d in r.datasets() {
            assert!(!d.citation.is_empty(), "{} has no citation", d.name);
            assert!(!d.license.is_empty());
            for f in &d.files {
                assert!(f.size_bytes > 0, "{}/{}", d.name, f.path);
                if let FileSource::Url { url, .. } = &f.source {
                    // Real URLs are HTTPS and pinned to a 40-hex commit.
                    assert!(
                        url.starts_with("https://raw.githubusercontent.com/"),
                        "{url}"
                    );
                    let commit = url.split('/').nth(5).unwrap();
                    assert_eq!(commit.len(), 40, "{url}");
                    assert!(commit.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
                }
            }
        }
        // The documented special cases: derived CSVs and the hand-made reference table.
        let lp = r.get("fermi-4fgl-dr4-lp-features").unwrap();
        assert!(matches!(
            lp.file("assoc_E0_1GeV.csv").unwrap().source,
            FileSource::Derived { builtin: None, .. }
        ));
        assert!(matches!(
            lp.file("paper_reference_values.csv").unwrap().source,
            FileSource::Manual { .. }
        ));
        let hq = r.get("hernquist-flows-reference").unwrap();
        assert!(matches!(
            hq.file("fig3_accelerations.csv").unwrap().source,
            FileSource::Derived {
                builtin: Some(Builtin::Fig3NpzToCsv),
                ..
            }
        ));
    }

    #[test]
    fn data_readme_lists_every_url_and_checksum() {
        let readme = include_str!("../../data/README.md");
        let r = Registry::builtin().unwrap();
        for d in r.datasets() {
            assert!(readme.contains(&format!("### `{}`", d.name)), "{}", d.name);
            for f in &d.files {
                assert!(readme.contains(&f.sha256), "{}/{}", d.name, f.path);
                if let Some(url) = f.url() {
                    assert!(readme.contains(&format!("<{url}>")), "{url}");
                }
            }
        }
    }

    #[test]
    fn a_small_registry_parses() {
        let r = Registry::from_toml_str(ONE, "test").unwrap();
        let d = r.get("demo").unwrap();
        assert_eq!(d.size_bytes(), 3);
        assert_eq!(d.files[0].url(), Some("http://127.0.0.1:1/b.txt"));
        let e = r.get("nope").unwrap_err().to_string();
        assert!(
            e.contains("unknown dataset 'nope'") && e.contains("demo"),
            "{e}"
        );
        let e = d.file("x").unwrap_err().to_string();
        assert!(e.contains("a/b.txt"), "{e}");
    }

    fn err_of(text: &str) -> String {
        Registry::from_toml_str(text, "'reg.toml'")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_registries_are_rejected_with_the_field_at_fault() {
        let e = err_of(&ONE.replace("ba7816bf", "BA7816BF"));
        assert!(e.contains("'reg.toml'") && e.contains("sha256"), "{e}");
        let e = err_of(&ONE.replace("a/b.txt", "../b.txt"));
        assert!(e.contains("'..'"), "{e}");
        let e = err_of(&ONE.replace("a/b.txt", "/etc/passwd"));
        assert!(e.contains("relative"), "{e}");
        let e = err_of(&ONE.replace("\"checked\"", "\"maybe\""));
        assert!(e.contains("url_status"), "{e}");
        let e = err_of(&ONE.replace("http://127.0.0.1:1/b.txt", "ftp://x/b"));
        assert!(e.contains("https://"), "{e}");
        let e = err_of(&ONE.replace("name = \"demo\"", "name = \"Demo Set\""));
        assert!(e.contains("dataset name"), "{e}");
        let e = err_of(&format!(
            "{ONE}\n{}",
            &ONE[ONE.find("[[dataset]]").unwrap()..]
        ));
        assert!(e.contains("listed twice"), "{e}");
        let e = err_of(&ONE.replace("size = 3", "size = -3"));
        assert!(e.contains("reg.toml"), "{e}");
        let e = err_of(&ONE.replace("size = 3", "size = 3\nbogus = 1"));
        assert!(e.contains("bogus"), "{e}");
        let e = err_of(&ONE.replace(
            "url_status = \"checked\"",
            "url_status = \"checked\"\nmanual = \"x\"",
        ));
        assert!(e.contains("exactly one of"), "{e}");
        let derived = ONE.replace(
            "url = \"http://127.0.0.1:1/b.txt\"\nurl_status = \"checked\"",
            "derived_from = \"nothing.bin\"\nrecipe = \"r\"",
        );
        let e = err_of(&derived);
        assert!(e.contains("derived_from 'nothing.bin'"), "{e}");
    }
}
