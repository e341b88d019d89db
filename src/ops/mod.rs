//! The use-cases behind every front end: the CLI, the API, `orc watch` and `orc up`
//! call these in-process. Each takes typed options and returns a typed report or a
//! typed error; none prints (the callers render the reports as text, JSON or HTML).

pub mod apply;
mod backend_checks;
pub mod chain;
pub mod check;
pub mod edit;
pub mod fleet;
pub mod import;
pub mod run;
pub mod status;

/// An error with its causes, as the CLI prints errors (anyhow's `{:#}`).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::secrets::error::WithSources(e).to_string()
}
