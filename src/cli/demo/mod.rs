//! `darkprobe demo`: every analysis that exists, on built-in synthetic data,
//! with a short Markdown report.
//!
//! Each analysis crate contributes one step. A step generates its own seeded
//! synthetic input, runs the analysis, checks the answer against the truth it
//! injected, and returns a paragraph (plus any plot files) for the report.

mod background;
mod dwarfs;
mod flows;
mod gasmap;
mod subhalos;

use darkprobe_core::progress::Progress;
use darkprobe_core::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one demo step did.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// Short title of the step.
    pub title: String,
    /// Markdown paragraph(s) describing what was run and what came out.
    pub body: String,
    /// Files written by the step (plots, tables), relative to the report folder.
    pub files: Vec<PathBuf>,
    /// Whether the result agreed with the injected truth.
    pub passed: bool,
    /// Wall time of the step in seconds.
    pub seconds: f64,
}

/// The demo report.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The report file written.
    pub report_path: PathBuf,
    /// One entry per step.
    pub steps: Vec<StepOutcome>,
    /// Analyses not yet available in this version.
    pub pending: Vec<&'static str>,
}

impl DemoReport {
    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for step in &self.steps {
            let _ = writeln!(
                s,
                "[{}] {} ({:.1} s)",
                if step.passed { "ok" } else { "MISMATCH" },
                step.title,
                step.seconds
            );
        }
        for p in &self.pending {
            let _ = writeln!(s, "[--] {p}: not in this version yet");
        }
        let _ = write!(s, "report written to {}", self.report_path.display());
        s
    }
}

/// The analyses and whether this version has their demo step yet.
const PENDING: &[&str] = &[];

/// Runs every available demo step, writing `out/report.md`; `quick` shrinks
/// the synthetic data sets for smoke tests.
///
/// # Errors
/// When the output folder cannot be created or written, or a step fails.
pub fn run_demo(out: &Path, seed: u64, quick: bool, progress: &dyn Progress) -> Result<DemoReport> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let started = Instant::now();
    let steps: Vec<StepOutcome> = vec![
        background::run(out, seed, quick, progress)?,
        dwarfs::run(out, seed, quick, progress)?,
        subhalos::run(out, seed, quick, progress)?,
        gasmap::run(out, seed, quick, progress)?,
        flows::run(out, seed, quick, progress)?,
    ];

    let mut md = String::new();
    let _ = writeln!(md, "# darkprobe demo report\n");
    let _ = writeln!(
        md,
        "darkprobe {} ran every analysis available in this version on built-in synthetic data \
         (seed {seed}) in {:.1} s.\n",
        env!("CARGO_PKG_VERSION"),
        started.elapsed().as_secs_f64()
    );
    for step in &steps {
        let verdict = if step.passed {
            "agrees with the injected truth"
        } else {
            "**does not agree with the injected truth**"
        };
        let _ = writeln!(
            md,
            "## {}\n\n{}\n\nResult: {verdict} ({:.1} s).\n",
            step.title, step.body, step.seconds
        );
        for f in &step.files {
            let _ = writeln!(md, "![{}]({})\n", step.title, f.display());
        }
    }
    if !PENDING.is_empty() {
        let _ = writeln!(md, "## Not in this version yet\n");
        for p in PENDING {
            let _ = writeln!(md, "- {p}");
        }
    }
    let report_path = out.join("report.md");
    write_atomically(&report_path, md.as_bytes())?;
    Ok(DemoReport {
        report_path,
        steps,
        pending: PENDING.to_vec(),
    })
}

/// Writes `bytes` to a temporary file next to `path`, then renames it onto
/// `path`, so no partial file is ever left behind.
///
/// # Errors
/// I/O errors, naming the file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
