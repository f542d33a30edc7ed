//! syco-eval: scoring of capability benchmarks and SycophancyEval under the study's rules
//! (`Scoring::Seed`) or with its defects fixed (`Scoring::Strict`, see STRICT.md), and the
//! statistics around them.

pub mod pytext;
pub mod seed;
pub mod stats;
