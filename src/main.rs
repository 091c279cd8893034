use std::process::ExitCode;

use clap::Parser;
use leaderboard::cli::{Cli, Command};

/// mimalloc instead of glibc's malloc: serving `/players/{id}?around=5` glibc took about 12% of
/// the server's CPU in malloc, free and their arena locks, mimalloc about 2% (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match Cli::parse().into_command() {
        Command::Serve(args) => leaderboard::app::main(*args),
        Command::Kql(args) => leaderboard::app::print_kql(&args),
        Command::Openapi => {
            println!("{}", leaderboard::http::openapi().to_pretty_json().expect("the document serializes"));
            ExitCode::SUCCESS
        }
    }
}
