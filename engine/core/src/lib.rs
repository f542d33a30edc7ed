//! syco's engine core: manifests, the stage DAG, the content-addressed cache, the local executor,
//! the generic `command` stage and the CLI subcommands built on them. Knows nothing about ML.
//!
//! Dependencies point one way: `location`, `suggest`, `paths` and `record` depend on nothing here;
//! `manifest` on `location`; `file_memo` on `record`; `cache` on `file_memo`, `items` and `record`;
//! `stage` on `cache` and `manifest`; the graph, the executor, `ui` and `cli` on top.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cache;
pub mod cli;
pub mod command;
pub mod exec;
mod file_memo;
pub mod graph;
pub mod items;
pub mod key;
pub mod location;
pub mod manifest;
pub mod paths;
pub mod record;
pub mod registry;
pub mod slurm;
pub mod stage;
pub mod suggest;
pub mod ui;

pub use registry::Registry;
