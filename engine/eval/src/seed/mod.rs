//! `Scoring::Seed`: the study's rules exactly, quirks included (SPEC §3).

pub mod benchmarks;
pub mod sycophancy;
