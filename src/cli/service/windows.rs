//! Windows: a service of the Service Control Manager, and its body: the SCM's
//! dispatcher and control handler around `orc up`'s parts.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

use super::{Manager, Probe, RunArgs};
use crate::cli::{Global, Output};
use crate::daemon::Wake;
use crate::service::ServiceSpec;
use crate::service::windows::{self as scm, STOP_WAIT, event_log};

pub(super) struct Scm {
    name: String,
}

impl Scm {
    pub(super) fn new(name: &str) -> Scm {
        Scm {
            name: name.to_string(),
        }
    }

    fn needs_elevation(&self, what: &str) -> Result<()> {
        if !crate::backend::windows::account::elevated() {
            bail!(
                "{what} a Windows service needs an elevated prompt: run it from a PowerShell or command prompt started with \"Run as administrator\""
            );
        }
        Ok(())
    }
}

impl Manager for Scm {
    fn install(
        &self,
        spec: &ServiceSpec,
        password: Option<&str>,
        _force: bool,
        out: &Output,
    ) -> Result<()> {
        self.needs_elevation("installing")?;
        if scm::state(&self.name)?.is_some() {
            bail!(
                "a service named {} is installed already: `orc service uninstall --name {}` first",
                self.name,
                self.name
            );
        }
        for warning in scm::install(spec, password)? {
            eprintln!("warning: {warning}");
        }
        out.info(&format!(
            "Installed the service {} ({}), started at boot and again after a failure.",
            self.name,
            spec.account.as_deref().unwrap_or("LocalSystem")
        ));
        scm::start(&self.name).with_context(|| {
            format!(
                "the service {} is installed but did not start: fix what follows and run `orc service start --name {}`, or remove it with `orc service uninstall --name {}`",
                self.name, self.name, self.name
            )
        })?;
        out.info(&format!(
            "Started {}: `orc service status` says how it runs; its start, stop and failures are in the Application log under the source {}.",
            self.name, self.name
        ));
        Ok(())
    }

    fn uninstall(&self, force: bool, out: &Output) -> Result<()> {
        self.needs_elevation("removing")?;
        if scm::uninstall(&self.name, force)? {
            out.info(&format!("Removed the service {}.", self.name));
        } else {
            out.info(&format!("The service {} is not installed.", self.name));
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "Windows"
    }

    fn probe(&self) -> Result<Probe> {
        let state = scm::state(&self.name)?;
        Ok(Probe {
            manager: "Windows",
            name: self.name.clone(),
            file: None,
            installed: state.is_some(),
            running: state == Some("running"),
            state: state.map(str::to_string),
            hint: format!(
                "`orc service start --name {}` (elevated); the Application log (source {}) and orc's log say why it stopped",
                self.name, self.name
            ),
        })
    }

    fn start(&self, out: &Output) -> Result<()> {
        scm::start(&self.name)?;
        out.info(&format!("Started {}.", self.name));
        Ok(())
    }

    fn stop(&self, out: &Output) -> Result<()> {
        scm::stop(&self.name)?;
        out.info(&format!("Stopped {}.", self.name));
        Ok(())
    }
}

/// What the service's main runs: the command line the SCM started orc with.
struct Body {
    args: RunArgs,
    global: Global,
    out: Output,
}

static BODY: Mutex<Option<Body>> = Mutex::new(None);

/// The SCM's token for reporting the service's state.
#[derive(Clone, Copy)]
struct Status(ServiceStatusHandle);
// SAFETY: the handle is an opaque token; SetServiceStatus may be called with it from
// any thread of the service's process.
unsafe impl Send for Status {}
// SAFETY: as above; the handle is never written after it is set.
unsafe impl Sync for Status {}

static STATUS: OnceLock<Status> = OnceLock::new();

/// Whether the service reported Stopped: held while a state is reported, so that a
/// stop control arriving as the service stops by itself does not report StopPending
/// after Stopped (which would leave the SCM waiting).
static STOPPED: Mutex<bool> = Mutex::new(false);

/// ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: orc was not started by the SCM.
const NOT_A_SERVICE: i32 = 1063;

/// Hand the process to the SCM's dispatcher, which calls `service_main` and returns
/// once the service has stopped. Started from a console instead, the same parts run
/// in the foreground until Ctrl-C.
pub(super) fn dispatch(args: RunArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let name = args.name.clone();
    *BODY.lock().unwrap_or_else(|e| e.into_inner()) = Some(Body {
        args,
        global: global.clone(),
        out: out.clone(),
    });
    match service_dispatcher::start(&name, ffi_service_main) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(NOT_A_SERVICE) => {
            let Some(body) = BODY.lock().unwrap_or_else(|e| e.into_inner()).take() else {
                bail!("the service's command line was lost");
            };
            out.info("Not started by the Service Control Manager: running in the foreground (Ctrl-C stops).");
            let (sender, wake) = crate::daemon::channel_with_signals()?;
            crate::cli::daemon::run_parts(&body.args.up, &body.global, &body.out, sender, wake)
        }
        Err(e) => Err(e).context("cannot connect to the Service Control Manager"),
    }
}

