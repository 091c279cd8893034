//! The `leaderboard` binary: `serve` (the service), `kql` (print the KQL a view renders to) and
//! `openapi` (print the OpenAPI document), each handed to the library.

use std::process::ExitCode;

use clap::Parser;
use leaderboard::cli::{Cli, Command};

fn main() -> ExitCode {
    match Cli::parse().into_command() {
        Command::Serve(args) => leaderboard::app::main(*args),
        Command::Kql(args) => leaderboard::app::print_kql(&args),
        Command::Openapi => leaderboard::app::print(
            &leaderboard::http::openapi().to_pretty_json().expect("the document serializes"),
        ),
    }
}
