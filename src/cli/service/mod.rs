//! `orc service install | uninstall | status | start | stop`: orc as an OS service,
//! so the dashboard, the watcher and (with the embedded backend) the scheduler
//! outlive the terminal and come back after a reboot. systemd on Linux, launchd on
//! macOS, the Service Control Manager on Windows; each starts `orc service run`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::daemon::UpArgs;
use super::{Global, Output};
use crate::service::ServiceSpec;

#[cfg(not(windows))]
mod launchd;
#[cfg(not(windows))]
mod systemd;
#[cfg(windows)]
mod windows;

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install orc as a service of this machine, started now and at boot
    #[command(after_help = INSTALL_HELP)]
    Install(InstallArgs),
    /// Stop and remove the service
    Uninstall(UninstallArgs),
    /// Whether the service is installed and running (exit 0 running, 3 not
    /// running, 4 not installed, as systemctl's)
    Status(UnitArgs),
    /// Start the installed service
    Start(UnitArgs),
    /// Stop the service (it starts again at boot)
    Stop(UnitArgs),
    /// What the service manager starts: `orc up`'s parts that fit the backend
    #[command(hide = true)]
    Run(RunArgs),
}

const INSTALL_HELP: &str = "The service runs `orc service run`: it applies the config, \
then keeps the dashboard and the watcher (every saved edit applied) and, with the embedded \
backend, the scheduler; with Task Scheduler or cron, their own scheduler runs the tasks. \
It is started at boot and again after a failure (10 s, then 60 s on Windows).\n\n\
Linux: a systemd unit in /etc/systemd/system (as root), or with --user in \
~/.config/systemd/user; `systemctl reload` re-applies. macOS: a launchd daemon in \
/Library/LaunchDaemons (as root), or with --user an agent in ~/Library/LaunchAgents. \
Windows: a service of the Service Control Manager (from an elevated prompt), as \
LocalSystem or --account (a gMSA ending in $, or a user whose password is the vault's \
--password-secret); it writes its start, stop and failures to the Application log.\n\n\
Examples:\n  sudo orc service install --config /etc/orc --state /var/lib/orc/state.db\n  \
orc service install --user --listen 127.0.0.1:8080\n  \
orc service install --config C:\\orc\\tasks.toml --account 'CORP\\orc-svc$'";

#[derive(Debug, Clone, Args)]
pub struct UnitArgs {
    /// A service of your user (systemd --user, a launchd agent), running while you
    /// are logged in (or lingering)
    #[arg(long)]
    pub user: bool,
    /// The service's name
    #[arg(long, default_value = "orc")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// The account the service runs as (default root; LocalSystem on Windows)
    #[arg(long)]
    pub account: Option<String>,
    /// Windows: the vault's secret holding --account's password (none for a gMSA)
    #[arg(long, value_name = "SECRET")]
    pub password_secret: Option<String>,
    /// systemd: leave NoNewPrivileges out, for tasks that run sudo or other setuid
    /// programs (left out anyway where cron applies for an account other than root)
    #[arg(long)]
    pub allow_new_privileges: bool,
    /// Overwrite a unit or plist that orc did not write, and install although orc's
    /// executable or config can be changed by other users
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub up: UpArgs,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Remove the service although orc did not write it
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The service's name, as installed
    #[arg(long, default_value = "orc")]
    pub name: String,
    #[command(flatten)]
    pub up: UpArgs,
}

/// What `orc service status` and `orc doctor` say of a service.
pub(crate) struct Probe {
    /// "systemd", "launchd", "Windows".
    pub manager: &'static str,
    /// The unit, label or service name.
    pub name: String,
    /// Where it is written; none for the Service Control Manager.
    pub file: Option<PathBuf>,
    pub installed: bool,
    /// The manager's word for its state; none where the manager does not run.
    pub state: Option<String>,
    /// Whether that word means it runs.
    pub running: bool,
    /// What to run when it does not, and where it says why.
    pub hint: String,
}

impl Probe {
    /// " (its file)", or " (a Windows service)".
    pub fn at(&self) -> String {
        match &self.file {
            Some(file) => format!(" ({})", file.display()),
            None => " (a Windows service)".to_string(),
        }
    }
}

