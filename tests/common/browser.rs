//! A browser for the dashboard's tests: headless Chromium driven through
//! chromedriver's W3C WebDriver protocol.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::Killed;

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// A WebDriver session.
pub struct Browser {
    base: String,
    session: String,
    _driver: Killed,
    _profile: tempfile::TempDir,
}

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub fn start() -> Option<Browser> {
        let found = |p: &str| Path::new(p).exists();
        assert!(
            found("/usr/bin/chromium") && found("/usr/bin/chromedriver"),
            "chromium and chromedriver are missing (apt-get install chromium chromium-driver)"
        );
        let port = free_port();
        let driver = Killed(
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while agent()
            .get(&format!("{base}/status"))
            .call()
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let created = post(
            &format!("{base}/session"),
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
            }}}),
        );
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Some(Browser {
            base,
            session,
            _driver: driver,
            _profile: profile,
        })
    }

    pub fn url(&self, rel: &str) -> String {
        format!("{}/session/{}{rel}", self.base, self.session)
    }

    pub fn go(&self, url: &str) {
        post(&self.url("/url"), json!({ "url": url }));
    }

    pub fn find(&self, css: &str) -> String {
        let found = post(
            &self.url("/element"),
            json!({"using": "css selector", "value": css}),
        );
        found["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        post(&self.url(&format!("/element/{id}/click")), json!({}));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        post(&self.url(&format!("/element/{id}/clear")), json!({}));
        post(
            &self.url(&format!("/element/{id}/value")),
            json!({ "text": text }),
        );
    }

    /// Run `script` (a function body) in the page and return its value.
    pub fn js(&self, script: &str) -> Value {
        post(
            &self.url("/execute/sync"),
            json!({"script": script, "args": []}),
        )["value"]
            .clone()
    }

    /// Wait until `script` returns something truthy; panic with `what` after 30 s.
    pub fn wait(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let page = self.js("return document.body.innerText");
                panic!("timed out waiting for {what}; the page says:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn screenshot(&self, name: &str) {
        let shot = agent()
            .get(&self.url("/screenshot"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let shot: Value = serde_json::from_str(&shot).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-output");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("dashboard-{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent()
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
    }
}

pub fn post(url: &str, body: Value) -> Value {
    let text = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
