//! The number-parsing command-line arguments: longitude ranges
//! (`--train-lon 300:340`, `--test-lon`), mass lists (`--masses 10,100`),
//! and the mass-list file reader. Must return `Ok` or `Err`, never panic; a
//! parsed range or mass list must hold finite values.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::cli_numbers(data));