/// One service manager, behind the commands.
trait Manager {
    /// Install `spec`; `force` overwrites a service orc did not write.
    fn install(
        &self,
        spec: &ServiceSpec,
        password: Option<&str>,
        force: bool,
        out: &Output,
    ) -> Result<()>;
    /// Stop and remove the service; `force` removes one orc did not write.
    fn uninstall(&self, force: bool, out: &Output) -> Result<()>;
    fn probe(&self) -> Result<Probe>;
    fn start(&self, out: &Output) -> Result<()>;
    fn stop(&self, out: &Output) -> Result<()>;
}

/// The manager of this machine. ORC_SERVICE_MANAGER=launchd picks launchd on any
/// Unix (with ORC_LAUNCHD_DIR, how the plist is tested away from a Mac).
fn manager(args: &UnitArgs) -> Result<Box<dyn Manager>> {
    check_name(&args.name)?;
    #[cfg(windows)]
    {
        if args.user {
            bail!("--user: a Windows service is the machine's; leave --user out");
        }
        Ok(Box::new(windows::Scm::new(&args.name)))
    }
    #[cfg(not(windows))]
    {
        let wanted = std::env::var("ORC_SERVICE_MANAGER").ok();
        match wanted.as_deref() {
            Some("launchd") => Ok(Box::new(launchd::Launchd::of(args)?)),
            Some("systemd") => Ok(Box::new(systemd::Place::of(args)?)),
            Some(other) => bail!("ORC_SERVICE_MANAGER={other:?}: systemd or launchd"),
            None if cfg!(target_os = "macos") => Ok(Box::new(launchd::Launchd::of(args)?)),
            None if cfg!(target_os = "linux") => Ok(Box::new(systemd::Place::of(args)?)),
            None => bail!(
                "orc service knows systemd (Linux), launchd (macOS) and Windows services; on this system run `orc up` from its own service manager"
            ),
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    if let Err(e) = crate::config::check_name(name) {
        bail!("--name {name:?}: {e}");
    }
    if name.contains('.') {
        bail!("--name {name:?}: no '.' in a service name (systemd's unit is NAME.service)");
    }
    Ok(())
}

/// A file of the service manager's that orc did not write (no marker in its first
/// lines) is another program's: refused without --force.
#[cfg(not(windows))]
fn check_ours(file: &std::path::Path, force: bool, verb: &str) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(());
    };
    let ours = text
        .lines()
        .take(3)
        .any(|l| l.contains(crate::service::MARKER));
    if !ours && !force {
        bail!(
            "{} was not written by `orc service install`: pick another --name, or pass --force to {verb} it",
            file.display()
        );
    }
    Ok(())
}

pub fn run(cmd: ServiceCommand, global: &Global, out: &Output) -> Result<ExitCode> {
    match cmd {
        ServiceCommand::Install(args) => install(&args, global, out),
        ServiceCommand::Uninstall(args) => manager(&args.unit)?.uninstall(args.force, out),
        ServiceCommand::Status(args) => return status(&args, out),
        ServiceCommand::Start(args) => manager(&args)?.start(out),
        ServiceCommand::Stop(args) => manager(&args)?.stop(out),
        ServiceCommand::Run(args) => return run_service(args, global, out),
    }
    .map(|()| ExitCode::SUCCESS)
}