define_windows_service!(ffi_service_main, service_main);

fn status(state: ServiceState, exit_code: ServiceExitCode, wait_hint: Duration) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            // Preshutdown, not shutdown: it comes early enough, and waits as long as
            // install set (the runs' grace), where shutdown gives a few seconds.
            ServiceControlAccept::STOP | ServiceControlAccept::PRESHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let Some(body) = BODY.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let name = body.args.name.clone();
    let (sender, wake) = mpsc::channel();
    let stop = sender.clone();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Preshutdown | ServiceControl::Shutdown => {
            let stopped = STOPPED.lock().unwrap_or_else(|e| e.into_inner());
            if let (false, Some(Status(handle))) = (*stopped, STATUS.get()) {
                let _ = handle.set_service_status(status(
                    ServiceState::StopPending,
                    ServiceExitCode::Win32(0),
                    STOP_WAIT,
                ));
            }
            let _ = stop.send(Wake::Stop);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = match service_control_handler::register(&name, handler) {
        Ok(handle) => handle,
        Err(e) => {
            let text = format!("orc service {name} cannot take the SCM's controls: {e}");
            event_log::report(&name, event_log::Level::Error, event_log::FAILED, &text);
            return;
        }
    };
    let _ = STATUS.set(Status(handle));
    let _ = handle.set_service_status(status(
        ServiceState::Running,
        ServiceExitCode::Win32(0),
        Duration::ZERO,
    ));
    let state = crate::workspace::state_path(body.global.state.as_deref());
    let _log = crate::orclog::init(&state, "service");
    let config = body.global.config_path();
    let started = format!(
        "orc service {name} started: {} (state {})",
        config.display(),
        state.display()
    );
    tracing::info!("{started}");
    event_log::report(
        &name,
        event_log::Level::Information,
        event_log::STARTED,
        &started,
    );

    let result =
        crate::cli::daemon::run_parts(&body.args.up, &body.global, &body.out, sender, wake);
    let (exit_code, level, id, text) = match result {
        Ok(code) if code == ExitCode::SUCCESS => (
            ServiceExitCode::Win32(0),
            event_log::Level::Information,
            event_log::STOPPED,
            format!("orc service {name} stopped"),
        ),
        Ok(_) => (
            ServiceExitCode::ServiceSpecific(1),
            event_log::Level::Error,
            event_log::FAILED,
            format!(
                "orc service {name} stopped: {} did not apply (orc's log says why); the SCM starts it again",
                config.display()
            ),
        ),
        Err(e) => (
            ServiceExitCode::ServiceSpecific(2),
            event_log::Level::Error,
            event_log::FAILED,
            format!("orc service {name} failed: {e:#}"),
        ),
    };
    if id == event_log::FAILED {
        tracing::error!("{text}");
    } else {
        tracing::info!("{text}");
    }
    event_log::report(&name, level, id, &text);
    let mut stopped = STOPPED.lock().unwrap_or_else(|e| e.into_inner());
    *stopped = true;
    let _ = handle.set_service_status(status(ServiceState::Stopped, exit_code, Duration::ZERO));
}
