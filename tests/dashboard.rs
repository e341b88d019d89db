//! The dashboard end to end in headless Chromium, driven through chromedriver's
//! W3C WebDriver protocol: be sent to the login form, log in, see the grid, open a
//! task, run it now and watch the run and its log appear live, pause it, toggle
//! dark mode, create a task through the form, and look at it on a phone's width.
//! Screenshots go to `target/test-output/dashboard-*.png`. Without chromium and
//! chromedriver the tests are reported as ignored, naming them, except under CI=true,
//! where they fail.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

mod common;
use common::browser::{Browser, post};
use common::{Killed, TestEnv};

const CONFIG: &str = "# Our tasks: this comment and the layout must survive the dashboard.
[settings]
backend = \"embedded\"

[tasks.nightly]  # the big one
shell = \"echo nightly done\"
schedule = \"0 2 * * *\"

# Writes a line a second, so its log can be watched growing.
[tasks.slow]
shell = \"for i in 1 2 3 4; do echo step $i; sleep 1; done\"
";

/// A served state: two applied tasks, one with a run.
struct Served {
    _server: Killed,
    base: String,
    token: String,
    /// The served state (`state.db`) and config, and orc on them.
    env: TestEnv,
}

impl Served {
    fn start() -> Served {
        let env = TestEnv::builder().state("state.db").config(CONFIG).build();
        env.orc_ok(&["apply", "--auto-approve"]);
        env.orc_ok(&["run", "nightly"]);
        let (server, base, token) = common::serve(env.dir());
        Served {
            _server: server,
            base,
            token,
            env,
        }
    }
}

impl Browser {
    fn log_in(&self, served: &Served) {
        self.go(&format!("{}/login?next=/", served.base));
        self.type_into("#token", &served.token);
        self.click("form.login button[type=submit]");
        self.wait(
            "the grid after logging in",
            "return document.querySelector('meta[name=csrf-token]') && document.querySelector('#task-rows tr[data-name=slow]')",
        );
    }
}

fn the_dashboard_in_a_real_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let served = Served::start();
    let base = &served.base;
    let config = served.env.config();
    let orc = |args: &[&str]| served.env.orc_ok(args);

    // Not logged in, a page is the login form, which comes back to the page after.
    browser.go(&format!("{base}/runs?task=nightly"));
    browser.wait(
        "the login form instead of the runs",
        "return location.pathname === '/login' && new URLSearchParams(location.search).get('next') === '/runs?task=nightly' && document.getElementById('token') && !document.getElementById('run-list')",
    );
    browser.type_into("#token", &served.token);
    browser.click("form.login button[type=submit]");
    browser.wait(
        "the runs page after logging in",
        "return location.pathname === '/runs' && location.search === '?task=nightly' && document.getElementById('run-list')",
    );
    // Log in with the token; the grid shows both tasks with their state. (The
    // buttons below send the session's CSRF token, and Chromium its Origin.)
    browser.log_in(&served);
    let nightly = browser.js(
        "const r = document.querySelector('tr[data-name=nightly]'); return [r.dataset.status, r.innerText];",
    );
    assert_eq!(nightly[0], "ok", "{nightly}");
    assert!(
        nightly[1].as_str().unwrap().contains("At 02:00"),
        "{nightly}"
    );
    // Search narrows the grid as you type.
    browser.type_into("#search", "slo");
    browser.wait(
        "the search to hide nightly",
        "return document.querySelector('tr[data-name=nightly]').hidden && document.getElementById('task-count').textContent === '1 of 2 tasks'",
    );
    browser.js("const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); return 1;");
    browser.wait(
        "both rows back",
        "return document.getElementById('task-count').textContent === '2 of 2 tasks'",
    );
    browser.screenshot("grid");

    // Open the task, run it now, and see the run and its log arrive without a reload.
    browser.click("a[href='/tasks/slow']");
    browser.wait(
        "the task page",
        "return location.pathname === '/tasks/slow' && document.querySelector('button[data-action=run]')",
    );
    browser.js("window.notReloaded = true; return 1;");
    browser.click("button[data-action=run]");
    browser.wait(
        "the running run in the history (live)",
        "return document.querySelector('#task-history .badge.running')",
    );
    browser.wait(
        "the log growing while the run goes",
        "return /step 2/.test(document.getElementById('log').textContent)",
    );
    browser.wait(
        "the run's end and its whole log",
        "return document.querySelector('#task-state .badge.ok') && /step 4/.test(document.getElementById('log').textContent)",
    );
    assert_eq!(browser.js("return window.notReloaded === true"), true);
    browser.screenshot("task");

    // Pause it: enabled = false goes into tasks.toml (comments kept) and is applied.
    browser.click("button[data-action=disable]");
    browser.wait(
        "the task shown paused",
        "return document.querySelector('#task-state .badge.paused') && document.querySelector('#task-actions button[data-action=enable]')",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("enabled = false"), "{text}");
    assert!(text.starts_with("# Our tasks: this comment"), "{text}");

    // Dark mode: the toggle switches the theme and the colours with it.
    let light = browser.js("return getComputedStyle(document.body).backgroundColor");
    browser.click("#theme-toggle");
    let dark = browser.js(
        "return [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]",
    );
    assert_eq!(dark[0], "dark");
    assert_ne!(dark[1], light, "the background changed");
    assert_eq!(dark[1], "rgb(13, 17, 23)");
    browser.screenshot("dark");
    browser.click("#theme-toggle");

    // Create a task through the form: a bad schedule is explained as it is typed,
    // a good one previewed with its next five fire times.
    browser.go(&format!("{base}/new"));
    browser.type_into("#f-name", "from_browser");
    browser.type_into("#f-command", "echo made in a browser");
    browser.type_into("#f-schedule", "61 * * * *");
    browser.wait(
        "the schedule error",
        "return document.getElementById('f-schedule').getAttribute('aria-invalid') === 'true' && document.querySelector('#schedule-preview .error')",
    );
    browser.type_into("#f-schedule", "30 7 * * 1-5");
    let preview = browser.wait(
        "the schedule preview",
        "const p = document.getElementById('schedule-preview'); return p.querySelectorAll('li').length === 5 && p.innerText",
    );
    assert!(
        preview
            .as_str()
            .unwrap()
            .contains("At 07:30, Monday through Friday"),
        "{preview}"
    );
    browser.type_into("#f-timeout", "10m");
    browser.screenshot("form");
    browser.click("#task-form button[type=submit]");
    browser.wait(
        "the new task's page",
        "return location.pathname === '/tasks/from_browser' && document.querySelector('h1')",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    // The file as it was, then the pause, then the new task: comments and layout kept.
    assert!(text.starts_with(CONFIG), "{text}");
    assert!(text.contains("[tasks.from_browser]"), "{text}");
    assert!(
        text.contains("command = \"echo made in a browser\""),
        "{text}"
    );
    assert!(text.contains("schedule = \"30 7 * * 1-5\""), "{text}");
    assert!(text.contains("[tasks.nightly]  # the big one"), "{text}");
    assert!(
        text.contains("# Writes a line a second, so its log can be watched growing."),
        "{text}"
    );
    let plan = orc(&["plan"]);
    assert!(
        plan.contains("No changes"),
        "the form's task is applied: {plan}"
    );

    // A phone's width: the optional columns give way, nothing needs sideways scrolling
    // but the table itself.
    post(
        &browser.url("/window/rect"),
        json!({"width": 390, "height": 844}),
    );
    browser.go(&format!("{base}/"));
    browser.wait(
        "the grid on a phone",
        "return document.querySelector('#task-rows tr[data-name=slow]')",
    );
    let narrow = browser.js(
        "return [getComputedStyle(document.querySelector('td.opt')).display, document.documentElement.scrollWidth <= window.innerWidth + 1, document.documentElement.scrollWidth, window.innerWidth, [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll')).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)]",
    );
    browser.screenshot("phone");
    assert_eq!(narrow[0], "none", "{narrow}");
    assert_eq!(narrow[1], true, "the page fits the width: {narrow}");
    browser.screenshot("phone");

    // Every form control has a label a screen reader can read.
    browser.go(&format!("{base}/new"));
    let unlabelled = browser.wait(
        "the form",
        "return document.getElementById('task-form') && JSON.stringify([...document.querySelectorAll('input:not([type=hidden]), select')].filter(e => !e.labels || e.labels.length === 0).map(e => e.id))",
    );
    assert_eq!(unlabelled, "[]");
}

