//! swab's rule language. Pure: turns YAML text into validated, typed rules.
#![deny(missing_docs)]

mod glob;
pub mod image;
pub mod schedule;
pub mod select;
pub mod units;
