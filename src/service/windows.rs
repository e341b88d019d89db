//! The Windows service: registered with the Service Control Manager (started at
//! boot, started again 10 s and then 60 s after a failure), and the Event Log source
//! it writes its start, stop and failures to. The service's own body (the SCM's
//! dispatcher and control handler) is in src/cli/service/windows.rs, beside the parts
//! of `orc up` it runs.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, Result};
use windows_service::Error as ScmError;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::ServiceSpec;

/// How long a stop may take: the runs' 30 s grace, and the rest of the shutdown.
pub const STOP_WAIT: Duration = Duration::from_secs(45);

/// ERROR_SERVICE_DOES_NOT_EXIST.
const NO_SUCH_SERVICE: i32 = 1060;
/// ERROR_SERVICE_NOT_ACTIVE: a stop of a stopped service.
const NOT_ACTIVE: i32 = 1062;
/// ERROR_SERVICE_ALREADY_RUNNING.
const ALREADY_RUNNING: i32 = 1056;
/// ERROR_SERVICE_LOGON_FAILED: the account lacks "Log on as a service", or its
/// password is wrong.
const LOGON_FAILED: i32 = 1069;

fn os_error(e: &ScmError) -> Option<i32> {
    match e {
        ScmError::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access)
        .context("cannot reach the Service Control Manager")
}

/// ERROR_INVALID_LEVEL: a ChangeServiceConfig2 setting this service manager does not
/// know. Windows knows them all (since Vista); Wine knows only the description.
const UNKNOWN_SETTING: i32 = 124;

/// Register the service (started at boot as LocalSystem, or as `spec.account` with
/// `password`; none for a gMSA, whose name ends in `$`), with its recovery actions,
/// its preshutdown time and its Event Log source. A setting the service manager does
/// not know is a warning (returned); any other failure removes the service again.
pub fn install(spec: &ServiceSpec, password: Option<&str>) -> Result<Vec<String>> {
    let scm = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let info = ServiceInfo {
        name: OsString::from(&spec.name),
        display_name: OsString::from(format!("orc ({})", spec.name)),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: spec.orc.clone(),
        launch_arguments: spec.run_args().into_iter().map(OsString::from).collect(),
        dependencies: vec![],
        account_name: spec.account.as_ref().map(OsString::from),
        account_password: password.map(OsString::from),
    };
    let service = scm
        .create_service(
            &info,
            ServiceAccess::CHANGE_CONFIG
                | ServiceAccess::START
                | ServiceAccess::QUERY_STATUS
                | ServiceAccess::DELETE,
        )
        .with_context(|| format!("cannot create the service {}", spec.name))?;
    let configured = configure(&service, spec);
    if configured.is_err() {
        let _ = service.delete();
    }
    configured
}

fn configure(
    service: &windows_service::service::Service,
    spec: &ServiceSpec,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let mut setting = |what: &str, result: windows_service::Result<()>| match result {
        Ok(()) => Ok(()),
        Err(e) if os_error(&e) == Some(UNKNOWN_SETTING) => {
            warnings.push(format!(
                "this service manager does not take {what} (error {UNKNOWN_SETTING}): the service runs without"
            ));
            Ok(())
        }
        Err(e) => Err(e).context(format!("cannot set the service's {what}")),
    };
    setting(
        "description",
        service.set_description(format!(
            "orc: the dashboard, the config watcher and (with the embedded backend) the scheduler of {}",
            spec.config.display()
        )),
    )?;
    setting(
        "recovery actions (restart after 10 s, then 60 s)",
        service.update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            // The last action repeats for every failure after it.
            actions: Some(vec![
                ServiceAction {
                    action_type: ServiceActionType::Restart,
                    delay: Duration::from_secs(10),
                },
                ServiceAction {
                    action_type: ServiceActionType::Restart,
                    delay: Duration::from_secs(60),
                },
            ]),
        }),
    )?;
    // A service that stops itself with an error (a config that no longer loads)
    // counts as failed too, not only a crash.
    setting(
        "recovery after a stop with an error",
        service.set_failure_actions_on_non_crash_failures(true),
    )?;
    // At shutdown the runs get their grace before Windows ends the process.
    setting(
        "preshutdown time",
        service.set_preshutdown_timeout(STOP_WAIT),
    )?;
    warnings.extend(event_log::register(&spec.name)?);
    Ok(warnings)
}

/// Whether the service `name` is one `orc service install` made: its command line
/// starts an orc executable with `service run --name NAME --config`.
fn is_ours(service: &windows_service::service::Service, name: &str) -> Result<bool> {
    let config = service.query_config()?;
    let line = config
        .executable_path
        .to_string_lossy()
        .to_ascii_lowercase();
    let runs_orc = line
        .split(".exe")
        .next()
        .and_then(|exe| exe.trim_start_matches('"').rsplit(['\\', '/']).next())
        .is_some_and(|file| file.starts_with("orc"));
    let name = name.to_ascii_lowercase();
    Ok(runs_orc
        && (line.contains(&format!(" service run --name {name} --config "))
            || line.contains(&format!(" service run --name \"{name}\" --config "))))
}

