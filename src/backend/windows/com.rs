//! The Task Scheduler COM API (`ITaskService`) behind [`TaskFolder`]: the driver the
//! Windows backend uses on a real machine.
//!
//! Thin on purpose: it moves task XML in and out of one folder and turns HRESULTs into
//! messages an admin can act on. What the XML means is decided elsewhere (`xml`,
//! `read`); nothing here interprets a task beyond whom it runs as, which
//! `RegisterTask` must be told separately from the XML.

use std::path::PathBuf;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use windows::Win32::Foundation::{E_ACCESSDENIED, E_NOTIMPL, SYSTEMTIME, VARIANT_BOOL};
use windows::Win32::System::Com::{
    CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx, CoTaskMemFree,
};
use windows::Win32::System::TaskScheduler::{
    IRegisteredTask, ITaskFolder, ITaskService, TASK_CREATE_OR_UPDATE, TASK_ENUM_HIDDEN,
    TASK_LOGON_GROUP, TASK_LOGON_INTERACTIVE_TOKEN, TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD,
    TASK_LOGON_PASSWORD, TASK_LOGON_S4U, TASK_LOGON_SERVICE_ACCOUNT, TASK_LOGON_TYPE,
    TASK_VALIDATE_ONLY, TaskScheduler,
};
use windows::Win32::System::Variant::VARIANT;
use windows::core::{BSTR, HRESULT, Interface};

use super::folder::{DirFolder, StoredTask, TaskFolder};
use crate::backend::BackendError;

/// `HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)` and `(ERROR_PATH_NOT_FOUND)`: what Task
/// Scheduler answers for a task or folder that does not exist.
const NOT_FOUND: [u32; 2] = [0x8007_0002, 0x8007_0003];

/// The folder `\FOLDER\` of the local Task Scheduler, through one connected
/// `ITaskService`. COM interfaces are not `Send`, so the value stays on the thread
/// that connected, which is also the thread that initialised COM.
pub struct ComFolder {
    service: ITaskService,
    /// Without slashes ("Orc", or "Orc\Sub").
    folder: String,
    /// What registrations succeeded with but should be told (SCHED_S_* codes).
    warnings: Vec<String>,
}

impl ComFolder {
    /// Connect to the local Task Scheduler for the folder `folder` ("Orc"). The folder
    /// need not exist yet: it is created by the first registration.
    pub fn connect(folder: &str) -> Result<ComFolder, BackendError> {
        let folder = folder.trim_matches(['\\', '/']).replace('/', "\\");
        // SAFETY: plain COM calls with valid arguments. CoInitializeEx is balanced by
        // nothing on purpose: COM stays initialised for the life of the process, which
        // is what a short command-line run needs, and an uninitialise while interfaces
        // are alive would be unsound. S_FALSE (already initialised) and
        // RPC_E_CHANGED_MODE (initialised single-threaded by someone else) both leave
        // COM usable, so the result is not checked.
        let service: ITaskService = unsafe {
            let _ = CoInitializeEx(None, COINIT_MULTITHREADED);
            CoCreateInstance(&TaskScheduler, None, CLSCTX_INPROC_SERVER)
                .map_err(|e| error("cannot start the Task Scheduler client", &e))?
        };
        // Empty VARIANTs: this machine, as the current user.
        let none = VARIANT::default();
        // SAFETY: as above.
        unsafe { service.Connect(&none, &none, &none, &none) }
            .map_err(|e| error("cannot connect to Task Scheduler", &e))?;
        Ok(ComFolder {
            service,
            folder,
            warnings: Vec::new(),
        })
    }

    fn path(&self) -> BSTR {
        BSTR::from(format!("\\{}", self.folder))
    }

