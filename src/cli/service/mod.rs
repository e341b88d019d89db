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
    /// "systemd", "launchd", "Windows".
    fn kind(&self) -> &'static str;
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

/// A file of the service manager's that orc did not write is another program's:
/// refused without --force. Orc's own is a regular file with orc's marker line among
/// its first three lines; anything else (unreadable, not UTF-8, a binary plist, a
/// symlink, a folder) is not orc's.
#[cfg(not(windows))]
fn check_ours(file: &std::path::Path, force: bool, verb: &str) -> Result<()> {
    let meta = match std::fs::symlink_metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("cannot look at {}: {e}", file.display()),
    };
    let marker_lines = [
        format!(
            "# {}; `orc service uninstall` removes it.",
            crate::service::MARKER
        ),
        format!(
            "<!-- {}; `orc service uninstall` removes it. -->",
            crate::service::MARKER
        ),
    ];
    let ours = meta.is_file()
        && std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines()
                .take(3)
                .any(|l| marker_lines.iter().any(|m| l.trim_end() == m))
        });
    if !ours && !force {
        bail!(
            "{} was not written by `orc service install` (or cannot be read as such): pick another --name, or pass --force to {verb} it",
            file.display()
        );
    }
    Ok(())
}

/// Write the unit or plist: mode 0644 whatever the umask (a service of the machine
/// that others could edit would run their commands), its folder made 0755.
#[cfg(not(windows))]
fn write_service_file(file: &std::path::Path, text: &str) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = file.parent().filter(|d| !d.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Not through a link: check_ours refused one, --force replaces it.
    if std::fs::symlink_metadata(file).is_ok_and(|m| !m.is_file()) {
        std::fs::remove_file(file).with_context(|| format!("cannot replace {}", file.display()))?;
    }
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot set the mode of {}", file.display()))?;
    Ok(())
}

pub fn run(cmd: ServiceCommand, global: &Global, out: &Output) -> Result<ExitCode> {
    match cmd {
        ServiceCommand::Install(args) => install(&args, global, out),
        ServiceCommand::Uninstall(args) => manager(&args.unit)?.uninstall(args.force, out),
        ServiceCommand::Status(args) => return Ok(status(&args, out)),
        ServiceCommand::Start(args) => manager(&args)?.start(out),
        ServiceCommand::Stop(args) => manager(&args)?.stop(out),
        ServiceCommand::Run(args) => return run_service(args, global, out),
    }
    .map(|()| ExitCode::SUCCESS)
}

fn install(args: &InstallArgs, global: &Global, out: &Output) -> Result<()> {
    let manager = manager(&args.unit)?;
    if args.allow_new_privileges && manager.kind() != "systemd" {
        bail!(
            "--allow-new-privileges is systemd's (NoNewPrivileges=); {} has no such setting: leave it out",
            manager.kind()
        );
    }
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
    for (what, path) in [
        ("orc's path", &orc),
        ("--config", &config),
        ("--state", &state),
    ] {
        if path.to_str().is_none() {
            bail!(
                "{what} {}: not valid UTF-8, which a service's command line cannot hold; nothing was installed",
                path.display()
            );
        }
    }
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
    // A service of the machine runs as root (LocalSystem) unless --account names
    // another: whoever may change what it runs may run anything as root.
    let as_root = !args.unit.user && account.as_deref().is_none_or(|a| a == "root" || a == "0");
    if as_root {
        // Every file the config is read from: its includes too.
        let mut paths = vec![orc.as_path(), config.as_path(), state.as_path()];
        paths.extend(loaded.config.files.iter().map(PathBuf::as_path));
        let (refused, doubtful) = untrusted_paths(&paths);
        for why in &doubtful {
            eprintln!("warning: {why}; the service runs as root");
        }
        if let Some(why) = refused.first() {
            if !args.force {
                bail!(
                    "{why}, and the service runs as root: whoever may change it runs anything as root; `chmod o-w` it, or pass --force"
                );
            }
            for why in &refused {
                eprintln!("warning: {why}; the service runs as root (--force)");
            }
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
    if account.chars().any(char::is_control) {
        bail!(
            "--account {account:?}: holds a control character (a line break?); nothing was installed"
        );
    }
    if account.trim().is_empty() {
        bail!("--account {account:?}: empty; leave --account out to run as the manager's default");
    }
    if account.trim() != account {
        bail!("--account {account:?}: spaces around the name");
    }
    if args.unit.user {
        bail!("--account with --user: a user service runs as you; leave one of them out");
    }
    // A Unix account is a portable user name or a uid (what User= and UserName take);
    // a Windows one may hold spaces and backslashes (NT AUTHORITY\Local Service).
    let portable = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    let unix_name = account.chars().all(portable) && !account.starts_with('-')
        || account
            .strip_suffix('$')
            .is_some_and(|a| !a.is_empty() && a.chars().all(portable));
    if !cfg!(windows) && !unix_name {
        bail!(
            "--account {account:?}: not a user name (letters, digits, '.', '_', '-') or a user id"
        );
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

/// What makes `paths` unsafe for a service running as root: (refused, warned). A
/// path, what it links to, a folder on the way to either, or a file in a config
/// folder that every user may write (a sticky folder such as /tmp excepted: others
/// may add files there, not replace orc's) is refused; one that another user owns,
/// or a group may write, is warned about.
#[cfg(unix)]
fn untrusted_paths(paths: &[&std::path::Path]) -> (Vec<String>, Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    let mut checked = std::collections::BTreeSet::new();
    let mut to_check: Vec<PathBuf> = Vec::new();
    for path in paths {
        let real = std::fs::canonicalize(path).ok();
        for p in std::iter::once(path.to_path_buf()).chain(real) {
            if p.is_dir() {
                to_check.extend(
                    std::fs::read_dir(&p)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .filter(|f| f.extension().is_some_and(|x| x == "toml")),
                );
            }
            to_check.extend(p.ancestors().map(PathBuf::from));
        }
    }
    let (mut refused, mut doubtful) = (Vec::new(), Vec::new());
    for p in to_check {
        if p.as_os_str().is_empty() || !checked.insert(p.clone()) {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        let sticky = meta.is_dir() && meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o002 != 0 && !sticky {
            refused.push(format!("{} can be changed by every user", p.display()));
        } else if meta.uid() != 0 {
            doubtful.push(format!("{} belongs to user id {}", p.display(), meta.uid()));
        } else if meta.mode() & 0o020 != 0 && !sticky && meta.gid() != 0 {
            doubtful.push(format!(
                "{} can be changed by the group id {}",
                p.display(),
                meta.gid()
            ));
        }
    }
    (refused, doubtful)
}

#[cfg(not(unix))]
fn untrusted_paths(_paths: &[&std::path::Path]) -> (Vec<String>, Vec<String>) {
    (Vec::new(), Vec::new())
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
/// systemctl's: 0 running, 3 not running, 4 not installed or unknown (an error).
fn status(args: &UnitArgs, out: &Output) -> ExitCode {
    let p = match probe(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(4);
        }
    };
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
    ExitCode::from(match (p.installed, p.running) {
        (_, true) => 0,
        (true, false) => 3,
        (false, false) => 4,
    })
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
