//! Black-box tests of the service through HTTP, against a real Kusto REST engine.

mod adx_incremental;
mod adx_standings;
mod adx_wire;
mod auth;
mod backend_faults;
mod clients;
mod common;
mod conformance;
mod contract;
mod embedded;
mod finality;
mod fuzz;
mod http_semantics;
mod ingest;
mod kafka;
mod kql_text;
mod leaderboards;
mod observability;
mod overload;
mod page;
mod process;
mod reload;
mod sharing;
mod shutdown;
mod standings;
mod streams;