fn install(args: &InstallArgs, global: &Global, out: &Output) -> Result<()> {
    let manager = manager(&args.unit)?;
    let config = std::path::absolute(global.config_path())?;
    let loaded = match crate::config::load(&config) {
        Ok(loaded) => loaded,
        Err(diags) => {
            super::validate::print_diagnostics(&diags.0, out);
            bail!("{} does not load: nothing was installed", config.display());
        }
    };
    let listen = &args.up.listen;
    if !args.up.no_dashboard && !listen.listen.ip().is_loopback() && !listen.allow_remote {
        bail!(
            "--listen {}: not a loopback address; add --allow-remote to serve other machines",
            listen.listen
        );
    }
    let state = std::path::absolute(crate::workspace::state_path(global.state.as_deref()))?;
    let account = account(args)?;
    let orc = own_path()?;
    let up_options = up_options(&args.up);
    // A service manager's file is lines of settings: a line break in a value would
    // end it there (or start another setting).
    let control = |text: &str| text.chars().any(char::is_control);
    let values = [
        ("orc's path", orc.display().to_string()),
        ("--config", config.display().to_string()),
        ("--state", state.display().to_string()),
        ("--account", account.clone().unwrap_or_default()),
    ];
    let options = up_options.iter().map(|o| ("an option", o.clone()));
    for (what, value) in values.into_iter().chain(options) {
        if control(&value) {
            bail!(
                "{what} {value:?}: holds a control character (a line break?); nothing was installed"
            );
        }
    }
    // A service of the machine runs as root (LocalSystem) unless --account: whoever
    // may change what it runs may run anything as root.
    if account.is_none() && !args.unit.user && !args.force {
        for path in [orc.as_path(), config.as_path()] {
            check_not_writable_by_others(path)?;
        }
    }
    let password = password(args, &state)?;
    let backend = crate::workspace::resolve_backend(global.backend, loaded.config.settings.backend);
    let for_someone_else = account.as_deref().is_some_and(|a| a != "root");
    let spec = ServiceSpec {
        name: args.unit.name.clone(),
        orc,
        config,
        state,
        backend: global.backend.map(|b| b.as_str().to_string()),
        up_options,
        user: args.unit.user,
        gains_privileges: args.allow_new_privileges
            || (backend == crate::config::BackendKind::Cron
                && (for_someone_else || args.unit.user)),
        account,
    };
    manager.install(
        &spec,
        password.as_deref().map(|p| p.as_str()),
        args.force,
        out,
    )
}

/// --account, checked: not blank, and not beside --user (a user service is yours).
fn account(args: &InstallArgs) -> Result<Option<String>> {
    let Some(account) = &args.account else {
        return Ok(None);
    };
    if account.trim().is_empty() {
        bail!("--account {account:?}: empty; leave --account out to run as the manager's default");
    }
    if account.trim() != account {
        bail!("--account {account:?}: spaces around the name");
    }
    if args.unit.user {
        bail!("--account with --user: a user service runs as you; leave one of them out");
    }
    Ok(Some(account.clone()))
}

/// orc's own executable, as the service should find it after an upgrade: the path
/// it was started by (a package manager's link, /usr/local/bin/orc) when that is
/// this executable, else the executable itself.
fn own_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find orc's own executable")?;
    let same = |candidate: &std::path::Path| {
        std::fs::canonicalize(candidate).ok() == std::fs::canonicalize(&exe).ok()
    };
    let Some(arg0) = std::env::args_os().next().map(PathBuf::from) else {
        return Ok(exe);
    };
    let started_by = if arg0.components().count() > 1 {
        std::path::absolute(&arg0).ok()
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&arg0))
                .find(|p| p.is_file())
        })
    };
    Ok(started_by
        .filter(|p| p.is_absolute() && same(p))
        .unwrap_or(exe))
}

