//! # darkprobe-limits
//!
//! (crate documentation being written)
#![warn(missing_docs)]

pub mod error;
pub mod likelihood;
pub mod spectrum;

pub use error::{LimitsError, Result};
