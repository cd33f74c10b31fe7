//! FITS readers (cfitsio reads from a path: the bytes go to a scratch file):
//! the gas-map cube reader, the 4FGL catalog reader and the dwarfs' count
//! cube reader. Must return `Ok` or `Err`, never panic or crash.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::fits(data));
