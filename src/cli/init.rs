//! `orc init`: a first setup. Asks for the backend (proposing this platform's),
//! the time zone, the vault and alert mail; writes tasks.toml with comments and one
//! example task, creates the state database (and the vault), and shows the plan.
//! `--yes` takes the defaults without asking.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::{Global, Output, ask};
use crate::secrets::{KeyKind, Vault, key};
use crate::state::State;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Ask nothing: take the default for every answer no flag gives
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace the config file if it exists
    #[arg(long)]
    pub force: bool,
    /// settings.timezone: "local" or an IANA name such as Europe/Berlin [default: local]
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// Create the secrets vault [default: none]
    #[arg(long, value_enum, value_name = "KEY")]
    pub vault: Option<VaultChoice>,
    /// Alert mail: the SMTP server's host name (without it, no [smtp] is written)
    #[arg(long, value_name = "HOST")]
    pub smtp_server: Option<String>,
    /// The SMTP port [default: 587, STARTTLS]
    #[arg(long, value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// The sender address of alert mail
    #[arg(long, value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// Where alerts go: the address of the [notify.ops] group
    #[arg(long, value_name = "ADDRESS")]
    pub alert_email: Option<String>,
    /// The SMTP server needs a login: the username and password are the vault's
    /// secrets smtp_username and smtp_password
    #[arg(long)]
    pub smtp_login: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VaultChoice {
    None,
    KeyFile,
    Passphrase,
}

/// Alert mail settings.
struct Mail {
    server: String,
    port: u16,
    from: String,
    to: String,
    login: bool,
}

struct Answers {
    backend: String,
    timezone: String,
    vault: VaultChoice,
    mail: Option<Mail>,
}

/// The backends that make sense here, the proposed one first, each with a word on it.
fn backends() -> Vec<(&'static str, String)> {
    let mut list = Vec::new();
    if cfg!(windows) {
        list.push((
            "auto",
            "auto: Windows Task Scheduler here (recommended)".into(),
        ));
        list.push(("windows", "windows: Windows Task Scheduler".into()));
    } else {
        list.push((
            "auto",
            "auto: orc's embedded scheduler here (recommended; `orc up` runs it)".into(),
        ));
        if which("crontab").is_some() {
            list.push(("cron", "cron: the user's crontab".into()));
        }
    }
    list.push((
        "embedded",
        "embedded: orc's own scheduler, `orc daemon` or `orc up`".into(),
    ));
    list
}

/// A program on PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let candidate = dir.join(program);
        let exe = dir.join(format!("{program}.exe"));
        [candidate, exe].into_iter().find(|c| c.is_file())
    })
}

fn check_address(text: &str) -> Result<()> {
    let text = text.trim();
    match text.split_once('@') {
        Some((user, host)) if !user.is_empty() && host.contains('.') && !text.contains(' ') => {
            Ok(())
        }
        _ => Err(anyhow::anyhow!(
            "\"{text}\" is not a mail address like ops@example.com"
        )),
    }
}

fn check_zone(text: &str) -> Result<()> {
    crate::schedule::resolve_zone(text.trim())?;
    Ok(())
}

/// Whether `backend` can run the example task's schedule in `timezone`: cron fires in
/// the system time zone only, Task Scheduler in the machine's zone or UTC. Refused here,
/// before anything is written, rather than writing a config that plan then refuses.
fn check_backend_zone(backend: &str, timezone: &str) -> Result<()> {
    let timezone = timezone.trim();
    let system = jiff::tz::TimeZone::system();
    let system = system.iana_name().unwrap_or("which has no IANA name");
    let windows = backend == "windows" || (backend == "auto" && cfg!(windows));
    if backend == "cron" && crate::backend::cron::zone_refusal(timezone).is_some() {
        return Err(anyhow::anyhow!(
            "the cron backend cannot honour the time zone {timezone}: cron fires in the \
             system time zone ({system}). Use --timezone local (the system's zone), or \
             --backend embedded, whose scheduler runs schedules in any zone"
        ));
    }
    let machine = crate::backend::windows::machine_zone();
    if windows
        && !["local", "UTC", "Etc/UTC", machine.as_str()]
            .iter()
            .any(|z| z.eq_ignore_ascii_case(timezone))
    {
        return Err(anyhow::anyhow!(
            "Task Scheduler cannot honour the time zone {timezone}: it runs tasks in the \
             machine's time zone ({machine}) or in UTC. Use --timezone local or UTC, or \
             --backend embedded, whose scheduler runs schedules in any zone"
        ));
    }
    Ok(())
}

