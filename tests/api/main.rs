//! Black-box tests of the service through HTTP, against a real Kusto REST engine.

mod common;
mod contract;
mod embedded;
mod kql_text;
mod leaderboards;
mod process;
mod reload;
mod sharing;