    /// The folder, or None when it does not exist (yet).
    fn open(&self) -> Result<Option<ITaskFolder>, BackendError> {
        // SAFETY: a COM call with a valid BSTR.
        match unsafe { self.service.GetFolder(&self.path()) } {
            Ok(folder) => Ok(Some(folder)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(error(&format!("cannot open {}", self.describe()), &e)),
        }
    }

    /// The folder, created (with its parents) when missing.
    fn open_or_create(&self) -> Result<ITaskFolder, BackendError> {
        if let Some(folder) = self.open()? {
            return Ok(folder);
        }
        let what = format!("cannot create {}", self.describe());
        // SAFETY: COM calls with valid arguments; an empty VARIANT is the default
        // security descriptor (inherited from the root folder).
        unsafe {
            let root = self
                .service
                .GetFolder(&BSTR::from("\\"))
                .map_err(|e| error(&what, &e))?;
            root.CreateFolder(&BSTR::from(self.folder.as_str()), &VARIANT::default())
                .map_err(|e| error(&what, &e))
        }
    }

    fn task(&self, name: &str) -> Result<Option<IRegisteredTask>, BackendError> {
        let Some(folder) = self.open()? else {
            return Ok(None);
        };
        // SAFETY: a COM call with a valid BSTR.
        match unsafe { folder.GetTask(&BSTR::from(name)) } {
            Ok(task) => Ok(Some(task)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(error(&format!("cannot open task \"{name}\""), &e)),
        }
    }

    /// The folder's tasks through the API. `Err(None)` when this Task Scheduler does
    /// not implement listing.
    fn list_com(&self) -> Result<Vec<StoredTask>, Option<BackendError>> {
        let Some(folder) = self.open()? else {
            return Ok(Vec::new());
        };
        let what = format!("cannot list {}", self.describe());
        let fail = |e: windows::core::Error| {
            if e.code() == E_NOTIMPL {
                None
            } else {
                Some(error(&what, &e))
            }
        };
        let mut tasks = Vec::new();
        // SAFETY: COM calls with valid arguments; the collection is 1-based.
        unsafe {
            let all = folder.GetTasks(TASK_ENUM_HIDDEN.0).map_err(fail)?;
            for i in 1..=all.Count().map_err(fail)? {
                let task = all.get_Item(&VARIANT::from(i)).map_err(fail)?;
                tasks.push(StoredTask {
                    name: task.Name().map_err(fail)?.to_string(),
                    xml: task.Xml().map_err(fail)?.to_string(),
                });
            }
        }
        tasks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tasks)
    }

    /// The task files under `%SystemRoot%\System32\Tasks`, for a Task Scheduler that
    /// registers tasks but cannot list them.
    fn task_files(&self) -> DirFolder {
        let root = std::env::var_os("SystemRoot")
            .or_else(|| std::env::var_os("windir"))
            .map_or_else(|| PathBuf::from(r"C:\Windows"), PathBuf::from);
        DirFolder::new(&root.join("System32").join("Tasks"), &self.folder)
    }

    /// Remove the folder itself, if it is empty (the Windows integration tests use a
    /// folder of their own).
    pub fn delete_folder(&self) -> Result<(), BackendError> {
        // SAFETY: COM calls with valid arguments.
        let result = unsafe {
            self.service
                .GetFolder(&BSTR::from("\\"))
                .and_then(|root| root.DeleteFolder(&BSTR::from(self.folder.as_str()), 0))
        };
        match result {
            Err(e) if !is_not_found(&e) => {
                Err(error(&format!("cannot delete {}", self.describe()), &e))
            }
            _ => Ok(()),
        }
    }

    /// When Task Scheduler itself would start the task `name` in `[from, to]`
    /// (`IRegisteredTask::GetRunTimes`), for comparing orc's simulation with the real
    /// thing on a Windows machine.
    pub fn run_times(
        &self,
        name: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Timestamp>, BackendError> {
        let task = self.task(name)?.ok_or_else(|| {
            BackendError::Refused(format!("no task \"{name}\" in {}", self.describe()))
        })?;
        // GetRunTimes speaks the machine's local wall-clock time.
        let zone = TimeZone::system();
        let start = to_systemtime(from, &zone);
        let end = to_systemtime(to, &zone);
        // In: at most this many (a week of every-minute fires is 10,080); out: how
        // many there are.
        let mut count: u32 = 100_000;
        let mut times: *mut SYSTEMTIME = std::ptr::null_mut();
        // SAFETY: valid pointers to locals; on success `times` holds `count`
        // SYSTEMTIMEs allocated with CoTaskMemAlloc, freed below exactly once.
        unsafe { task.GetRunTimes(&start, &end, &mut count, &mut times) }
            .map_err(|e| error(&format!("cannot list the run times of \"{name}\""), &e))?;
        if times.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: see above.
        let list = unsafe { std::slice::from_raw_parts(times, count as usize) };
        let result = list
            .iter()
            .map(|t| from_systemtime(t, &zone))
            .collect::<Result<Vec<_>, _>>();
        // SAFETY: see above.
        unsafe { CoTaskMemFree(Some(times as *const _)) };
        let mut result = result?;
        result.sort();
        Ok(result)
    }
}

impl TaskFolder for ComFolder {
    fn describe(&self) -> String {
        format!("Task Scheduler folder \\{}\\", self.folder)
    }

    fn list(&self) -> Result<Vec<StoredTask>, BackendError> {
        match self.list_com() {
            Ok(tasks) => Ok(tasks),
            Err(Some(e)) => Err(e),
            // Wine's Task Scheduler (8.x) registers and deletes tasks but answers
            // E_NOTIMPL to listing a folder and to a task's Xml. It stores each task as
            // a file, as Windows does, so the files are the listing.
            Err(None) => self.task_files().list(),
        }
    }

    fn register(
        &mut self,
        name: &str,
        xml: &str,
        password: Option<&str>,
    ) -> Result<(), BackendError> {
        let folder = self.open_or_create()?;
        let (user, password, logon) = logon(&principal(xml), password);
        let account = user
            .clone()
            .unwrap_or_else(|| "the registering user".to_string());
        let user = user.map_or_else(VARIANT::default, |u| VARIANT::from(u.as_str()));
        let password = password.map_or_else(VARIANT::default, VARIANT::from);
        let (path, text, sddl) = (BSTR::from(name), BSTR::from(xml), VARIANT::default());
        let mut registered: *mut core::ffi::c_void = std::ptr::null_mut();
        // The wrapper's own call, made through the vtable to keep the HRESULT: its
        // success codes (SCHED_S_*) say the task was registered but will not run
        // as asked, and the wrapper drops them.
        // SAFETY: the arguments are what `ITaskFolder::RegisterTask` passes: the
        // BSTRs and VARIANTs are borrowed bit for bit for the call and dropped here
        // once; an empty VARIANT as the security descriptor keeps the folder's. The
        // returned task, if any, is released by taking it back into a wrapper.
        let code = unsafe {
            let code = (Interface::vtable(&folder).RegisterTask)(
                Interface::as_raw(&folder),
                std::mem::transmute_copy(&path),
                std::mem::transmute_copy(&text),
                TASK_CREATE_OR_UPDATE.0,
                std::mem::transmute_copy(&user),
                std::mem::transmute_copy(&password),
                logon,
                std::mem::transmute_copy(&sddl),
                &mut registered,
            );
            if !registered.is_null() {
                drop(IRegisteredTask::from_raw(registered));
            }
            code
        };
        code.ok().map_err(|e| {
            error(
                &format!("cannot register task \"{name}\" in {}", self.describe()),
                &e,
            )
        })?;
        if let Some(warning) = register_warning(code, &account) {
            self.warnings.push(format!("task \"{name}\": {warning}"));
        }
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// RegisterTask with TASK_VALIDATE_ONLY, in the root folder (which always
    /// exists, so a plan creates no folder): Windows parses the XML and says what it
    /// would refuse. Only its verdicts on the XML count; an account it cannot check
    /// without the password is apply's business.
    fn check_definition(&self, name: &str, xml: &str) -> Result<(), BackendError> {
        // SAFETY: a COM call with a valid BSTR.
        let Ok(root) = (unsafe { self.service.GetFolder(&BSTR::from("\\")) }) else {
            return Ok(());
        };
        let (user, _, logon) = logon(&principal(xml), None);
        let user = user.map_or_else(VARIANT::default, |u| VARIANT::from(u.as_str()));
        // SAFETY: COM call with valid arguments; nothing is registered.
        let checked = unsafe {
            root.RegisterTask(
                &BSTR::from(name),
                &BSTR::from(xml),
                TASK_VALIDATE_ONLY.0,
                &user,
                &VARIANT::default(),
                logon,
                &VARIANT::default(),
            )
        };
        match checked {
            Err(e) if is_xml_refusal(e.code()) => Err(BackendError::Unsupported {
                task: name.to_string(),
                reason: format!(
                    "Task Scheduler refuses the task's XML: {}",
                    error("checking it", &e)
                ),
            }),
            _ => Ok(()),
        }
    }

    fn limited_view(&self) -> Option<String> {
        (!super::account::elevated()).then(|| {
            "orc is not running elevated, and Task Scheduler shows such a process only the tasks it may read (not those of SYSTEM or other accounts)".to_string()
        })
    }

    fn delete(&mut self, name: &str) -> Result<(), BackendError> {
        let Some(folder) = self.open()? else {
            return Ok(());
        };
        // SAFETY: COM call with a valid BSTR.
        match unsafe { folder.DeleteTask(&BSTR::from(name), 0) } {
            Err(e) if !is_not_found(&e) => Err(error(
                &format!("cannot delete task \"{name}\" from {}", self.describe()),
                &e,
            )),
            _ => Ok(()),
        }
    }

    fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), BackendError> {
        let what = if enabled { "enable" } else { "disable" };
        let task = self.task(name)?.ok_or_else(|| {
            BackendError::Refused(format!(
                "cannot {what} task \"{name}\": it is not in {}",
                self.describe()
            ))
        })?;
        // SAFETY: COM call on a live interface.
        unsafe { task.SetEnabled(VARIANT_BOOL::from(enabled)) }
            .map_err(|e| error(&format!("cannot {what} task \"{name}\""), &e))
    }
}

/// Whom the task's XML says it runs as: `Principals/Principal`.
#[derive(Debug, Default, PartialEq, Eq)]
struct XmlPrincipal {
    user: Option<String>,
    group: Option<String>,
    logon_type: Option<String>,
}

fn principal(xml: &str) -> XmlPrincipal {
    let Ok(doc) = super::read::parse_document(xml) else {
        return XmlPrincipal::default();
    };
    let Some(principal) = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Principal")
    else {
        return XmlPrincipal::default();
    };
    let field = |name: &str| {
        principal
            .children()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    XmlPrincipal {
        user: field("UserId"),
        group: field("GroupId"),
        logon_type: field("LogonType"),
    }
}

/// Whom to register the task as, the password to store (only for
/// TASK_LOGON_PASSWORD), and how it logs on. The XML alone is not enough:
/// RegisterTask takes the account and logon type as arguments, and its defaults (no
/// user, TASK_LOGON_NONE) fail for a SYSTEM task on Windows.
fn logon<'a>(
    principal: &XmlPrincipal,
    password: Option<&'a str>,
) -> (Option<String>, Option<&'a str>, TASK_LOGON_TYPE) {
    let user = principal.user.clone();
    // Service accounts need no password, but must be named as such.
    if let Some(account) = user.as_deref().and_then(super::account::service_account) {
        return (Some(account.to_string()), None, TASK_LOGON_SERVICE_ACCOUNT);
    }
    if user.is_none()
        && let Some(group) = &principal.group
    {
        return (Some(group.clone()), None, TASK_LOGON_GROUP);
    }
    match (principal.logon_type.as_deref(), password) {
        // A user whose password Windows stores: runs whether logged on or not.
        (Some("Password") | None, Some(password)) => (user, Some(password), TASK_LOGON_PASSWORD),
        // Without the password Windows refuses this, and says so.
        (Some("Password"), None) => (user, None, TASK_LOGON_PASSWORD),
        // Whether logged on or not, with no stored password (local resources only).
        (Some("S4U"), _) => (user, None, TASK_LOGON_S4U),
        (Some("InteractiveTokenOrPassword"), password) => {
            (user, password, TASK_LOGON_INTERACTIVE_TOKEN_OR_PASSWORD)
        }
        // Otherwise: the named user (or the current one), only while logged on.
        _ => (user, None, TASK_LOGON_INTERACTIVE_TOKEN),
    }
}

fn is_not_found(e: &windows::core::Error) -> bool {
    NOT_FOUND.contains(&(e.code().0 as u32))
}

/// A COM failure as a message: what orc was doing, what the HRESULT means for the
/// user, Windows' own words when it has any (for XML errors they name the element),
/// and the HRESULT in hex for searching.
fn error(what: &str, e: &windows::core::Error) -> BackendError {
    let code = e.code();
    let meaning = explain(code);
    let windows_says = e.message();
    let windows_says = windows_says.trim().trim_end_matches('.');
    let hex = format!("HRESULT 0x{:08X}", code.0 as u32);
    let text = match (meaning, windows_says.is_empty()) {
        (Some(meaning), true) => format!("{what}: {meaning} ({hex})"),
        (Some(meaning), false) => format!("{what}: {meaning} (Windows: {windows_says}; {hex})"),
        (None, false) => format!("{what}: {windows_says} ({hex})"),
        (None, true) => format!("{what}: {hex}"),
    };
    // The service down or unreachable is unavailable; everything else Task
    // Scheduler said no to.
    match code.0 as u32 {
        0x8004_1315 | 0x8007_06BA | 0x8007_06D9 | 0x8007_0422 => BackendError::Unavailable(text),
        _ => BackendError::Refused(text),
    }
}

/// Task Scheduler's refusals of the XML itself (SCHED_E_UNEXPECTEDNODE to
/// SCHED_E_PAST_END_BOUNDARY, and features this Windows lacks).
fn is_xml_refusal(code: HRESULT) -> bool {
    matches!(
        code.0 as u32,
        0x8004_1316..=0x8004_131E | 0x8004_1327 | 0x8004_1329
    )
}

/// What a success code of RegisterTask means for the task, when it is a warning.
fn register_warning(code: HRESULT, account: &str) -> Option<String> {
    match code.0 as u32 {
        0x0004_131B => Some(
            "registered, but some of its triggers could not be set (SCHED_S_SOME_TRIGGERS_FAILED); look at them in Task Scheduler".to_string(),
        ),
        0x0004_131C => Some(format!(
            "registered, but {account} lacks the \"Log on as a batch job\" right, so the task will not start (SCHED_S_BATCH_LOGON_PROBLEM); grant it in secpol.msc > Local Policies > User Rights Assignment, or with the domain's group policy"
        )),
        _ => None,
    }
}

/// What an HRESULT from Task Scheduler means, for the ones an admin can act on.
fn explain(code: HRESULT) -> Option<&'static str> {
    if code == E_ACCESSDENIED {
        return Some(
            "access denied by Task Scheduler: run orc from an elevated prompt (Run as administrator) to create tasks that run as SYSTEM or another user",
        );
    }
    Some(match code.0 as u32 {
        0x8007_0002 | 0x8007_0003 => "not found",
        0x8007_052E => "logon failure: the user name or password is wrong",
        0x8007_0534 => "the account in the task's principal does not exist",
        0x8007_0520 => {
            "Windows may not store the password (the policy \"Network access: Do not allow storage of passwords and credentials for network authentication\" is on): run the task as SYSTEM, a gMSA or S4U, or turn the policy off"
        }
        0x8007_0569 => {
            "the account has not been granted the logon type the task needs (\"Log on as a batch job\" for a task that runs whether the user is logged on or not)"
        }
        0x8007_00B7 => {
            "it already exists (another process created the folder or task at the same moment); run orc apply again"
        }
        0x8004_1330 => {
            "the task uses a feature Windows no longer supports (SCHED_E_DEPRECATED_FEATURE_USED: the SendEmail and ShowMessage actions)"
        }
        0x8004_1309 => "a trigger was not found (SCHED_E_TRIGGER_NOT_FOUND)",
        0x8004_130F => "the account information is not set (SCHED_E_ACCOUNT_INFORMATION_NOT_SET)",
        0x8004_1310 => "the account name was not found (SCHED_E_ACCOUNT_NAME_NOT_FOUND)",
        0x8004_1314 => "the account option is not supported (SCHED_E_UNSUPPORTED_ACCOUNT_OPTION)",
        0x8004_1315 => "the Task Scheduler service is not running (SCHED_E_SERVICE_NOT_RUNNING)",
        0x8004_1316 => "the task XML contains an unexpected element (SCHED_E_UNEXPECTEDNODE)",
        0x8004_1317 => "the task XML has an element in the wrong namespace (SCHED_E_NAMESPACE)",
        0x8004_1318 => {
            "the task XML contains a value that is malformed or out of range (SCHED_E_INVALIDVALUE)"
        }
        0x8004_1319 => {
            "the task XML is missing a required element or attribute (SCHED_E_MISSINGNODE)"
        }
        0x8004_131A => "the task XML is malformed (SCHED_E_MALFORMEDXML)",
        0x8004_131D => "the task XML has too many of an element (SCHED_E_TOO_MANY_NODES)",
        0x8004_131E => "the task cannot start after its end boundary (SCHED_E_PAST_END_BOUNDARY)",
        0x8004_1322 => {
            "the Task Scheduler service is not available (SCHED_E_SERVICE_NOT_AVAILABLE)"
        }
        0x8004_1323 => "the Task Scheduler service is too busy (SCHED_E_SERVICE_TOO_BUSY)",
        0x8004_1327 | 0x8004_1329 => {
            "the task uses a feature this version of Task Scheduler does not support"
        }
        _ => return None,
    })
}

fn to_systemtime(at: Timestamp, zone: &TimeZone) -> SYSTEMTIME {
    let t = zone.to_datetime(at);
    // Every field of a civil DateTime in Task Scheduler's range fits in a u16.
    SYSTEMTIME {
        wYear: t.year() as u16,
        wMonth: t.month() as u16,
        wDayOfWeek: t.weekday().to_sunday_zero_offset() as u16,
        wDay: t.day() as u16,
        wHour: t.hour() as u16,
        wMinute: t.minute() as u16,
        wSecond: t.second() as u16,
        wMilliseconds: 0,
    }
}

fn from_systemtime(t: &SYSTEMTIME, zone: &TimeZone) -> Result<Timestamp, BackendError> {
    let datetime = DateTime::new(
        t.wYear as i16,
        t.wMonth as i8,
        t.wDay as i8,
        t.wHour as i8,
        t.wMinute as i8,
        t.wSecond as i8,
        0,
    )
    .map_err(|e| {
        BackendError::Damaged(format!("Task Scheduler returned an invalid run time: {e}"))
    })?;
    zone.to_timestamp(datetime).map_err(|e| {
        BackendError::Damaged(format!("Task Scheduler returned run time {datetime}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(principal: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Principals><Principal id="Author">{principal}</Principal></Principals>
</Task>"#
        )
    }

    fn logon_of(principal_xml: &str, password: Option<&str>) -> (Option<String>, TASK_LOGON_TYPE) {
        let (user, _, kind) = logon(&principal(&xml(principal_xml)), password);
        (user, kind)
    }

    #[test]
    fn service_accounts_register_as_such() {
        for (id, name) in [
            ("S-1-5-18", "SYSTEM"),
            (r"NT AUTHORITY\SYSTEM", "SYSTEM"),
            ("S-1-5-19", "LOCAL SERVICE"),
            ("S-1-5-20", "NETWORK SERVICE"),
        ] {
            let (user, password, kind) = logon(
                &principal(&xml(&format!("<UserId>{id}</UserId>"))),
                Some("x"),
            );
            assert_eq!(user.as_deref(), Some(name), "{id}");
            assert_eq!(password, None);
            assert_eq!(kind, TASK_LOGON_SERVICE_ACCOUNT);
        }
    }

    #[test]
    fn the_logon_type_follows_the_principal() {
        let password = "<UserId> CORP\\svc </UserId><LogonType>Password</LogonType>";
        let (user, stored, kind) = logon(&principal(&xml(password)), Some("pw"));
        assert_eq!(user.as_deref(), Some(r"CORP\svc"));
        assert_eq!(stored, Some("pw"));
        assert_eq!(kind, TASK_LOGON_PASSWORD);
        assert_eq!(
            logon_of("<UserId>CORP\\svc</UserId><LogonType>S4U</LogonType>", None),
            (Some(r"CORP\svc".to_string()), TASK_LOGON_S4U)
        );
        assert_eq!(
            logon_of(
                "<UserId>PC\\me</UserId><LogonType>InteractiveToken</LogonType>",
                None
            ),
            (Some(r"PC\me".to_string()), TASK_LOGON_INTERACTIVE_TOKEN)
        );
        assert_eq!(
            logon_of("<GroupId>S-1-5-32-545</GroupId>", None),
            (Some("S-1-5-32-545".to_string()), TASK_LOGON_GROUP)
        );
        assert_eq!(logon_of("", None), (None, TASK_LOGON_INTERACTIVE_TOKEN));
        assert_eq!(principal("<Task/>"), XmlPrincipal::default());
    }

    #[test]
    fn access_denied_says_to_elevate() {
        let e = windows::core::Error::from(E_ACCESSDENIED);
        let BackendError::Refused(text) = error("cannot register task \"t\"", &e) else {
            panic!()
        };
        assert!(text.contains("run orc from an elevated prompt"), "{text}");
        assert!(text.ends_with("HRESULT 0x80070005)"), "{text}");
    }
}