/// The answers from flags and defaults, checked.
fn from_flags(args: &InitArgs, global: &Global) -> Result<Answers> {
    let backend = global.backend.unwrap_or_default().as_str().to_string();
    let timezone = args.timezone.clone().unwrap_or_else(|| "local".into());
    check_zone(&timezone).map_err(|e| anyhow::anyhow!("--timezone: {e}; nothing was changed"))?;
    // Asked interactively, the backend may still change: checked once both are known.
    if args.yes {
        check_backend_zone(&backend, &timezone)
            .map_err(|e| anyhow::anyhow!("{e}; nothing was changed"))?;
    }
    let mail = match &args.smtp_server {
        None => {
            if args.alert_email.is_some() || args.smtp_from.is_some() {
                bail!("--alert-email and --smtp-from need --smtp-server; nothing was changed");
            }
            None
        }
        Some(server) => {
            let (Some(from), Some(to)) = (&args.smtp_from, &args.alert_email) else {
                bail!("--smtp-server needs --smtp-from and --alert-email too; nothing was changed");
            };
            for (flag, a) in [("--smtp-from", from), ("--alert-email", to)] {
                check_address(a).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
            }
            Some(Mail {
                server: server.clone(),
                port: args.smtp_port.unwrap_or(587),
                from: from.clone(),
                to: to.clone(),
                login: args.smtp_login,
            })
        }
    };
    Ok(Answers {
        backend,
        timezone,
        vault: args.vault.unwrap_or(VaultChoice::None),
        mail,
    })
}

/// Ask for each answer no flag gave.
fn ask_answers(args: &InitArgs, global: &Global) -> Result<Answers> {
    use inquire::{Confirm, Select, Text};
    let mut answers = from_flags(args, global)?;
    if global.backend.is_none() {
        let list = backends();
        let labels: Vec<String> = list.iter().map(|(_, l)| l.clone()).collect();
        let picked = ask::answer(
            Select::new("Which scheduler should run the tasks?", labels.clone()).prompt(),
        )?;
        let i = labels.iter().position(|l| *l == picked).unwrap_or(0);
        answers.backend = list[i].0.to_string();
    }
    if args.timezone.is_none() {
        let backend = answers.backend.clone();
        answers.timezone = ask::answer(
            Text::new("Time zone of the schedules:")
                .with_default("local")
                .with_help_message("local (this machine's), or an IANA name such as Europe/Berlin")
                .with_validator(ask::check(move |text: &str| {
                    check_zone(text)?;
                    check_backend_zone(&backend, text)
                }))
                .prompt(),
        )?
        .trim()
        .to_string();
    } else {
        // A backend picked from the list must suit the --timezone given.
        check_backend_zone(&answers.backend, &answers.timezone)
            .map_err(|e| anyhow::anyhow!("{e}; nothing was changed"))?;
    }
    if args.vault.is_none() {
        let options = vec![
            "no vault for now (`orc secret init` later)",
            "yes, with a key file (scheduled runs read it)",
            "yes, with a passphrase (scheduled runs need ORC_PASSPHRASE)",
        ];
        let picked = ask::answer(
            Select::new(
                "Create a vault for secrets (passwords the tasks use)?",
                options.clone(),
            )
            .prompt(),
        )?;
        answers.vault = match options.iter().position(|o| *o == picked) {
            Some(1) => VaultChoice::KeyFile,
            Some(2) => VaultChoice::Passphrase,
            _ => VaultChoice::None,
        };
    }
    if args.smtp_server.is_none()
        && ask::answer(
            Confirm::new("Send alert mail when a task fails?")
                .with_default(false)
                .prompt(),
        )?
    {
        let text = |message: &str, help: &str, default: Option<&str>, address: bool| {
            let mut prompt = Text::new(message).with_help_message(help);
            if let Some(d) = default {
                prompt = prompt.with_default(d);
            }
            prompt = if address {
                prompt.with_validator(ask::check(check_address))
            } else {
                prompt.with_validator(ask::check(|t: &str| {
                    if t.trim().is_empty() {
                        Err(anyhow::anyhow!("an answer is needed"))
                    } else {
                        Ok(())
                    }
                }))
            };
            ask::answer(prompt.prompt()).map(|t| t.trim().to_string())
        };
        let server = text(
            "SMTP server:",
            "host name, e.g. smtp.office365.com",
            None,
            false,
        )?;
        let port = text("SMTP port:", "587: STARTTLS; 465: TLS", Some("587"), false)?;
        let port: u16 = port
            .parse()
            .with_context(|| format!("\"{port}\" is not a port number"))?;
        let from = text("Send alerts from:", "the sender address", None, true)?;
        let to = text(
            "Send alerts to:",
            "one address; more go in [notify.ops]",
            None,
            true,
        )?;
        let login = ask::answer(
            Confirm::new("Does the server need a login?")
                .with_default(true)
                .with_help_message("the username and password are kept in the vault")
                .prompt(),
        )?;
        answers.mail = Some(Mail {
            server,
            port,
            from,
            to,
            login,
        });
    }
    Ok(answers)
}

