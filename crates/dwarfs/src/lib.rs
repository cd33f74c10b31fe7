//! # darkprobe-dwarfs
//!
//! (crate docs written below)
#![warn(missing_docs)]

pub mod background;
pub mod binning;
pub mod dwarf;
pub mod error;
pub mod masses;
pub mod package;
pub mod voids;

pub use background::{BackgroundModel, BackgroundParams, DwarfBackground};
pub use binning::EnergyBinning;
pub use darkprobe_kde::SpatialMetric;
pub use dwarf::{Dwarf, DwarfTable, Selection};
pub use error::{DwarfsError, Result};
pub use package::{JFactorSamples, PackageBackground, PackageData};
pub use voids::VoidSample;
