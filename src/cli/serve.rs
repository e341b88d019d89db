//! `orc serve`: the REST API (the dashboard comes next), on loopback by default.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{Global, Output};

#[derive(Debug, Args)]
#[command(
    after_help = "Reads (GET) need nothing; requests that change something need \
Authorization: Bearer TOKEN. The token is created on first start, owner-only, beside the \
state database; `orc serve --print-token` shows it.\n\nExamples:\n  orc serve\n  \
curl http://127.0.0.1:7878/api/tasks\n  curl -X POST -H \"Authorization: Bearer $(orc serve \
--print-token)\" http://127.0.0.1:7878/api/tasks/daily_report/run"
)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    listen: SocketAddr,
    /// Allow listening on an address other than loopback (anyone who can reach it
    /// can read task definitions and history)
    #[arg(long)]
    allow_remote: bool,
    /// Print the API token and exit
    #[arg(long)]
    print_token: bool,
}

pub fn run(args: ServeArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let state = crate::workspace::state_path(global.state.as_deref());
    let token = crate::server::token(&state)?;
    if args.print_token {
        println!("{token}");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.listen.ip().is_loopback() {
        if !args.allow_remote {
            bail!(
                "--listen {}: not a loopback address; add --allow-remote to serve other machines",
                args.listen
            );
        }
        eprintln!(
            "warning: serving on {}: anyone who reaches it can read task definitions, history and logs",
            args.listen
        );
    }
    let orc = std::env::current_exe().context("cannot find orc's own executable")?;
    crate::server::serve(
        crate::server::Server {
            state,
            config: std::path::absolute(global.config_path())?,
            token,
            orc,
        },
        args.listen,
        |addr| {
            out.info(&format!("Listening on http://{addr} (Ctrl-C stops)"));
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
