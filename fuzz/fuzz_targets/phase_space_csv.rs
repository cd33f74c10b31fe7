//! Phase-space tables: star and point CSV files and Gaia-like CSV files (the
//! readers take a path: the bytes go to a scratch file). Must return `Ok` or
//! `Err`, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::phase_space_csv(data));
