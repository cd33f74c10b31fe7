//! Core `Table` reader: arbitrary bytes under every delimiter and header mode,
//! then typed access to every column. Must return `Ok` or `Err`, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::table(data));
