//! orc: scheduled tasks as code.
//!
//! The library holds everything; `src/main.rs` only parses the command line and maps
//! errors to exit codes.

pub mod backend;
pub mod checks;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod exec;
pub mod notify;
pub mod ops;
pub mod orclog;
pub mod plan;
pub mod report;
pub mod retention;
pub mod schedule;
pub mod secrets;
pub mod server;
pub mod state;
pub mod workspace;

mod failpoint;
