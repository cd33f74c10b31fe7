//! Subhalo catalogs in CSV: the DR4 feature tables and the DR2 probabilistic
//! catalog (the readers take a path: the bytes go to a scratch file). Must
//! return `Ok` or `Err`, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::catalog_csv(data));
