//! `Scoring::Strict`: the study's scoring defects fixed, each documented where it is fixed and
//! in the crate's STRICT.md.

pub mod benchmarks;
pub mod sycophancy;
