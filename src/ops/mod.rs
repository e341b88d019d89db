//! The use-cases behind every front end: the CLI, the API, `orc watch` and `orc up`
//! call these in-process. Each takes typed options and returns a typed report or a
//! typed error; none prints (the callers render the reports as text, JSON or HTML).

pub mod apply;
mod backend_checks;
pub mod check;
pub mod run;
pub mod status;