/// Every page, light and dark, checked by axe-core (Deque's accessibility engine,
/// from npm: `npm install --no-save axe-core`) for WCAG 2 A and AA: contrast, labels,
/// names, landmarks, keyboard reachability.
fn every_page_passes_an_accessibility_check() {
    let axe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&axe)
        .expect("axe-core is missing (npm install --no-save axe-core)");
    let Some(browser) = Browser::start() else {
        return;
    };
    let served = Served::start();
    served.env.orc_ok(&["run", "slow"]);
    browser.log_in(&served);
    let mut problems = Vec::new();
    for theme in ["light", "dark"] {
        for path in [
            "/",
            "/tasks/slow",
            "/tasks/slow/edit",
            "/runs",
            "/runs/1",
            "/plan",
            "/new",
            "/login",
        ] {
            browser.go(&format!("{}{path}", served.base));
            browser.js(&format!(
                "localStorage.setItem('orc-theme', '{theme}'); document.documentElement.dataset.theme = '{theme}'; return 1;"
            ));
            // Let the scripts fill in what they fetch (the log, the preview).
            browser.wait(
                "the page's scripts",
                "return document.readyState === 'complete'",
            );
            std::thread::sleep(Duration::from_millis(300));
            browser.js(&format!("{axe}\nreturn 1;"));
            let found = post(
                &browser.url("/execute/async"),
                json!({"script": "const done = arguments[arguments.length - 1]; axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}).then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ') + ')')));", "args": []}),
            )["value"]
                .clone();
            for v in found
                .as_array()
                .unwrap_or_else(|| panic!("axe did not run on {path}: {found}"))
            {
                problems.push(format!("{theme} {path}: {}", v.as_str().unwrap()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "accessibility problems:\n{}",
        problems.join("\n")
    );
}

/// The trials of this suite: a test that needs what is missing here is reported as
/// ignored, saying what (see `common::trial`).
fn main() -> std::process::ExitCode {
    common::run_trials(vec![
        common::trial(
            "the_dashboard_in_a_real_browser",
            the_dashboard_in_a_real_browser,
            &[
                common::missing_file(
                    "/usr/bin/chromium",
                    "apt-get install chromium chromium-driver",
                ),
                common::missing_file(
                    "/usr/bin/chromedriver",
                    "apt-get install chromium chromium-driver",
                ),
            ],
        ),
        common::trial(
            "every_page_passes_an_accessibility_check",
            every_page_passes_an_accessibility_check,
            &[
                common::missing_file(
                    "/usr/bin/chromium",
                    "apt-get install chromium chromium-driver",
                ),
                common::missing_file(
                    "/usr/bin/chromedriver",
                    "apt-get install chromium chromium-driver",
                ),
                common::missing_file(
                    concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/node_modules/axe-core/axe.min.js"
                    ),
                    "npm install --no-save axe-core",
                ),
            ],
        ),
    ])
}
