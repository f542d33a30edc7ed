//! syco's engine core: manifests, the stage DAG, the content-addressed cache, the local executor,
//! the generic `command` stage and the CLI subcommands built on them. Knows nothing about ML.

pub mod cache;
pub mod cli;
pub mod command;
pub mod exec;
mod file_memo;
pub mod graph;
pub mod key;
pub mod manifest;
pub mod registry;
pub mod slurm;
pub mod stage;

pub use registry::Registry;