/// A TOML string literal.
fn quoted(text: &str) -> String {
    toml_edit::Value::from(text).to_string()
}

/// tasks.toml for the answers: comments saying what each part is for, one example.
fn config_text(a: &Answers) -> String {
    let backend_note = match a.backend.as_str() {
        "auto" => "auto: Task Scheduler on Windows, orc's embedded scheduler elsewhere",
        "cron" => "the user's crontab (a block orc manages)",
        "windows" => "Windows Task Scheduler",
        _ => "orc's own scheduler: run `orc up` or `orc daemon`",
    };
    let mut text = format!(
        "# orc's tasks. Each [tasks.NAME] table below is one scheduled task.\n\
         # `orc plan` shows what would change in the scheduler, `orc apply` makes it so,\n\
         # and `orc new` adds a task by asking. Every key is described in orc's README,\n\
         # \"tasks.toml reference\".\n\
         \n\
         [settings]\n\
         backend = {}   # {backend_note}\n\
         timezone = {}  # schedules are in this zone: \"local\" or e.g. \"Europe/Berlin\"\n\
         \n\
         [defaults]             # every task gets these unless it sets its own\n\
         timeout = \"1h\"\n",
        quoted(&a.backend),
        quoted(&a.timezone),
    );
    if let Some(m) = &a.mail {
        text.push_str("notify = [\"ops\"]       # alert the ops group below\n");
        text.push_str(&format!(
            "\n# Alert mail: where it goes, and the events that send it.\n\
             [notify.ops]\n\
             email = [{}]\n\
             on = [\"failure\", \"timeout\", \"missed\"]\n\
             \n\
             [smtp]\n\
             server = {}\n\
             port = {}\n\
             tls = {}\n\
             from = {}\n",
            quoted(&m.to),
            quoted(&m.server),
            m.port,
            quoted(if m.port == 465 { "tls" } else { "starttls" }),
            quoted(&m.from),
        ));
        if m.login {
            text.push_str(
                "# From the vault: `orc secret set smtp_username`, `orc secret set smtp_password`\n\
                 username = { secret = \"smtp_username\" }\n\
                 password = { secret = \"smtp_password\" }\n",
            );
        }
    }
    text.push_str(
        "\n# An example to edit or remove: on weekdays at 09:00, print a greeting.\n\
         # `orc run hello` runs it now (after `orc apply`); `orc logs hello` shows its output.\n\
         [tasks.hello]\n\
         description = \"An example task\"\n\
         shell = \"echo Hello from orc\"   # a shell line; `command = \"prog arg\"` runs a program without one\n\
         schedule = \"0 9 * * 1-5\"        # cron, \"@daily\", \"09:00\" or \"MON 08:00\"\n\
         timeout = \"1m\"\n",
    );
    text
}

