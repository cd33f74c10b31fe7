//! The `darkprobe` command-line program: argument parsing, error reporting,
//! progress bars and the `demo` job.
//!
//! The binary in `src/main.rs` is a thin wrapper around [`run`]; keeping the
//! logic in the library lets integration tests drive it directly.

pub mod data;
pub mod demo;
pub mod dwarfs;
pub mod flows;
pub mod gasmap;
pub mod progress;
pub mod subhalos;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status when a command ran but its answer is "no" (e.g. a model that is
/// not excluded, for `dwarfs check`).
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit status for bad input: unreadable or malformed files, invalid arguments.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status for other failures (numerical failures, I/O errors while writing).
pub const EXIT_FAILURE: u8 = 3;

/// darkprobe: dark-matter search analyses (dwarf limits, subhalos, gas maps, phase-space flows).
#[derive(Debug, Parser)]
#[command(name = "darkprobe", version, about, long_about = None)]
pub struct Cli {
    /// Hide progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every available analysis on built-in synthetic data and write a short report.
    Demo(DemoArgs),
    /// Dwarf-spheroidal limits with a data-driven background (Calore+ 2018, Alvarez+ 2020).
    Dwarfs(dwarfs::DwarfsArgs),
    /// Dark-matter subhalos among unassociated Fermi-LAT sources (Amerio+ 2025).
    Subhalos(subhalos::SubhalosArgs),
    /// 13CO gas maps from 12CO by Gaussian processes and a patch network (Shmakov+ 2020).
    Gasmap(gasmap::GasmapArgs),
    /// Dark matter from stellar phase space with normalizing flows (Buckley+ 2022, Lim+ 2023).
    Flows(flows::FlowsArgs),
    /// Find, fetch and verify the public datasets the analyses use.
    Data(data::DataArgs),
}

/// Arguments of `darkprobe demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the report and its plots (created if missing).
    #[arg(long, default_value = "darkprobe-demo")]
    pub out: PathBuf,
    /// Seed for every random step of the demo.
    #[arg(long, default_value_t = 20261121)]
    pub seed: u64,
    /// Smaller synthetic data sets (a few seconds instead of about a minute); for smoke tests.
    #[arg(long)]
    pub quick: bool,
}

/// An error from a CLI command, with the exit status it maps to.
#[derive(Debug)]
pub struct CliError {
    /// The exit status.
    pub code: u8,
    /// The error and its causes.
    pub error: anyhow::Error,
}

impl CliError {
    /// A bad-input error (exit status 2).
    pub fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_BAD_INPUT,
            error: error.into(),
        }
    }
}

impl From<darkprobe_core::Error> for CliError {
    fn from(e: darkprobe_core::Error) -> Self {
        let code = if e.is_bad_input() {
            EXIT_BAD_INPUT
        } else {
            EXIT_FAILURE
        };
        Self {
            code,
            error: e.into(),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        // Classify by the innermost darkprobe error, if there is one.
        let code = error
            .chain()
            .find_map(|c| c.downcast_ref::<darkprobe_core::Error>())
            .map(|e| {
                if e.is_bad_input() {
                    EXIT_BAD_INPUT
                } else {
                    EXIT_FAILURE
                }
            })
            .unwrap_or(EXIT_FAILURE);
        Self { code, error }
    }
}

/// Formats an error as one readable line followed by its causes, one per line.
pub fn format_error(error: &anyhow::Error) -> String {
    let mut out = format!("error: {error}");
    for cause in error.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

/// Runs a parsed command line, returning the exit status for success.
///
/// # Errors
/// A [`CliError`] carrying the error and the exit status to use.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    let progress = progress::BarProgress::new(cli.quiet);
    match cli.command {
        Command::Demo(args) => {
            let report = demo::run_demo(&args.out, args.seed, args.quick, &progress)?;
            println!("{}", report.summary());
            if report.steps.iter().all(|s| s.passed) {
                Ok(EXIT_OK)
            } else {
                eprintln!(
                    "some demo results did not agree with the injected truth: see the report"
                );
                Ok(EXIT_NEGATIVE)
            }
        }
        Command::Dwarfs(args) => dwarfs::run(args),
        Command::Subhalos(args) => subhalos::run(args, &progress),
        Command::Gasmap(args) => gasmap::run(args),
        Command::Flows(args) => flows::run(args, &progress),
        Command::Data(args) => data::run(args, cli.quiet),
    }
}
