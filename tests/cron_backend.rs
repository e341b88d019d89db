//! The crontab backend against the real `crontab` program.
//!
//! Every test works on the current user's real crontab, so the tests take an exclusive
//! lock on a file in /tmp for their whole run, use a folder of their own, and put the
//! user's original crontab back when they end, even when they fail.
//!
//! Without `crontab` on PATH the tests that need it are reported as ignored, saying so,
//! except under CI=true, where a missing `crontab` is a failure (`.ci/run` installs cron).
mod common;

/// The crontab is a Unix thing: the suite exists only there.
#[cfg(unix)]
mod suite {

    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use jiff::civil::date;
    use orc::backend::cron::CronBackend;
    use orc::backend::{Backend, BackendError, Change, Entry, Invocation};
    use orc::config::Task;

    use super::common;
    use common::TestEnv;

    const LOCK: &str = "/tmp/orc-cron-backend-tests.lock";

    fn find_crontab() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("crontab"))
            .find(|p| p.is_file())
    }

    /// Exclusive use of the user's crontab for one test; restores it on drop.
    struct Session {
        program: PathBuf,
        original: Option<Vec<u8>>,
        _lock: File,
    }

    impl Session {
        fn start() -> Option<Session> {
            let Some(program) = find_crontab() else {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "`crontab` is not on PATH, and CI=true: the cron backend must be tested \
                     against the real program (install the cron package)"
                    );
                }
                eprintln!(
                    "SKIPPED: the cron backend is tested against the real `crontab` program, which \
                 is not on PATH; install cron (Debian: apt-get install cron) to run these tests"
                );
                return None;
            };
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(LOCK)
                .expect("open the test lock file");
            // flock rather than File::lock, which is newer than the crate's rust-version.
            // SAFETY: a valid open descriptor; the lock is released when `lock` closes.
            let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            assert_eq!(
                locked,
                0,
                "lock {LOCK}: {}",
                std::io::Error::last_os_error()
            );
            let original = read_crontab(&program);
            Some(Session {
                program,
                original,
                _lock: lock,
            })
        }

        /// The crontab as `crontab -l` prints it (empty when there is none).
        fn text(&self) -> String {
            String::from_utf8(read_crontab(&self.program).unwrap_or_default()).unwrap()
        }

        /// Install `text` as the whole crontab.
        fn set(&self, text: &str) {
            write_crontab(&self.program, text.as_bytes());
        }

        /// Start from a crontab holding exactly `text` ("" = no crontab at all).
        fn reset(&self, text: &str) {
            if text.is_empty() {
                let _ = Command::new(&self.program)
                    .arg("-r")
                    .stderr(Stdio::null())
                    .status();
            } else {
                self.set(text);
            }
        }

        fn backend(&self, folder: &str) -> CronBackend {
            CronBackend::new(folder, invocation(), "local")
                .unwrap()
                .with_program(self.program.clone())
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            match &self.original {
                Some(text) => write_crontab(&self.program, text),
                None => {
                    let _ = Command::new(&self.program)
                        .arg("-r")
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }

    fn read_crontab(program: &Path) -> Option<Vec<u8>> {
        let out = Command::new(program).arg("-l").output().unwrap();
        if out.status.success() {
            Some(out.stdout)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("no crontab for"), "crontab -l: {stderr}");
            None
        }
    }

    fn write_crontab(program: &Path, text: &[u8]) {
        let mut child = Command::new(program)
            .arg("-")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "crontab - refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn invocation() -> Invocation {
        Invocation {
            orc: PathBuf::from("/usr/local/bin/orc"),
            state: PathBuf::from("/var/lib/orc/state.db"),
        }
    }

    fn argv(name: &str, if_due: bool) -> Vec<String> {
        invocation().argv(name, "Render", "cron", if_due)
    }

    /// Tasks from a real tasks.toml: `(name, schedule or None, enabled)`.
    fn tasks(specs: &[(&str, Option<&str>, bool)]) -> BTreeMap<String, Task> {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = String::from("[settings]\nbackend = \"cron\"\n");
        for (name, schedule, enabled) in specs {
            toml.push_str(&format!(
                "\n[tasks.{name}]\ncommand = [\"true\"]\nenabled = {enabled}\n"
            ));
            if let Some(s) = schedule {
                toml.push_str(&format!("schedule = \"{s}\"\n"));
            }
        }
        let path = dir.path().join("tasks.toml");
        std::fs::write(&path, toml).unwrap();
        match orc::config::load(&path) {
            Ok(loaded) => loaded.config.tasks,
            Err(diags) => panic!("test config does not load: {diags:?}"),
        }
    }

    fn task(name: &str, schedule: Option<&str>, enabled: bool) -> Task {
        tasks(&[(name, schedule, enabled)]).remove(name).unwrap()
    }

    /// A backend that needs no crontab (render only).
    fn renderer() -> CronBackend {
        CronBackend::new("Render", invocation(), "local").unwrap()
    }

    fn trigger(schedule: &str) -> (String, Vec<String>) {
        let entry = renderer().render(&task("t", Some(schedule), true)).unwrap();
        (entry.trigger.unwrap(), entry.command)
    }

    /// The trigger of `schedule`, asserting whether it asks `orc run` to check.
    fn fields(schedule: &str, if_due: bool) -> String {
        let (trigger, command) = trigger(schedule);
        assert_eq!(command, argv("t", if_due), "{schedule}");
        trigger
    }

    fn lines_of_block(text: &str, folder: &str) -> Vec<String> {
        let begin = format!("# BEGIN orc managed block: folder \"{folder}\"");
        let end = format!("# END orc managed block: folder \"{folder}\"");
        let mut inside = false;
        let mut out = Vec::new();
        for line in text.lines() {
            if line.starts_with(&begin) {
                inside = true;
            } else if line == end {
                inside = false;
            } else if inside {
                out.push(line.to_string());
            }
        }
        out
    }

    fn create_all(backend: &mut CronBackend, entries: &[Entry]) {
        let changes: Vec<Change> = entries.iter().cloned().map(Change::Create).collect();
        backend.apply(&changes).unwrap();
    }

    fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    // ---------------------------------------------------------------- render

    fn render_plain_cron_and_shorthands() {
        assert_eq!(fields("0 6 * * *", false), "0 6 * * *");
        assert_eq!(fields("30 23 1 1 0", false), "30 23 1 1 0");
        assert_eq!(fields("06:00", false), "0 6 * * *");
        assert_eq!(fields("MON 08:00", false), "0 8 * * 1");
        assert_eq!(fields("15 09:30", false), "30 9 15 * *");
        assert_eq!(fields("0 12 * JAN,JUL SUN", false), "0 12 * 1,7 0");
        assert_eq!(fields("0 12 * * 7", false), "0 12 * * 0");
    }

    fn render_star_steps() {
        assert_eq!(fields("*/15 * * * *", false), "*/15 * * * *");
        assert_eq!(fields("0 */2 * * *", false), "0 */2 * * *");
        assert_eq!(fields("*/5 9-17 * * 1-5", false), "*/5 9-17 * * 1-5");
        assert_eq!(fields("0 0 */3 * *", false), "0 0 */3 * *");
        assert_eq!(fields("0 0 * * */2", false), "0 0 * * */2");
        assert_eq!(fields("*/1 * * * *", false), "* * * * *");
        // A step past the end leaves only the first value; still a star field for cron.
        assert_eq!(fields("*/45 * * * *", false), "*/45 * * * *");
        assert_eq!(fields("*/60 * * * *", false), "*/60 * * * *");
        // Months have no star semantics: every month is "*", a stepped set is a list.
        assert_eq!(fields("0 0 1 */3 *", false), "0 0 1 1,4,7,10 *");
        assert_eq!(fields("0 0 1 1-12 *", false), "0 0 1 * *");
    }

    fn render_lists_and_ranges_compactly() {
        assert_eq!(
            fields("0 0 1,2,3,4,5,7,9,10,11 * *", false),
            "0 0 1-5,7,9-11 * *"
        );
        assert_eq!(fields("0,1 0 * 1,2,3 0,6", false), "0,1 0 * 1-3 0,6");
        assert_eq!(
            fields("0-10/5 8-10,12 * * MON-FRI", false),
            "0,5,10 8-10,12 * * 1-5"
        );
        // Not a star field, so it stays a range even when it covers everything.
        assert_eq!(
            fields("0-59 0-23 1-31 * 0-6", false),
            "0-59 0-23 1-31 * 0-6"
        );
        assert_eq!(fields("0 0 * * 1-7", false), "0 0 * * 0-6");
    }

    fn render_macros() {
        assert_eq!(fields("@daily", false), "0 0 * * *");
        assert_eq!(fields("@midnight", false), "0 0 * * *");
        assert_eq!(fields("@hourly", false), "0 * * * *");
        assert_eq!(fields("@weekly", false), "0 0 * * 0");
        assert_eq!(fields("@monthly", false), "0 0 1 * *");
        assert_eq!(fields("@yearly", false), "0 0 1 1 *");
        assert_eq!(fields("@reboot", false), "@reboot");
    }

    fn render_extensions_as_supersets_with_if_due() {
        assert_eq!(fields("0 0 L * *", true), "0 0 28-31 * *");
        assert_eq!(fields("0 18 1,L * *", true), "0 18 1,28-31 * *");
        assert_eq!(fields("30 8 * * FRI#3", true), "30 8 * * 5");
        assert_eq!(fields("0 0 * * 5L", true), "0 0 * * 5");
        assert_eq!(fields("0 0 * * MON#1,MON#3,3", true), "0 0 * * 1,3");
        assert_eq!(fields("0 0 15,L * MON#1", true), "0 0 15,28-31 * 1");
        assert_eq!(fields("0 0 15 * 5L", true), "0 0 15 * 5");
        assert_eq!(fields("0 0 * 2 5L", true), "0 0 * 2 5");
    }

    /// The superset really fires whenever orc's schedule does, under Vixie's day rule,
    /// checked day by day over four years.
    fn extension_supersets_cover_every_day_orc_fires() {
        let schedules = [
            "0 0 L * *",
            "0 0 1,L * *",
            "0 0 L * MON",
            "0 0 * * FRI#3",
            "0 0 * * 5L",
            "0 0 13 * FRI#2",
            "0 0 L 2 5L",
            "0 0 1-31/2 * 0#1",
            "0 0 * * 1#1,2#2,3#3,4#4,5L,6L,0L",
        ];
        for schedule in schedules {
            let exact = orc::schedule::parse(schedule).unwrap();
            let exact = exact.cron().unwrap();
            let rendered = fields(schedule, true);
            let superset = orc::schedule::parse(&rendered).unwrap();
            let superset = superset.cron().unwrap();
            let mut day = date(2024, 1, 1);
            let mut fired = 0;
            while day < date(2028, 1, 1) {
                if exact.matches_day(day) {
                    fired += 1;
                    assert!(
                        superset.matches_day(day),
                        "{schedule} fires on {day} but its crontab fields {rendered:?} do not"
                    );
                }
                day = day.tomorrow().unwrap();
            }
            assert!(fired > 0, "{schedule} never fired");
            assert_eq!(superset.minutes, exact.minutes);
            assert_eq!(superset.hours, exact.hours);
        }
    }

    fn render_disabled_and_on_demand() {
        let backend = renderer();
        let off = backend
            .render(&task("off", Some("0 6 * * *"), false))
            .unwrap();
        assert_eq!(
            off,
            Entry {
                name: "off".into(),
                trigger: Some("0 6 * * *".into()),
                command: argv("off", false),
                enabled: false,
                details: Default::default(),
                credential: None,
            }
        );
        let manual = backend.render(&task("manual", None, true)).unwrap();
        assert_eq!(manual.trigger, None);
        assert_eq!(manual.command, argv("manual", false));
        assert!(manual.enabled);
    }

    fn other_time_zones_are_refused() {
        let system = jiff::tz::TimeZone::system();
        let system = system.iana_name().map(str::to_string);
        let other = if system.as_deref() == Some("Pacific/Chatham") {
            "America/Denver"
        } else {
            "Pacific/Chatham"
        };
        let err = CronBackend::new("Orc", invocation(), other).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("system time zone") && message.contains("timezone = \"local\""),
            "{message}"
        );
        assert!(message.contains(other), "{message}");
        assert!(CronBackend::new("Orc", invocation(), "local").is_ok());
        if let Some(system) = system {
            assert!(CronBackend::new("Orc", invocation(), &system).is_ok());
        }
    }

    fn a_missing_or_failing_program_is_an_error() {
        let backend = renderer().with_program(PathBuf::from("/nonexistent/crontab"));
        let err = backend.list().unwrap_err();
        assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/crontab"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let failing = dir.path().join("crontab");
        std::fs::write(
            &failing,
            "#!/bin/sh\necho 'crontab: permission denied' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = renderer().with_program(failing).list().unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
    }

    // ---------------------------------------------------------------- apply and list

    fn apply_create_update_delete_enable_disable() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("");
        let mut backend = session.backend("OrcTestLifecycle");
        assert_eq!(backend.list().unwrap(), vec![]);

        let all = tasks(&[
            ("report", Some("0 6 * * *"), true),
            ("cleanup", Some("*/15 * * * *"), false),
            ("manual", None, true),
            ("boot", Some("@reboot"), true),
            ("month_end", Some("0 23 L * *"), true),
        ]);
        let rendered: Vec<Entry> = all.values().map(|t| backend.render(t).unwrap()).collect();
        create_all(&mut backend, &rendered);
        assert_eq!(backend.list().unwrap(), sorted(rendered.clone()));

        let text = session.text();
        let block = lines_of_block(&text, "OrcTestLifecycle");
        assert_eq!(
            block,
            vec![
                "@reboot /usr/local/bin/orc run boot --folder OrcTestLifecycle --backend cron --state /var/lib/orc/state.db --trigger scheduled # orc:boot",
                "#disabled# */15 * * * * /usr/local/bin/orc run cleanup --folder OrcTestLifecycle --backend cron --state \
             /var/lib/orc/state.db --trigger scheduled # orc:cleanup",
                "#on-demand# /usr/local/bin/orc run manual --folder OrcTestLifecycle --backend cron --state /var/lib/orc/state.db --trigger scheduled # orc:manual",
                "0 23 28-31 * * /usr/local/bin/orc run month_end --folder OrcTestLifecycle --backend cron --state /var/lib/orc/state.db \
             --trigger scheduled --if-due # orc:month_end",
                "0 6 * * * /usr/local/bin/orc run report --folder OrcTestLifecycle --backend cron --state /var/lib/orc/state.db --trigger scheduled # orc:report",
            ]
        );
        assert!(text.starts_with(
            "# BEGIN orc managed block: folder \"OrcTestLifecycle\" -- edit tasks.toml, not these \
         lines\n"
        ));
        assert!(text.ends_with("# END orc managed block: folder \"OrcTestLifecycle\"\n"));

        // Update, delete, enable, disable in one batch.
        let report = backend
            .render(&task("report", Some("30 7 * * 1-5"), true))
            .unwrap();
        backend
            .apply(&[
                Change::Update(report.clone()),
                Change::Delete {
                    name: "boot".into(),
                },
                Change::Enable {
                    name: "cleanup".into(),
                },
                Change::Disable {
                    name: "manual".into(),
                },
            ])
            .unwrap();
        let listed = backend.list().unwrap();
        let by_name: BTreeMap<_, _> = listed.iter().map(|e| (e.name.as_str(), e)).collect();
        assert_eq!(
            by_name.keys().copied().collect::<Vec<_>>(),
            ["cleanup", "manual", "month_end", "report"]
        );
        assert_eq!(by_name["report"], &report);
        assert!(by_name["cleanup"].enabled);
        assert!(!by_name["manual"].enabled);
        assert_eq!(by_name["manual"].trigger, None);
        let block = lines_of_block(&session.text(), "OrcTestLifecycle");
        assert_eq!(
            block[0],
            "*/15 * * * * /usr/local/bin/orc run cleanup --folder OrcTestLifecycle --backend cron --state /var/lib/orc/state.db --trigger scheduled # orc:cleanup"
        );
        assert_eq!(
            block[1],
            "#disabled# #on-demand# /usr/local/bin/orc run manual --folder OrcTestLifecycle --backend cron --state /var/lib/orc/state.db \
         --trigger scheduled # orc:manual"
        );

        // Enabling a task that is not there is an error, and nothing is written.
        let before = session.text();
        let err = backend
            .apply(&[Change::Enable {
                name: "ghost".into(),
            }])
            .unwrap_err();
        assert!(err.to_string().contains("ghost"), "{err}");
        assert_eq!(session.text(), before);
    }

    fn rendered_entries_round_trip_exactly() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("");
        let mut backend = session.backend("OrcTestRoundTrip");
        let schedules = [
            "0 6 * * *",
            "*/15 * * * *",
            "*/7 */5 */3 * */2",
            "0,1 0 1,2,3,5 1,2,3 0,6",
            "@daily",
            "@reboot",
            "0 0 L * *",
            "30 8 * * FRI#3",
            "0 0 * * 5L",
            "0 0 15,L * MON#1",
            "MON,WED 08:00",
        ];
        let mut specs: Vec<(String, Option<&str>, bool)> = schedules
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("t{i:02}"), Some(*s), i % 3 != 0))
            .collect();
        specs.push(("od_on".into(), None, true));
        specs.push(("od_off".into(), None, false));
        let specs: Vec<(&str, Option<&str>, bool)> =
            specs.iter().map(|(n, s, e)| (n.as_str(), *s, *e)).collect();
        let rendered: Vec<Entry> = tasks(&specs)
            .values()
            .map(|t| backend.render(t).unwrap())
            .collect();
        create_all(&mut backend, &rendered);
        assert_eq!(backend.list().unwrap(), sorted(rendered));
    }

    fn percent_signs_quotes_and_spaces_survive_cron_and_the_shell() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("");
        // A real "orc" that prints its argv, in a folder whose name needs every escape.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("My Tools 100% 'q' \\x\\\\y");
        std::fs::create_dir_all(&bin).unwrap();
        let orc = bin.join("orc $HOME %s");
        std::fs::write(&orc, "#!/bin/sh\nprintf '%s\\0' \"$@\"\n").unwrap();
        std::fs::set_permissions(&orc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let invocation = Invocation {
            orc: orc.clone(),
            state: PathBuf::from("/srv/it's here/50%/state\\%.db"),
        };
        let mut backend = CronBackend::new("OrcTestQuoting", invocation.clone(), "local")
            .unwrap()
            .with_program(session.program.clone());
        let entries: Vec<Entry> = tasks(&[
            ("q_cron", Some("*/5 * * * *"), true),
            ("q_if_due", Some("0 0 L * *"), true),
            ("q_manual", None, true),
        ])
        .values()
        .map(|t| backend.render(t).unwrap())
        .collect();
        create_all(&mut backend, &entries);
        assert_eq!(backend.list().unwrap(), entries);

        let text = session.text();
        let lines = lines_of_block(&text, "OrcTestQuoting");
        assert_eq!(lines.len(), 3);
        for (line, entry) in lines.iter().zip(&entries) {
            // No bare % reaches cron, and no backslash pair that crons read differently.
            let without_escapes = line.replace("\\%", "");
            assert!(!without_escapes.contains('%'), "{line}");
            assert!(!line.contains("\\\\"), "{line}");
            let command = match &entry.trigger {
                Some(_) if line.starts_with('@') => line.split_once(' ').unwrap().1.to_string(),
                Some(_) => line.splitn(6, ' ').nth(5).unwrap().to_string(),
                None => line.strip_prefix("#on-demand# ").unwrap().to_string(),
            };
            // What Debian's cron and BSD's cron hand to /bin/sh -c must be the same, and
            // must run exactly the entry's argv.
            let debian = cron_unescape(&command, true);
            assert_eq!(debian, cron_unescape(&command, false), "{command}");
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(&debian)
                .output()
                .unwrap();
            assert!(out.status.success(), "{debian}: {out:?}");
            let args: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .split_terminator('\0')
                .map(str::to_string)
                .collect();
            assert_eq!(args, entry.command[1..], "{line}");
        }
    }

    /// The command cron gives to the shell: up to the first unescaped `%`, with `\%` made
    /// `%`; Debian's cron also makes `\\` a single backslash, BSD's keeps both.
    fn cron_unescape(command: &str, debian: bool) -> String {
        let mut out = String::new();
        let mut escaped = false;
        for c in command.chars() {
            if escaped {
                escaped = false;
                if c == '%' || (debian && c == '\\') {
                    out.pop();
                }
                out.push(c);
                continue;
            }
            if c == '%' {
                break;
            }
            escaped = c == '\\';
            out.push(c);
        }
        out
    }

    fn lines_outside_the_block_are_untouched() {
        let Some(session) = Session::start() else {
            return;
        };
        let before = "# my own jobs\n\
                  SHELL=/bin/bash\n\
                  MAILTO=\"ops@example.com\"\n\
                  \n\
                  17 *\t* * *   cd / && run-parts --report /etc/cron.hourly   # weird  spacing\n\
                  # BEGIN orc managed block: folder \"Other\" -- edit tasks.toml, not these lines\n\
                  0 1 * * * /usr/local/bin/orc run theirs --folder OrcTestRoundTrip --backend cron --state /x.db # orc:theirs\n\
                  # END orc managed block: folder \"Other\"\n\
                  #\n\n";
        session.reset(before);
        assert_eq!(session.text(), before);
        let mut backend = session.backend("OrcTestOutside");
        assert_eq!(backend.list().unwrap(), vec![]);

        let mine = backend
            .render(&task("mine", Some("0 6 * * *"), true))
            .unwrap();
        backend.apply(&[Change::Create(mine.clone())]).unwrap();
        let text = session.text();
        assert!(text.starts_with(before), "{text}");
        assert_eq!(
            &text[before.len()..],
            "# BEGIN orc managed block: folder \"OrcTestOutside\" -- edit tasks.toml, not these \
         lines\n\
         0 6 * * * /usr/local/bin/orc run mine --folder OrcTestOutside --backend cron --state /var/lib/orc/state.db --trigger scheduled # orc:mine\n\
         # END orc managed block: folder \"OrcTestOutside\"\n"
        );
        // The other folder's block is not ours.
        assert_eq!(backend.list().unwrap(), vec![mine.clone()]);

        // Someone adds lines after orc's block; an update keeps them too.
        let after = "\n# added later\n@weekly /usr/bin/true\n";
        session.set(&format!("{text}{after}"));
        let mine2 = backend
            .render(&task("mine", Some("5 6 * * *"), true))
            .unwrap();
        let other = backend.render(&task("another", None, true)).unwrap();
        backend
            .apply(&[Change::Update(mine2.clone()), Change::Create(other.clone())])
            .unwrap();
        let text = session.text();
        assert!(text.starts_with(before), "{text}");
        assert!(text.ends_with(&format!(
            "# END orc managed block: folder \"OrcTestOutside\"\n{after}"
        )));
        assert_eq!(backend.list().unwrap(), vec![other, mine2]);

        // Deleting everything removes the block, markers and all.
        backend
            .apply(&[
                Change::Delete {
                    name: "mine".into(),
                },
                Change::Delete {
                    name: "another".into(),
                },
            ])
            .unwrap();
        assert_eq!(session.text(), format!("{before}{after}"));
        assert_eq!(backend.list().unwrap(), vec![]);

        // The other folder's backend sees only its own line.
        let theirs = session.backend("Other").list().unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].name, "theirs");
    }

    fn an_emptied_block_is_removed_entirely() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("");
        let mut backend = session.backend("OrcTestEmpty");
        let entry = backend
            .render(&task("only", Some("@hourly"), true))
            .unwrap();
        backend.apply(&[Change::Create(entry)]).unwrap();
        assert!(session.text().contains("# orc:only"));
        backend
            .apply(&[Change::Delete {
                name: "only".into(),
            }])
            .unwrap();
        assert_eq!(session.text(), "");
        assert_eq!(backend.list().unwrap(), vec![]);

        // With other content, exactly that content remains.
        session.reset("# keep me\n");
        let entry = backend
            .render(&task("only", Some("@hourly"), true))
            .unwrap();
        backend.apply(&[Change::Create(entry)]).unwrap();
        backend
            .apply(&[Change::Delete {
                name: "only".into(),
            }])
            .unwrap();
        assert_eq!(session.text(), "# keep me\n");
    }

    fn hand_edits_inside_the_block_show_up_in_list() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("");
        let mut backend = session.backend("OrcTestDrift");
        let entries: Vec<Entry> = tasks(&[
            ("a", Some("0 6 * * *"), true),
            ("b", Some("0 7 * * 1"), true),
            ("c", Some("0 8 * * *"), true),
        ])
        .values()
        .map(|t| backend.render(t).unwrap())
        .collect();
        create_all(&mut backend, &entries);

        let text = session.text();
        let edited = text
        // A different time and an output redirection: real drift.
        .replace(
            "0 6 * * * /usr/local/bin/orc run a --folder OrcTestDrift --backend cron --state /var/lib/orc/state.db --trigger scheduled # orc:a",
            "5 6 * * * /usr/local/bin/orc run a --folder OrcTestDrift --backend cron --state /var/lib/orc/state.db >/tmp/a.log # orc:a",
        )
        // The same schedule spelled differently: no drift.
        .replace("0 7 * * 1 ", "0  07 * *\tMON ")
        // Commented out by hand: cron no longer runs it.
        .replace("0 8 * * * ", "#disabled# 0 8 * * * ");
        assert_ne!(edited, text);
        session.set(&edited);

        let listed = backend.list().unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].trigger.as_deref(), Some("5 6 * * *"));
        assert_eq!(
            listed[0].command[9..],
            [">/tmp/a.log".to_string()],
            "{:?}",
            listed[0]
        );
        assert_ne!(listed[0], entries[0]);
        assert_eq!(listed[1], entries[1]);
        assert!(!listed[2].enabled);
        assert_ne!(listed[2], entries[2]);

        // A broken line with orc's marker is still an entry (so plan sees the drift) ...
        session.set(&edited.replace(" >/tmp/a.log", " 'unclosed"));
        let listed = backend.list().unwrap();
        assert_eq!(listed[0].name, "a");
        assert_ne!(listed[0], entries[0]);

        // ... and apply repairs every drifted line.
        backend
            .apply(&[
                Change::Update(entries[0].clone()),
                Change::Update(entries[2].clone()),
            ])
            .unwrap();
        assert_eq!(backend.list().unwrap(), entries);

        // A line without orc's marker inside the block is refused, naming the line.
        let text = session.text();
        session.set(&text.replace("# orc:b\n", "# orc:b\nMAILTO=root\n"));
        let err = backend.list().unwrap_err().to_string();
        assert!(
            err.contains("line 4") && err.contains("MAILTO=root"),
            "{err}"
        );
        let err = backend
            .apply(&[Change::Delete { name: "a".into() }])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 4"), "{err}");
    }

    fn a_no_op_apply_does_not_write() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("# mine\n");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.log");
        let shim = dir.path().join("crontab");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                session.program.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut backend = session.backend("OrcTestNoOp").with_program(shim);
        let calls = || std::fs::read_to_string(&log).unwrap_or_default();

        let entry = backend.render(&task("n", Some("0 6 * * *"), true)).unwrap();
        backend.apply(&[Change::Create(entry.clone())]).unwrap();
        assert_eq!(calls(), "-l\n-\n");

        // The same entry again, an enable of an enabled task, a delete of a missing one.
        backend
            .apply(&[
                Change::Update(entry.clone()),
                Change::Enable { name: "n".into() },
                Change::Delete {
                    name: "missing".into(),
                },
            ])
            .unwrap();
        assert_eq!(calls(), "-l\n-\n-l\n");

        backend.list().unwrap();
        assert_eq!(calls(), "-l\n-\n-l\n-l\n");

        // A real change writes once.
        backend
            .apply(&[Change::Disable { name: "n".into() }])
            .unwrap();
        assert_eq!(calls(), "-l\n-\n-l\n-l\n-l\n-\n");
        assert!(session.text().starts_with("# mine\n"));
    }

    fn block_marker_problems_are_reported() {
        let Some(session) = Session::start() else {
            return;
        };
        let backend = session.backend("OrcTestMarkers");
        let begin = "# BEGIN orc managed block: folder \"OrcTestMarkers\" -- edit tasks.toml, not \
                 these lines\n";
        let end = "# END orc managed block: folder \"OrcTestMarkers\"\n";
        let line = "0 6 * * * /usr/local/bin/orc run x --folder OrcTestMarkers --backend cron --state /s # orc:x\n";

        session.reset(&format!("{begin}{line}"));
        let err = backend.list().unwrap_err().to_string();
        assert!(err.contains("no END line"), "{err}");

        session.reset(&format!("{line}{end}"));
        let err = backend.list().unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");

        session.reset(&format!("{begin}{line}{line}{end}"));
        let err = backend.list().unwrap_err().to_string();
        assert!(
            err.contains("lines 2 and 3") && err.contains("\"x\""),
            "{err}"
        );

        // A folder whose name starts like ours is another folder.
        session.reset(&format!(
            "{}{line}{}",
            begin.replace("OrcTestMarkers", "OrcTestMarkers2"),
            end.replace("OrcTestMarkers", "OrcTestMarkers2")
        ));
        assert_eq!(backend.list().unwrap(), vec![]);
    }

    /// orc itself on the cron backend, in a folder of its own (state, tasks.toml), with a
    /// `crontab` first on PATH that logs each call before running the real one.
    fn orc_cron(session: &Session, folder: &str) -> TestEnv {
        let env = TestEnv::builder()
            .config_in_cwd()
            .backend(common::Backend::Cron)
            .path_first("bin")
            .config(&format!("[settings]\nfolder = \"{folder}\"\n"))
            .build();
        let shim = env.path("bin/crontab");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                env.crontab_log().display(),
                session.program.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        env
    }

    trait CronWorld {
        fn crontab_log(&self) -> PathBuf;
        fn cron(&self, args: &[&str]) -> (bool, String, String);
        fn writes(&self) -> usize;
        fn file(&self, name: &str) -> String;
    }

    impl CronWorld for TestEnv {
        /// Where the shim logs each `crontab` call's arguments.
        fn crontab_log(&self) -> PathBuf {
            self.path("crontab-calls.log")
        }

        /// orc with `args`: whether it succeeded, its stdout and its stderr.
        fn cron(&self, args: &[&str]) -> (bool, String, String) {
            let out = self.orc(args);
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }

        /// How often orc has replaced the crontab (`crontab -`).
        fn writes(&self) -> usize {
            std::fs::read_to_string(self.crontab_log())
                .unwrap_or_default()
                .lines()
                .filter(|l| *l == "-")
                .count()
        }

        fn file(&self, name: &str) -> String {
            self.read(name)
        }
    }

    const OTHER_BLOCK: &str =
    "# BEGIN orc managed block: folder \"OrcTestImportOther\" -- edit tasks.toml, not these lines
