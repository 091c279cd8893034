//! leaderboard: real-time campaign leaderboards computed from spin events in Azure Data
//! Explorer (or the embedded store), served over HTTP from standings snapshots that one backend
//! query per view and refresh builds for every reader.

pub mod adx;
pub mod app;
pub mod backend;
pub mod backoff;
pub mod campaigns;
pub mod cli;
pub mod engine;
pub mod events;
pub mod http;
pub mod kafka;
pub mod kql;
pub mod leaderboard;
pub mod metrics;
pub mod representation;
pub mod simulator;
pub mod store;
