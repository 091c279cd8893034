//! leaderboard: real-time campaign leaderboards computed from spin events in Azure Data
//! Explorer, served over HTTP with a shared short-lived cache.

pub mod adx;
pub mod app;
pub mod backend;
pub mod cache;
pub mod campaigns;
pub mod cli;
pub mod events;
pub mod http;
pub mod kql;
pub mod leaderboard;
pub mod metrics;
pub mod service;
pub mod simulator;
pub mod store;