/// Stop the service and delete it; false when there was none. A service orc did
/// not install is refused unless `force`.
pub fn uninstall(name: &str, force: bool) -> Result<bool> {
    let scm = manager(ServiceManagerAccess::CONNECT)?;
    let service = match scm.open_service(
        name,
        ServiceAccess::STOP
            | ServiceAccess::DELETE
            | ServiceAccess::QUERY_STATUS
            | ServiceAccess::QUERY_CONFIG,
    ) {
        Ok(service) => service,
        Err(e) if os_error(&e) == Some(NO_SUCH_SERVICE) => return Ok(false),
        Err(e) => return Err(e).context(format!("cannot open the service {name}")),
    };
    if !force && !is_ours(&service, name)? {
        anyhow::bail!(
            "the service {name} was not installed by `orc service install` (it does not run `orc service run`): pass --force to remove it"
        );
    }
    match service.stop() {
        Ok(_) => wait_for(&service, ServiceState::Stopped, STOP_WAIT)?,
        Err(e) if os_error(&e) == Some(NOT_ACTIVE) => {}
        Err(e) => return Err(e).context(format!("cannot stop the service {name}")),
    }
    service
        .delete()
        .with_context(|| format!("cannot delete the service {name}"))?;
    event_log::unregister(name);
    Ok(true)
}

/// The service's state ("running", "stopped", ...); none when it is not installed.
pub fn state(name: &str) -> Result<Option<&'static str>> {
    let scm = manager(ServiceManagerAccess::CONNECT)?;
    let service = match scm.open_service(name, ServiceAccess::QUERY_STATUS) {
        Ok(service) => service,
        Err(e) if os_error(&e) == Some(NO_SUCH_SERVICE) => return Ok(None),
        Err(e) => return Err(e).context(format!("cannot open the service {name}")),
    };
    let status = service.query_status()?;
    Ok(Some(state_word(status.current_state)))
}

pub fn state_word(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "starting",
        ServiceState::StopPending => "stopping",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "continuing",
        ServiceState::PausePending => "pausing",
        ServiceState::Paused => "paused",
    }
}

/// Start the service and wait until it runs (or stops again, failing).
pub fn start(name: &str) -> Result<()> {
    let scm = manager(ServiceManagerAccess::CONNECT)?;
    let service = scm
        .open_service(name, ServiceAccess::START | ServiceAccess::QUERY_STATUS)
        .with_context(|| format!("cannot open the service {name}"))?;
    match service.start::<&str>(&[]) {
        Ok(()) => {}
        Err(e) if os_error(&e) == Some(ALREADY_RUNNING) => return Ok(()),
        Err(e) if os_error(&e) == Some(LOGON_FAILED) => {
            return Err(e).context(format!(
                "cannot start the service {name}: its account could not log on; it needs the right \"Log on as a service\" (secpol.msc, Local Policies, User Rights Assignment) and, for a user, the right password in the vault"
            ));
        }
        Err(e) => return Err(e).context(format!("cannot start the service {name}")),
    }
    wait_for(&service, ServiceState::Running, Duration::from_secs(30))
}

/// Stop the service and wait until it has.
pub fn stop(name: &str) -> Result<()> {
    let scm = manager(ServiceManagerAccess::CONNECT)?;
    let service = scm
        .open_service(name, ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)
        .with_context(|| format!("cannot open the service {name}"))?;
    match service.stop() {
        Ok(_) => wait_for(&service, ServiceState::Stopped, STOP_WAIT),
        Err(e) if os_error(&e) == Some(NOT_ACTIVE) => Ok(()),
        Err(e) => Err(e).context(format!("cannot stop the service {name}")),
    }
}

