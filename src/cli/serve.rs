//! `orc serve`: the dashboard and the REST API, on loopback by default. `orc up`
//! serves them too, beside its scheduler.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{Global, Output};

/// Where to listen; shared by `orc serve` and `orc up`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Allow listening on an address other than loopback (anyone who can reach it
    /// can try the token and the login page)
    #[arg(long)]
    pub allow_remote: bool,
    /// Let anyone who reaches the server read the dashboard and the API (task
    /// definitions, history, logs, the plan) without the token or a login; changes
    /// still need one
    #[arg(long)]
    pub public_read: bool,
    /// Another name the server is reached by (a reverse proxy's, a DNS name): the
    /// Host header must be localhost, a loopback address, the listen address or one
    /// of these (repeatable)
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Close a connection that sends no request for this long
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = idle_timeout)]
    pub idle_timeout: std::time::Duration,
}

fn idle_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    match crate::config::parse_duration(text)? {
        d if d.is_zero() => Err(anyhow::anyhow!("must be longer than 0s")),
        d => Ok(d),
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Open http://127.0.0.1:7878 for the dashboard and log in with the token \
(--public-read lets anyone read without it). The API under /api/ takes the token as \
Authorization: Bearer TOKEN (schemas/openapi.json describes it); only /api/health needs \
none. The token is created on first start, owner-only, beside the state database; \
`orc serve --print-token` shows it. Requests whose Host header is not localhost, a \
loopback address, the listen address or an --allow-host name are refused (421).\n\n\
Examples:\n  orc serve\n  orc serve --listen 0.0.0.0:7878 --allow-host orc.example.com\n  \
TOKEN=$(orc serve --print-token)\n  \
curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:7878/api/tasks\n  \
curl -X POST -H \"Authorization: Bearer $TOKEN\" \\\n      \
http://127.0.0.1:7878/api/tasks/daily_report/run"
)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Print the token and exit
    #[arg(long)]
    print_token: bool,
}

/// The server's settings from the command line, after the loopback check.
pub fn options(listen: &ListenArgs, global: &Global) -> Result<crate::server::ServeOptions> {
    if !listen.listen.ip().is_loopback() {
        if !listen.allow_remote {
            bail!(
                "--listen {}: not a loopback address; add --allow-remote to serve other machines",
                listen.listen
            );
        }
        eprintln!(
            "warning: serving on {}: anyone who reaches it can try the token{}",
            listen.listen,
            if listen.public_read {
                ", and read task definitions, history and logs (--public-read)"
            } else {
                ""
            }
        );
    }
    let state = crate::workspace::state_path(global.state.as_deref());
    Ok(crate::server::ServeOptions {
        token: crate::server::token(&state)?,
        state,
        config: std::path::absolute(global.config_path())?,
        orc: std::env::current_exe().context("cannot find orc's own executable")?,
        backend: global.backend,
        public_read: listen.public_read,
        allow_hosts: listen.allow_hosts.clone(),
        idle_timeout: listen.idle_timeout,
    })
}

pub fn run(args: ServeArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    if args.print_token {
        let state = crate::workspace::state_path(global.state.as_deref());
        println!("{}", crate::server::token(&state)?);
        return Ok(ExitCode::SUCCESS);
    }
    let options = options(&args.listen, global)?;
    crate::server::serve(
        options,
        args.listen.listen,
        crate::server::stop_signal(),
        |addr| {
            out.info(&format!(
                "Dashboard and API on http://{addr} (Ctrl-C stops; `orc serve --print-token` prints the token to log in with)"
            ));
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Serve in the background for `orc up`: the scheduler is the main job, so a port
/// in use is a warning, not a failure. The server ends with the process.
pub fn spawn(listen: &ListenArgs, global: &Global, out: &Output) -> Result<()> {
    let options = options(listen, global)?;
    let addr = listen.listen;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let failed_tx = ready_tx.clone();
    std::thread::Builder::new()
        .name("orc-serve".into())
        .spawn(move || {
            let result = crate::server::serve(options, addr, std::future::pending(), move |a| {
                let _ = ready_tx.send(Ok(a));
            });
            if let Err(e) = result {
                let _ = failed_tx.send(Err(e));
            }
        })?;
    match ready_rx.recv() {
        Ok(Ok(a)) => out.info(&format!("Dashboard and API on http://{a}")),
        Ok(Err(e)) => eprintln!("warning: no dashboard: {e:#}"),
        Err(_) => eprintln!("warning: no dashboard: the server thread ended"),
    }
    Ok(())
}
