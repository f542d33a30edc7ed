//! The engine core alone as a CLI (command stages only): `cargo run -p syco-core --example syco-core -- run M.toml`.
//! The `syco` binary adds the ML stage kinds on top of the same commands.

use std::process::ExitCode;

use clap::Parser;
use syco_core::cli::{execute, CoreCommand};
use syco_core::Registry;

#[derive(Parser)]
#[command(name = "syco", version, about = "syco engine core: command stages, cache, plan/run/explain")]
struct Cli {
    #[command(subcommand)]
    cmd: CoreCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.cmd, &Registry::new()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