fn wait_for(
    service: &windows_service::service::Service,
    wanted: ServiceState,
    within: Duration,
) -> Result<()> {
    let until = std::time::Instant::now() + within;
    loop {
        let now = service.query_status()?.current_state;
        if now == wanted {
            return Ok(());
        }
        if wanted == ServiceState::Running && now == ServiceState::Stopped {
            anyhow::bail!("the service stopped as it started: orc's log and the Event Log say why");
        }
        if std::time::Instant::now() > until {
            anyhow::bail!(
                "the service is still {} after {} s",
                state_word(now),
                within.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The service's entries in the Application log, under a source of its name.
pub mod event_log {
    use anyhow::{Result, bail};
    use windows::Win32::Foundation::ERROR_SUCCESS;
    use windows::Win32::System::EventLog::{
        DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE,
        EVENTLOG_WARNING_TYPE, RegisterEventSourceW, ReportEventW,
    };
    use windows::Win32::System::Registry::{
        HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_CREATE_KEY_DISPOSITION, REG_DWORD,
        REG_EXPAND_SZ, REG_OPENED_EXISTING_KEY, REG_OPTION_NON_VOLATILE, REG_SZ, RRF_RT_ANY,
        RegCloseKey, RegCreateKeyExW, RegDeleteTreeW, RegGetValueW, RegSetValueExW,
    };
    use windows::core::{HSTRING, PCWSTR};

    const SOURCES: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application";
    /// The message file .NET registers its own sources with: every event id's text
    /// is the event's one string, so orc's sentences show in Event Viewer as written.
    const MESSAGES: &str =
        r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll";

    #[derive(Debug, Clone, Copy)]
    pub enum Level {
        Information,
        Warning,
        Error,
    }

    /// Event ids: 1 started, 2 stopped, 3 failed.
    pub const STARTED: u32 = 1;
    pub const STOPPED: u32 = 2;
    pub const FAILED: u32 = 3;

    /// The value orc adds to the sources it registers, so that it removes only those.
    const OWNER: &str = "OrcService";

    fn wide(text: &str) -> Vec<u16> {
        text.encode_utf16().chain(std::iter::once(0)).collect()
    }

    fn bytes(text: &str) -> Vec<u8> {
        wide(text).iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    /// Whether the source `name` has the value `value`.
    fn has(name: &str, value: &str) -> bool {
        let key = HSTRING::from(format!(r"{SOURCES}\{name}"));
        // SAFETY: reads only whether the value exists (no buffer).
        unsafe {
            RegGetValueW(
                HKEY_LOCAL_MACHINE,
                &key,
                &HSTRING::from(value),
                RRF_RT_ANY,
                None,
                None,
                None,
            ) == ERROR_SUCCESS
        }
    }

    /// Register `name` as a source of the Application log; a warning (and nothing
    /// changed) when another program registered a source of that name.
    pub fn register(name: &str) -> Result<Option<String>> {
        let key = HSTRING::from(format!(r"{SOURCES}\{name}"));
        let mut handle = HKEY::default();
        let mut disposition = REG_CREATE_KEY_DISPOSITION::default();
        // SAFETY: a key under HKLM, created or opened for writing values, closed below.
        let made = unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                &key,
                None,
                PCWSTR::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_SET_VALUE,
                None,
                &mut handle,
                Some(&mut disposition),
            )
        };
        if made != ERROR_SUCCESS {
            bail!(
                "cannot register the Event Log source {name}: error {}",
                made.0
            );
        }
        // A source that was there before and is not marked orc's is another
        // program's, whatever it holds.
        if disposition == REG_OPENED_EXISTING_KEY && !has(name, OWNER) {
            // SAFETY: the key opened above, not used again.
            let _ = unsafe { RegCloseKey(handle) };
            return Ok(Some(format!(
                "an Event Log source named {name} is another program's: orc leaves it as it is and writes its events under it"
            )));
        }
        let file = bytes(MESSAGES);
        let owner = bytes("orc service install");
        let types = 7u32.to_le_bytes(); // error, warning, information
        // SAFETY: the key opened above; each value's bytes are of its type.
        let set = unsafe {
            let a = RegSetValueExW(
                handle,
                &HSTRING::from("EventMessageFile"),
                None,
                REG_EXPAND_SZ,
                Some(&file),
            );
            let b = RegSetValueExW(
                handle,
                &HSTRING::from("TypesSupported"),
                None,
                REG_DWORD,
                Some(&types),
            );
            let c = RegSetValueExW(handle, &HSTRING::from(OWNER), None, REG_SZ, Some(&owner));
            let _ = RegCloseKey(handle);
            [a, b, c]
                .into_iter()
                .find(|e| *e != ERROR_SUCCESS)
                .unwrap_or(ERROR_SUCCESS)
        };
        if set != ERROR_SUCCESS {
            bail!(
                "cannot register the Event Log source {name}: error {}",
                set.0
            );
        }
        Ok(None)
    }

    /// Remove the source orc registered (its past entries stay in the log); another
    /// program's source of the name stays.
    pub fn unregister(name: &str) {
        if !has(name, OWNER) {
            return;
        }
        let key = HSTRING::from(format!(r"{SOURCES}\{name}"));
        // SAFETY: deletes the key named; nothing else is touched.
        let _ = unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, &key) };
    }

    /// Write `text` to the Application log under the source `name`. The log is a
    /// second copy of what orc's own log says: a failure here is only traced.
    pub fn report(name: &str, level: Level, id: u32, text: &str) {
        let source = HSTRING::from(name);
        // SAFETY: a handle for the local machine's log, deregistered below.
        let Ok(handle) = (unsafe { RegisterEventSourceW(PCWSTR::null(), &source) }) else {
            tracing::warn!("cannot open the Event Log for {name}");
            return;
        };
        let message = HSTRING::from(text);
        let strings = [PCWSTR(message.as_ptr())];
        let kind = match level {
            Level::Information => EVENTLOG_INFORMATION_TYPE,
            Level::Warning => EVENTLOG_WARNING_TYPE,
            Level::Error => EVENTLOG_ERROR_TYPE,
        };
        // SAFETY: one string, alive for the call; no raw data.
        unsafe {
            if let Err(e) = ReportEventW(handle, kind, 0, id, None, 0, Some(&strings), None) {
                tracing::warn!("cannot write to the Event Log: {e}");
            }
            let _ = DeregisterEventSource(handle);
        }
    }
}