0 4 * * * /usr/bin/true # orc:theirs
# END orc managed block: folder \"OrcTestImportOther\"
";

    /// `orc import --all` adopts the ordinary lines outside orc's block: a line with shell
    /// syntax becomes `shell = "..."`, one of plain words `command = [...]`; each line moves
    /// into orc's block as it was, with orc's marker, in ONE crontab write, every other
    /// line (variables, comments, another folder's block, a line orc cannot take) kept
    /// byte for byte. Apply then takes the tasks over and plans clean.
    fn import_all_adopts_lines_outside_the_block_in_one_write() {
        let Some(session) = Session::start() else {
            return;
        };
        let before = format!(
            "MAILTO=ops@example.com
# my jobs
0 1 * * * cd /srv && ./backup.sh >> /var/log/b.log 2>&1
17 3 * * 2 /usr/bin/true --flag 'a b'
@reboot date +%s
{OTHER_BLOCK}"
        );
        session.reset(&before);
        let world = orc_cron(&session, "OrcTestImport");
        let config_before = world.file("tasks.toml");

        let (ok, stdout, stderr) = world.cron(&["import", "--all", "--into", "tasks.toml"]);
        assert!(ok, "{stdout}{stderr}");
        assert_eq!(world.writes(), 1, "one crontab write:\n{stderr}");
        assert_eq!(
            session.text(),
            format!(
                "MAILTO=ops@example.com
# my jobs
@reboot date +%s
{OTHER_BLOCK}# BEGIN orc managed block: folder \"OrcTestImport\" -- edit tasks.toml, not these lines
0 1 * * * cd /srv && ./backup.sh >> /var/log/b.log 2>&1 # orc:backup
17 3 * * 2 /usr/bin/true --flag 'a b' # orc:true
# END orc managed block: folder \"OrcTestImport\"
"
            )
        );
        // The line orc cannot take stays, and says why.
        assert!(
            stderr.contains("line 5 of the crontab") && stderr.contains('%'),
            "{stderr}"
        );

        let config = world.file("tasks.toml");
        assert!(config.starts_with(&config_before), "{config}");
        let doc: toml::Table = config.parse().unwrap();
        let tasks = doc["tasks"].as_table().unwrap();
        assert_eq!(
            tasks.keys().collect::<Vec<_>>(),
            ["backup", "true"],
            "{config}"
        );
        assert_eq!(
            tasks["backup"]["shell"].as_str(),
            Some("cd /srv && ./backup.sh >> /var/log/b.log 2>&1"),
            "{config}"
        );
        assert!(tasks["backup"].get("command").is_none(), "{config}");
        assert_eq!(tasks["backup"]["schedule"].as_str(), Some("0 1 * * *"));
        assert_eq!(
            tasks["true"]["command"],
            toml::Value::try_from(["/usr/bin/true", "--flag", "a b"]).unwrap()
        );
        assert_eq!(tasks["true"]["schedule"].as_str(), Some("17 3 * * 2"));
        // The variable cron gave the line is named for review; its value never shown.
        assert!(
            config.contains("# review: the crontab sets MAILTO above line 3"),
            "{config}"
        );
        for text in [&config, &stdout, &stderr] {
            assert!(!text.contains("ops@example.com"), "{text}");
        }

        // Apply takes them over: their lines now call orc back; the rest is as it was.
        let (ok, stdout, stderr) = world.cron(&["apply", "--auto-approve"]);
        assert!(ok, "{stdout}{stderr}");
        let after = session.text();
        let block = lines_of_block(&after, "OrcTestImport");
        assert_eq!(block.len(), 2, "{after}");
        assert!(
            block[0].starts_with("0 1 * * * ")
                && block[0].contains(" run backup --folder OrcTestImport --backend cron --state "),
            "{after}"
        );
        assert!(
            after.starts_with(&format!(
                "MAILTO=ops@example.com\n# my jobs\n@reboot date +%s\n{OTHER_BLOCK}"
            )),
            "{after}"
        );
        let (ok, stdout, stderr) = world.cron(&["plan", "--detailed-exitcode"]);
        assert!(ok, "{stdout}{stderr}");
    }

    /// A shell line in orc's block (a hand-made one, or one adopted and not applied yet)
    /// imports as `shell = "..."`, not as an argv of `cd`, `&&`, `>>`; it needs no write.
    fn a_shell_line_in_the_block_imports_as_shell() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset(
            "# BEGIN orc managed block: folder \"OrcTestImportShell\"
0 1 * * * cd /srv && ./backup.sh >> /var/log/b.log 2>&1 # orc:backup
#disabled# 0 2 * * * /usr/bin/true --flag 'a b' # orc:plain
# END orc managed block: folder \"OrcTestImportShell\"
",
        );
        let world = orc_cron(&session, "OrcTestImportShell");
        let (ok, stdout, stderr) = world.cron(&["import", "--all"]);
        assert!(ok, "{stdout}{stderr}");
        let doc: toml::Table = stdout.parse().unwrap();
        let backup = &doc["tasks"]["backup"];
        assert_eq!(
            backup["shell"].as_str(),
            Some("cd /srv && ./backup.sh >> /var/log/b.log 2>&1"),
            "{stdout}"
        );
        assert!(backup.get("command").is_none(), "{stdout}");
        let plain = &doc["tasks"]["plain"];
        assert_eq!(
            plain["command"],
            toml::Value::try_from(["/usr/bin/true", "--flag", "a b"]).unwrap(),
            "{stdout}"
        );
        assert_eq!(plain["enabled"].as_bool(), Some(false), "{stdout}");
        assert_eq!(world.writes(), 0);
    }

    /// An adoption that cannot be made changes nothing: a task already in the --into
    /// file, or a line orc cannot take asked for by name, is refused with the file and
    /// line named, no crontab write, the file as it was. Asked for by name, one line
    /// moves and the others stay.
    fn a_refused_adoption_changes_nothing() {
        let Some(session) = Session::start() else {
            return;
        };
        let before = "0 1 * * * cd /srv && ./backup.sh >> /var/log/b.log 2>&1
17 3 * * 2 /usr/bin/true
0 2 * * * date +%s
";
        session.reset(before);
        let world = orc_cron(&session, "OrcTestImportRefused");
        let taken = "[tasks.backup]\ncommand = [\"x\"]\n";
        std::fs::write(world.dir().join("other.toml"), taken).unwrap();

        let (ok, stdout, stderr) = world.cron(&["import", "--all", "--into", "other.toml"]);
        assert!(!ok, "{stdout}");
        assert!(
            stderr.contains("[tasks.backup] is already in other.toml"),
            "{stderr}"
        );
        let (ok, _, stderr) = world.cron(&["import", "crontab_line_3"]);
        assert!(!ok);
        assert!(
            stderr.contains("line 3 of the crontab") && stderr.contains('%'),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(world.writes(), 0);
        assert_eq!(session.text(), before);
        assert_eq!(world.file("other.toml"), taken);

        let (ok, stdout, stderr) = world.cron(&["import", "backup"]);
        assert!(ok, "{stdout}{stderr}");
        assert!(stdout.contains("[tasks.backup]"), "{stdout}");
        assert!(!stdout.contains("[tasks.true]"), "{stdout}");
        assert_eq!(world.writes(), 1);
        let after = session.text();
        assert!(
            after.starts_with("17 3 * * 2 /usr/bin/true\n0 2 * * * date +%s\n"),
            "{after}"
        );
        assert_eq!(
            lines_of_block(&after, "OrcTestImportRefused"),
            ["0 1 * * * cd /srv && ./backup.sh >> /var/log/b.log 2>&1 # orc:backup"]
        );
    }

    /// A config whose folder changes moves its lines from the old block to the new one:
    /// nothing is left scheduled in the old folder.
    fn a_changed_folder_moves_the_lines_out_of_the_old_block() {
        let Some(session) = Session::start() else {
            return;
        };
        session.reset("");
        let world = orc_cron(&session, "OrcTestMoveA");
        let tasks = "\ntimezone = \"local\"\n\n[tasks.hello]\ncommand = \"echo hi\"\nschedule = \"0 9 * * *\"\n";
        let write = |folder: &str| {
            std::fs::write(
                world.dir().join("tasks.toml"),
                format!("[settings]\nfolder = \"{folder}\"{tasks}"),
            )
            .unwrap();
        };
        write("OrcTestMoveA");
        let (ok, out, err) = world.cron(&["apply", "--auto-approve"]);
        assert!(ok, "{out}{err}");
        assert_eq!(lines_of_block(&session.text(), "OrcTestMoveA").len(), 1);

        write("OrcTestMoveB");
        let (ok, plan, err) = world.cron(&["plan"]);
        assert!(ok, "{plan}{err}");
        assert!(
            plan.contains("leaves \"OrcTestMoveA\" (1 entry to delete there)"),
            "{plan}"
        );
        let (ok, out, err) = world.cron(&["apply", "--auto-approve"]);
        assert!(ok, "{out}{err}");
        let text = session.text();
        assert_eq!(
            lines_of_block(&text, "OrcTestMoveA"),
            Vec::<String>::new(),
            "{text}"
        );
        let moved = lines_of_block(&text, "OrcTestMoveB");
        assert_eq!(moved.len(), 1, "{text}");
        assert!(moved[0].contains(" --folder OrcTestMoveB "), "{text}");
        let (ok, plan, _) = world.cron(&["plan"]);
        assert!(ok && plan.contains("No changes."), "{plan}");
    }

    /// The trials of this suite: a test that needs what is missing here is reported as
    /// ignored, saying what (see `common::trial`).
    pub fn main() -> std::process::ExitCode {
        common::run_trials(vec![
            common::trial(
                "render_plain_cron_and_shorthands",
                render_plain_cron_and_shorthands,
                &[],
            ),
            common::trial("render_star_steps", render_star_steps, &[]),
            common::trial(
                "render_lists_and_ranges_compactly",
                render_lists_and_ranges_compactly,
                &[],
            ),
            common::trial("render_macros", render_macros, &[]),
            common::trial(
                "render_extensions_as_supersets_with_if_due",
                render_extensions_as_supersets_with_if_due,
                &[],
            ),
            common::trial(
                "extension_supersets_cover_every_day_orc_fires",
                extension_supersets_cover_every_day_orc_fires,
                &[],
            ),
            common::trial(
                "render_disabled_and_on_demand",
                render_disabled_and_on_demand,
                &[],
            ),
            common::trial(
                "other_time_zones_are_refused",
                other_time_zones_are_refused,
                &[],
            ),
            common::trial(
                "a_missing_or_failing_program_is_an_error",
                a_missing_or_failing_program_is_an_error,
                &[],
            ),
            common::trial(
                "apply_create_update_delete_enable_disable",
                apply_create_update_delete_enable_disable,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "rendered_entries_round_trip_exactly",
                rendered_entries_round_trip_exactly,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "percent_signs_quotes_and_spaces_survive_cron_and_the_shell",
                percent_signs_quotes_and_spaces_survive_cron_and_the_shell,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "lines_outside_the_block_are_untouched",
                lines_outside_the_block_are_untouched,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "an_emptied_block_is_removed_entirely",
                an_emptied_block_is_removed_entirely,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "hand_edits_inside_the_block_show_up_in_list",
                hand_edits_inside_the_block_show_up_in_list,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "a_no_op_apply_does_not_write",
                a_no_op_apply_does_not_write,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "block_marker_problems_are_reported",
                block_marker_problems_are_reported,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "import_all_adopts_lines_outside_the_block_in_one_write",
                import_all_adopts_lines_outside_the_block_in_one_write,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "a_shell_line_in_the_block_imports_as_shell",
                a_shell_line_in_the_block_imports_as_shell,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "a_refused_adoption_changes_nothing",
                a_refused_adoption_changes_nothing,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "a_changed_folder_moves_the_lines_out_of_the_old_block",
                a_changed_folder_moves_the_lines_out_of_the_old_block,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
        ])
    }
}

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    suite::main()
}

#[cfg(not(unix))]
fn main() {}
