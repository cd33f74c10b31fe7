//! The MLFermiLATDwarfs text inputs: dwarf table, void positions + counts
//! (two files separated by a NUL byte), J-factor samples, per-bin background
//! files, mass lists. Must return `Ok` or `Err`, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::dwarf_inputs(data));
