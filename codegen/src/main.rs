//! `arpc-codegen`: schema tooling on the command line.
//!
//! ```text
//! arpc-codegen check --old OLD.proto --new NEW.proto
//! ```
//!
//! Prints every breaking change and postcard warning; exits 1 if anything breaks old peers,
//! 2 if a file cannot be read, 0 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use arpc_codegen::compat::{self, Severity};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "arpc-codegen", about = "Schema tooling for arpc services")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks that NEW does not break peers built from OLD.
    Check {
        /// The schema peers were built from.
        #[arg(long)]
        old: PathBuf,
        /// The schema about to ship.
        #[arg(long)]
        new: PathBuf,
    },
}

fn read(path: &PathBuf) -> Result<arpc_codegen::parse::ProtoFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    arpc_codegen::parse::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { old, new } => {
            let (old_file, new_file) = match (read(&old), read(&new)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let findings = compat::check(&old_file, &new_file);
            for f in &findings {
                println!("{}: {f}", new.display());
            }
            let breaking = findings
                .iter()
                .filter(|f| f.severity == Severity::Breaking)
                .count();
            if breaking > 0 {
                println!("{breaking} breaking change(s)");
                ExitCode::from(1)
            } else {
                println!("compatible ({} postcard warning(s))", findings.len());
                ExitCode::SUCCESS
            }
        }
    }
}
