//! orc: scheduled tasks as code.
//!
//! The library holds everything; `src/main.rs` only parses the command line and maps
//! errors to exit codes.
//!
//! ## Layers
//!
//! Each top-level module imports only the modules its line names, and the lines form
//! no circle: leaves first, front ends last. `tests/layers.rs` reads every `crate::`
//! path in `src/` and fails on an import a line does not allow, and on a circle.
//!
//! - `failpoint`: nothing (a leaf: crash points for the resumability tests)
//! - `host`: nothing (a leaf: host name, user, git commit)
//! - `schedule`: nothing (a leaf: schedule syntax, fire times, words)
//! - `html`: nothing (a leaf: HTML escaping outside the maud templates)
//! - `fleet`: nothing (a leaf: the fleet's PostgreSQL schema and its hosts' register)
//! - `service`: nothing (a leaf: the systemd unit, launchd plist and Windows service that orc service installs)
//! - `tasksched`: `schedule` (Task Scheduler's trigger elements and accounts)
//! - `config`: `schedule`, `tasksched`
//! - `state`: `config`
//! - `secrets`: `state`, `failpoint`
//! - `orclog`: `state`
//! - `backend`: `config`, `host`, `schedule`, `secrets`, `state`, `tasksched`
//! - `plan`: `backend`, `config`, `state`
//! - `exec`: `config`, `host`, `schedule`, `secrets`, `state`
//! - `notify`: `config`, `exec`, `fleet`, `schedule`, `secrets`, `state`
//! - `retention`: `config`, `state`
//! - `report`: `state`
//! - `daemon`: `backend`, `config`, `exec`, `host`, `retention`, `schedule`, `state`
//! - `workspace`: `backend`, `config`, `host`, `plan`, `secrets`, `state`
//! - `ops`: `backend`, `config`, `exec`, `failpoint`, `fleet`, `host`, `notify`, `plan`, `retention`, `schedule`, `secrets`, `state`, `workspace`
//! - `server`: `backend`, `config`, `fleet`, `host`, `html`, `ops`, `plan`, `report`, `schedule`, `secrets`, `state`, `workspace`
//! - `cli`: `backend`, `config`, `daemon`, `exec`, `fleet`, `host`, `notify`, `ops`, `orclog`, `plan`, `report`, `retention`, `schedule`, `secrets`, `server`, `service`, `state`, `workspace`

pub mod backend;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod exec;
pub mod fleet;
pub mod host;
pub mod html;
pub mod notify;
pub mod ops;
pub mod orclog;
pub mod plan;
pub mod report;
pub mod retention;
pub mod schedule;
pub mod secrets;
pub mod server;
pub mod service;
pub mod state;
pub mod tasksched;
pub mod workspace;

mod failpoint;
