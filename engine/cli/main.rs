//! `syco`: the command-line front of the engine. The core commands (run, plan, explain, status,
//! gc, cache) come from `syco-core`; this binary registers the ML stage kinds and adds the
//! commands that drive a model directly (`generate`) or score stored responses (`score`).

mod commands;
mod plan;
mod probe_table;
mod stages;
mod task_table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use syco_core::cli::CoreCommand;
use syco_core::Registry;

#[derive(Parser)]
#[command(name = "syco", version, about = "Declarative fine-tuning experiments on language models", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    #[command(flatten)]
    Core(CoreCommand),
    /// Print a model's completion of a chat-templated prompt.
    Generate(commands::GenerateArgs),
    /// Score stored responses (the study's example-file fields) without a model.
    Score(commands::ScoreArgs),
}

fn registry() -> Registry {
    let mut r = Registry::new();
    stages::register(&mut r);
    r.register_planner(Box::new(plan::MlPlanner));
    r
}

fn main() -> ExitCode {
    syco_ml::allocator::tune_for_tensors();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Core(cmd) => syco_core::cli::execute(cmd, &registry()),
        Cmd::Generate(args) => commands::generate(&args).map(|()| ExitCode::SUCCESS),
        Cmd::Score(args) => commands::score(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