/// Refuse a path (or its folder) that users other than its owner may write.
#[cfg(unix)]
fn check_not_writable_by_others(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    for p in std::iter::once(path).chain(folder) {
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        // A sticky folder (/tmp) lets others add files, not replace orc's.
        let sticky = meta.is_dir() && meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o002 != 0 && !sticky {
            bail!(
                "{} can be changed by every user, and the service runs as root: `chmod o-w {}`, or pass --force",
                p.display(),
                p.display()
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_not_writable_by_others(_path: &std::path::Path) -> Result<()> {
    Ok(())
}

/// --account's password, read from the vault (Windows services only).
fn password(
    args: &InstallArgs,
    state: &std::path::Path,
) -> Result<Option<zeroize::Zeroizing<String>>> {
    let Some(secret) = &args.password_secret else {
        let needs_one = cfg!(windows)
            && args
                .account
                .as_ref()
                .is_some_and(|a| !a.ends_with('$') && !is_builtin_account(a));
        if needs_one {
            bail!(
                "--account {}: a user account needs its password: store it with `orc secret set NAME` and pass --password-secret NAME (a gMSA, ending in $, needs none)",
                args.account.as_deref().unwrap_or_default()
            );
        }
        return Ok(None);
    };
    if !cfg!(windows) {
        bail!(
            "--password-secret is for Windows services; systemd and launchd run as --account without one"
        );
    }
    if args.account.is_none() {
        bail!("--password-secret without --account: whose password is it?");
    }
    let read = crate::workspace::vault_reader(state);
    read(secret)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("--password-secret {secret}: {e}"))
}

/// Accounts Windows logs on without a password: the built-in ones and virtual
/// accounts (`NT SERVICE\NAME`).
fn is_builtin_account(account: &str) -> bool {
    let account = account.to_ascii_lowercase();
    account.starts_with(r"nt service\")
        || [
            "localsystem",
            "localservice",
            "networkservice",
            r"nt authority\system",
            r"nt authority\localservice",
            r"nt authority\local service",
            r"nt authority\networkservice",
            r"nt authority\network service",
        ]
        .contains(&account.as_str())
}

/// `orc up`'s options given to install, as the service's command line passes them.
fn up_options(up: &UpArgs) -> Vec<String> {
    let mut options = Vec::new();
    let listen = &up.listen;
    if listen.listen.to_string() != "127.0.0.1:7878" {
        options.extend(["--listen".to_string(), listen.listen.to_string()]);
    }
    let flags = [
        (listen.allow_remote, "--allow-remote"),
        (listen.public_read, "--public-read"),
        (up.no_dashboard, "--no-dashboard"),
        (up.no_watch, "--no-watch"),
    ];
    options.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| f.to_string()),
    );
    for host in &listen.allow_hosts {
        options.extend(["--allow-host".to_string(), host.clone()]);
    }
    if listen.idle_timeout.as_secs() != 30 {
        options.extend([
            "--idle-timeout".to_string(),
            format!("{}s", listen.idle_timeout.as_secs()),
        ]);
    }
    options
}

/// What `command ARGS` (the manager's tool, `name`) printed, or an error with it.
#[cfg(not(windows))]
fn said(mut command: std::process::Command, name: &str, args: &[&str]) -> Result<String> {
    let out = command
        .args(args)
        .output()
        .with_context(|| format!("cannot run {name}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("{name} {}: {}", args.join(" "), said.trim());
    }
    Ok(said)
}

pub(crate) fn probe(args: &UnitArgs) -> Result<Probe> {
    manager(args)?.probe()
}

/// Say whether the service is installed and running; the exit code says it too, as
/// systemctl's: 0 running, 3 not running, 4 not installed.
fn status(args: &UnitArgs, out: &Output) -> Result<ExitCode> {
    let p = probe(args)?;
    if out.json {
        out.print_json(&serde_json::json!({
            "manager": p.manager,
            "name": p.name,
            "file": p.file,
            "installed": p.installed,
            "state": p.state,
            "running": p.running,
        }));
    } else if p.installed {
        let running = match &p.state {
            Some(word) => format!("{} says it is {word}", p.manager),
            None => format!("{} does not run here, so it is not running", p.manager),
        };
        println!("{} is installed{}; {running}.", p.name, p.at());
    } else {
        println!("{} is not installed{}.", p.name, p.at());
    }
    Ok(ExitCode::from(match (p.installed, p.running) {
        (_, true) => 0,
        (true, false) => 3,
        (false, false) => 4,
    }))
}

/// The service's body: on Windows the SCM's dispatcher; elsewhere `orc up`'s parts in
/// the foreground until SIGTERM (systemd and launchd stop services with it).
fn run_service(args: RunArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    #[cfg(windows)]
    {
        windows::dispatch(args, global, out)
    }
    #[cfg(not(windows))]
    {
        let state = crate::workspace::state_path(global.state.as_deref());
        let _log = crate::orclog::init(&state, "service");
        tracing::info!("service {} started", args.name);
        let (sender, wake) = crate::daemon::channel_with_signals()?;
        let result = super::daemon::run_parts(&args.up, global, out, sender, wake);
        match &result {
            Ok(code) if *code == ExitCode::SUCCESS => {
                tracing::info!("service {} stopped", args.name)
            }
            Ok(_) => tracing::error!("service {} stopped: the apply failed", args.name),
            Err(e) => tracing::error!("service {} failed: {e:#}", args.name),
        }
        result
    }
}
