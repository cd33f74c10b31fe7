//! Spectrum tables: PPPC4DMID, CosmiXs and user `mass E dN/dE` tables; a
//! table that parses is then evaluated at its masses and beyond. Must return
//! `Ok` or `Err`, never panic (nor divide its way to a silent NaN yield).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::spectra(data));
