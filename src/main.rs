fn main() -> std::process::ExitCode {
    leaderboard::cli::main()
}