pub fn run(args: InitArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let config_path = global.config_path();
    if config_path.is_dir() {
        bail!(
            "{} is a folder; pass --config with the file to create, e.g. {}",
            config_path.display(),
            config_path.join("tasks.toml").display()
        );
    }
    if config_path.exists() && !args.force {
        bail!(
            "{} exists already; nothing was changed (orc init --force replaces it, \
             orc new adds a task to it)",
            config_path.display()
        );
    }
    let answers = if args.yes {
        from_flags(&args, global)?
    } else if ask::can_ask() {
        ask::setup();
        ask_answers(&args, global)?
    } else {
        bail!(
            "orc init asks its questions on a terminal; without one, add --yes to take the \
             defaults (and flags for any other answer, see orc init --help)"
        );
    };
    // The passphrase first: a mistyped one stops everything before anything is written.
    let passphrase = match answers.vault {
        VaultChoice::Passphrase => Some(super::secret::new_passphrase("ORC_PASSPHRASE")?),
        _ => None,
    };
    let text = config_text(&answers);
    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    std::fs::write(&config_path, &text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    // orc's own output must pass validate (as plan will check it); say so plainly if not.
    let checked = super::validate::check(global)?;
    if checked.workspace.is_none() {
        super::validate::print_diagnostics(&checked.diagnostics, out);
        bail!("the written {} does not validate", config_path.display());
    }
    out.info(&format!("Wrote {}.", config_path.display()));
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let state = State::open(&state_path)?;
    out.info(&format!(
        "The state database is {}.",
        state.path().display()
    ));
    make_vault(&state, answers.vault, passphrase, out)?;
    if answers.mail.as_ref().is_some_and(|m| m.login) {
        out.info(
            "Store the mail login in the vault: orc secret set smtp_username; orc secret set smtp_password",
        );
    }
    drop(state);
    out.info("\nThe plan (`orc apply` makes it so):\n");
    super::plan::show(global, out)
}

fn make_vault(
    state: &State,
    choice: VaultChoice,
    passphrase: Option<zeroize::Zeroizing<String>>,
    out: &Output,
) -> Result<()> {
    let kind = match choice {
        VaultChoice::None => return Ok(()),
        VaultChoice::KeyFile => KeyKind::KeyFile,
        VaultChoice::Passphrase => KeyKind::Passphrase,
    };
    if crate::secrets::initialised(state)? {
        out.info("The vault exists already; it was kept as it is.");
        return Ok(());
    }
    let key_file = key::key_file_path(state.path());
    if kind == KeyKind::KeyFile && key_file.exists() {
        bail!(
            "{} exists already; the vault was not created (remove the file, or set ORC_KEY_FILE)",
            key_file.display()
        );
    }
    Vault::init(state, kind, &key_file, passphrase)?;
    out.info(&match kind {
        KeyKind::KeyFile => format!(
            "Created the vault with the key file {} (owner-only); keep a copy somewhere safe.",
            key_file.display()
        ),
        KeyKind::Passphrase => {
            "Created the vault, keyed by the passphrase (give it to scheduled runs as ORC_PASSPHRASE).".to_string()
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_written_config_validates() {
        let dir = tempfile::tempdir().unwrap();
        for (backend, mail) in [("auto", false), ("cron", true), ("embedded", true)] {
            let answers = Answers {
                backend: backend.into(),
                timezone: "Europe/Berlin".into(),
                vault: VaultChoice::None,
                mail: mail.then(|| Mail {
                    server: "smtp.example.com".into(),
                    port: 465,
                    from: "orc@example.com".into(),
                    to: "ops@example.com".into(),
                    login: backend == "cron",
                }),
            };
            let path = dir.path().join(format!("{backend}.toml"));
            std::fs::write(&path, config_text(&answers)).unwrap();
            let loaded = crate::config::load(Path::new(&path)).unwrap();
            assert!(loaded.config.tasks.contains_key("hello"));
            assert_eq!(loaded.config.smtp.is_some(), mail);
        }
    }
}
