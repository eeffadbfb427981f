//! Helpers for the console tests: `kirim serve` with the console on port 0, console
//! users, and a real headless Chromium driven over CDP (chromiumoxide).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use futures::StreamExt;
use kirim::config::{ConsoleRole, ConsoleUser, Settings};
use kirim::domain::Secret;

pub const OPERATOR: (&str, &str) = ("alice", "alice-operator-pw");
pub const VIEWER: (&str, &str) = ("victor", "victor-viewer-pw");
/// How long any browser condition may take.
pub const UI_WAIT: Duration = Duration::from_secs(30);

/// Add the two test users and a session key to `settings`.
pub fn with_console_users(settings: &mut Settings) {
    let user = |(name, pw): (&str, &str), role| ConsoleUser {
        name: name.into(),
        role,
        password_hash: kirim::console::auth::hash_password(pw).expect("hash"),
    };
    settings.console.users = vec![
        user(OPERATOR, ConsoleRole::Operator),
        user(VIEWER, ConsoleRole::Viewer),
    ];
    settings.console.session_key = Some(Secret::new("console-test-session-key"));
}

/// The API server with the console, as `kirim serve` runs it.
pub use crate::common::Api as Server;

/// The Chromium binary. Missing Chromium is a test failure, never a skip: CI
/// installs Debian's `chromium` in .ci/run.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) = std::env::var_os("PATH") {
            for d in std::env::split_paths(&dir) {
                let p = d.join(name);
                if p.is_file() {
                    return p;
                }
            }
        }
    }
    panic!(
        "Chromium is required for the console browser tests and was not found on PATH \
         (install it: apt-get install -y chromium; .ci/run does this), or set CHROMIUM"
    );
}

/// A headless Chromium at 1280×800 with one page, pointed at a server.
pub struct Ui {
    pub browser: Browser,
    pub page: Page,
    base: String,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
    shots: Option<PathBuf>,
}

impl Ui {
    pub async fn launch(base: &str) -> Ui {
        let profile = tempfile::tempdir().expect("profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium())
            .no_sandbox()
            .user_data_dir(profile.path())
            .window_size(1280, 800)
            .viewport(Viewport {
                width: 1280,
                height: 800,
                device_scale_factor: Some(1.0),
                emulating_mobile: false,
                is_landscape: true,
                has_touch: false,
            })
            .args([
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
            ])
            .launch_timeout(Duration::from_secs(60))
            .build()
            .expect("browser config");
        let (browser, mut handler) = Browser::launch(config)
            .await
            .unwrap_or_else(|e| panic!("Chromium did not start: {e}"));
        // Drive the CDP connection; events this crate version does not know are
        // reported as errors and skipped.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        let page = browser.new_page("about:blank").await.expect("page");
        let shots = std::env::var_os("KIRIM_CONSOLE_SCREENSHOTS").map(PathBuf::from);
        Ui {
            browser,
            page,
            base: base.trim_end_matches('/').to_owned(),
            handler,
            _profile: profile,
            shots,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.page
            .goto(format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("navigate to {path}: {e}"));
    }

    /// The value of a JavaScript expression, or `None` while the page is between
    /// documents (navigation in progress).
    pub async fn js<T: serde::de::DeserializeOwned>(&self, expr: &str) -> Option<T> {
        let f = format!("() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }}");
        self.page
            .evaluate_function(f)
            .await
            .ok()
            .and_then(|r| r.into_value::<Option<T>>().ok())
            .flatten()
    }

    /// Wait until the JavaScript condition `cond` is true (checked every 50 ms).
    pub async fn wait(&self, what: &str, cond: &str) {
        let deadline = tokio::time::Instant::now() + UI_WAIT;
        loop {
            if self.js::<bool>(cond).await == Some(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let body: Option<String> =
                    self.js("document.body && document.body.innerText").await;
                panic!(
                    "timed out waiting for {what} ({cond}); page text:\n{}",
                    body.unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until `selector` exists and contains `text`.
    pub async fn wait_text(&self, selector: &str, text: &str) {
        let cond = format!(
            "(() => {{ const e = document.querySelector({s}); return !!e && e.innerText.includes({t}); }})()",
            s = serde_json::to_string(selector).unwrap_or_default(),
            t = serde_json::to_string(text).unwrap_or_default(),
        );
        self.wait(&format!("{selector} to contain {text:?}"), &cond)
            .await;
    }

    pub async fn text(&self, selector: &str) -> String {
        let expr = format!(
            "document.querySelector({}).innerText",
            serde_json::to_string(selector).unwrap_or_default()
        );
        self.js::<String>(&expr)
            .await
            .unwrap_or_else(|| panic!("no element {selector}"))
    }

    pub async fn count(&self, selector: &str) -> usize {
        let expr = format!(
            "document.querySelectorAll({}).length",
            serde_json::to_string(selector).unwrap_or_default()
        );
        self.js::<usize>(&expr).await.unwrap_or(0)
    }

    /// Click `selector` with a real mouse event.
    pub async fn click(&self, selector: &str) {
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    /// Focus `selector` and type `text` key by key.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let el = self
            .page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"));
        el.click().await.expect("focus");
        el.type_str(text).await.expect("type");
    }

    /// Set a form control's value (for `<select>`).
    pub async fn set_value(&self, selector: &str, value: &str) {
        let expr = format!(
            "(() => {{ const e = document.querySelector({}); e.value = {}; return e.value; }})()",
            serde_json::to_string(selector).unwrap_or_default(),
            serde_json::to_string(value).unwrap_or_default()
        );
        assert_eq!(
            self.js::<String>(&expr).await.as_deref(),
            Some(value),
            "set {selector}"
        );
    }

    /// POST a form from inside the page (the browser's own cookies), returning
    /// the HTTP status. `body` is url-encoded.
    pub async fn post_from_page(&self, path: &str, body: &str) -> u16 {
        let f = format!(
            "async () => (await fetch({}, {{method: 'POST', redirect: 'manual', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: {}}})).status",
            serde_json::to_string(path).unwrap_or_default(),
            serde_json::to_string(body).unwrap_or_default()
        );
        self.page
            .evaluate_function(f)
            .await
            .expect("fetch")
            .into_value::<u16>()
            .expect("status")
    }

    /// Log in through the login form.
    pub async fn login(&self, (user, password): (&str, &str)) {
        self.goto("/ui/login").await;
        self.wait("the login form", "!!document.querySelector('#user')")
            .await;
        self.shot("login").await;
        self.type_into("#user", user).await;
        self.type_into("#password", password).await;
        self.click("#login").await;
        self.wait_text("#whoami", user).await;
    }

    pub async fn logout(&self) {
        self.click("header .me button").await;
        self.wait("the login page", "!!document.querySelector('#login')")
            .await;
    }

    /// Save a 1280×800 screenshot as `<name>.png` when KIRIM_CONSOLE_SCREENSHOTS
    /// names a directory (e.g. `docs/console`).
    pub async fn shot(&self, name: &str) {
        let Some(dir) = &self.shots else {
            return;
        };
        std::fs::create_dir_all(dir).expect("screenshot dir");
        let params = ScreenshotParams::builder()
            .format(chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat::Png)
            .build();
        self.page
            .save_screenshot(params, dir.join(format!("{name}.png")))
            .await
            .expect("screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}
