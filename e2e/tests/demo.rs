//! The demo application in a real browser: Debian's chromium, headless,
//! through chromedriver, as two devices (two separate profiles) of one user.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// A child process, killed when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ sits in the repository")
        .to_owned()
}

fn path_from(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map_or(default, PathBuf::from)
}

/// Waits until something listens on `port`.
async fn listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The demo on a port of its own.
async fn demo() -> (Running, String) {
    let binary = path_from("DEMO_BIN", repository().join("target/debug/examples/demo"));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --example demo` at the repository root first",
        binary.display()
    );
    let port = free_port();
    let child = Command::new(&binary)
        .env("DEMO_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("SESSIONWARE_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    let running = Running(child);
    listening(port, "the demo").await;
    (running, format!("http://127.0.0.1:{port}"))
}

/// A page on another port of 127.0.0.1 (the same site as the demo, another
/// origin) holding a form that posts to `action`; its URL.
async fn hostile_form(action: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let page = format!(
        "<!doctype html><form method=post action='{action}'><button id=go>go</button></form>"
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    url
}

/// chromedriver on a port of its own.
async fn chromedriver() -> (Running, String) {
    let binary = path_from("CHROMEDRIVER", PathBuf::from("/usr/bin/chromedriver"));
    let port = free_port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "cannot start {}: {err}; install Debian's chromium-driver (apt-get install chromium chromium-driver)",
                binary.display()
            )
        });
    let running = Running(child);
    listening(port, "chromedriver").await;
    (running, format!("http://127.0.0.1:{port}"))
}

/// A fresh browser: its own profile, so its own cookies (another device).
async fn browser(driver: &str) -> Client {
    let chromium = path_from("CHROMIUM", PathBuf::from("/usr/bin/chromium"));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1100,800",
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(driver)
        .await
        .expect("a chromium session through chromedriver")
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client.find(Locator::Css(css)).await.expect(css);
    field.send_keys(text).await.expect(css);
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"))
        .click()
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"));
}

/// The text of the first element matching `css`, or `None`.
async fn text(client: &Client, css: &str) -> Option<String> {
    let element = client.find(Locator::Css(css)).await.ok()?;
    element.text().await.ok()
}

/// The text of the first element matching `css`, waiting up to 5 s for the
/// page that shows it (a click does not wait for the navigation it starts).
async fn wait_text(client: &Client, css: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = text(client, css).await;
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to 5 s for the first element matching `css` to read
/// `expected`; returns what it reads then.
async fn wait_for(client: &Client, css: &str, expected: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = text(client, css).await;
        if found.as_deref() == Some(expected) || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to 5 s for the current path (with query) to be `expected`,
/// and returns it as it then is.
async fn wait_path(client: &Client, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = path(client).await;
        if now == expected || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn path(client: &Client) -> String {
    let url = client.current_url().await.expect("a current URL");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Fills and sends the credentials form on the current page.
async fn submit_credentials(client: &Client, name: &str, password: &str, remember: bool) {
    fill(client, "#name", name).await;
    fill(client, "#password", password).await;
    if remember {
        click(client, "#remember").await;
    }
    click(client, "#submit").await;
}

async fn session_cookie(client: &Client) -> Cookie<'static> {
    let cookies = client.get_all_cookies().await.expect("the cookies");
    cookies
        .into_iter()
        .find(|cookie| cookie.name() == "id")
        .expect("the session cookie `id`")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_flashes_revocation_recent_login_csrf_and_cookie_attributes() {
    let (_demo, site) = demo().await;
    let (_driver, driver) = chromedriver().await;
    let laptop = browser(&driver).await;
    let phone = browser(&driver).await;

    // Sign up on the laptop: the flash is shown after the redirect, once.
    laptop.goto(&format!("{site}/signup")).await.unwrap();
    submit_credentials(&laptop, "ferris", "crab-password", false).await;
    assert_eq!(wait_path(&laptop, "/").await, "/");
    assert_eq!(
        wait_text(&laptop, ".flash.success").await.as_deref(),
        Some("Welcome, ferris")
    );
    laptop.goto(&site).await.unwrap();
    assert_eq!(text(&laptop, ".flash").await, None, "a flash is shown once");

    // The cookie: HttpOnly, SameSite=Lax; a browser-session cookie without
    // "remember me"; not Secure only because the demo serves plain HTTP on
    // localhost (its development exception).
    let cookie = session_cookie(&laptop).await;
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    assert_ne!(cookie.secure(), Some(true));
    assert!(
        cookie.expires_datetime().is_none(),
        "no remember-me: a browser-session cookie"
    );

    // Log in on the phone with "remember me": a persistent cookie.
    phone.goto(&format!("{site}/login")).await.unwrap();
    submit_credentials(&phone, "ferris", "crab-password", true).await;
    assert_eq!(
        wait_text(&phone, ".flash.success").await.as_deref(),
        Some("Signed in as ferris")
    );
    assert!(
        session_cookie(&phone).await.expires_datetime().is_some(),
        "remember me: a persistent cookie"
    );

    // The counter works on both devices.
    click(&phone, "#press").await;
    assert_eq!(wait_for(&phone, "#count", "1").await.as_deref(), Some("1"));

    // Both devices are listed on the laptop, the laptop marked.
    laptop.goto(&format!("{site}/devices")).await.unwrap();
    let rows = laptop.find_all(Locator::Css("tr.device")).await.unwrap();
    assert_eq!(rows.len(), 2, "{}", laptop.source().await.unwrap());
    assert_eq!(
        laptop
            .find_all(Locator::Css("tr.device.this"))
            .await
            .unwrap()
            .len(),
        1
    );
    let screenshot = laptop.screenshot().await.expect("a screenshot");
    let saved = repository().join("target/demo-devices.png");
    std::fs::create_dir_all(saved.parent().unwrap()).unwrap();
    std::fs::write(&saved, screenshot).expect("the screenshot is saved");

    // Sign the phone out from the laptop: its next navigation is a guest's.
    click(&laptop, "button.revoke").await;
    assert_eq!(
        wait_text(&laptop, ".flash.success").await.as_deref(),
        Some("That device is signed out")
    );
    assert_eq!(
        laptop
            .find_all(Locator::Css("tr.device"))
            .await
            .unwrap()
            .len(),
        1
    );
    phone.goto(&format!("{site}/devices")).await.unwrap();
    assert_eq!(
        wait_path(&phone, "/login?next=%2Fdevices").await,
        "/login?next=%2Fdevices"
    );

    // A form on another port of the same host is another origin of the
    // same site: SameSite=Lax lets the session cookie go with its post, and
    // only the CSRF layer refuses it. It changes nothing.
    laptop.goto(&site).await.unwrap();
    let before = text(&laptop, "#count").await;
    let hostile = hostile_form(&format!("{site}/count")).await;
    laptop.goto(&hostile).await.unwrap();
    click(&laptop, "#go").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(path(&laptop).await, "/count", "the form was posted");
    laptop.goto(&site).await.unwrap();
    assert_eq!(
        text(&laptop, "#count").await,
        before,
        "a cross-origin post changed the counter"
    );
    assert_eq!(
        text(&laptop, "#user").await.as_deref(),
        Some("ferris"),
        "still signed in"
    );

    // The settings page asks for a login within the last minute: it opens
    // now; a minute later the laptop is sent to re-authenticate, and comes
    // back after.
    // The laptop re-authenticates first, so that its sign-in is seconds old
    // however long the steps above took on a loaded machine.
    laptop
        .goto(&format!("{site}/reauth?next=%2Fsettings"))
        .await
        .unwrap();
    fill(&laptop, "#password", "crab-password").await;
    click(&laptop, "#submit").await;
    assert_eq!(wait_path(&laptop, "/settings").await, "/settings");
    laptop.goto(&format!("{site}/settings")).await.unwrap();
    assert_eq!(wait_path(&laptop, "/settings").await, "/settings");
    tokio::time::sleep(Duration::from_secs(62)).await;
    laptop.goto(&format!("{site}/settings")).await.unwrap();
    assert_eq!(
        wait_path(&laptop, "/reauth?next=%2Fsettings").await,
        "/reauth?next=%2Fsettings"
    );
    // A wrong password keeps the laptop on the form, still bound for the
    // settings page.
    fill(&laptop, "#password", "not-the-password").await;
    click(&laptop, "#submit").await;
    assert_eq!(
        wait_text(&laptop, ".flash.error").await.as_deref(),
        Some("Wrong password")
    );
    assert_eq!(path(&laptop).await, "/reauth?next=%2Fsettings");
    fill(&laptop, "#password", "crab-password").await;
    click(&laptop, "#submit").await;
    assert_eq!(wait_path(&laptop, "/settings").await, "/settings");

    // A password change signs every other device out (the phone, signed in
    // again) and keeps the device that made it.
    phone.goto(&format!("{site}/login")).await.unwrap();
    submit_credentials(&phone, "ferris", "crab-password", false).await;
    assert_eq!(wait_path(&phone, "/").await, "/");
    fill(&laptop, "#new-password", "crab-password-2").await;
    click(&laptop, "#change").await;
    assert_eq!(
        wait_text(&laptop, ".flash.success").await.as_deref(),
        Some("Password changed; every other device is signed out")
    );
    phone.goto(&format!("{site}/devices")).await.unwrap();
    assert_eq!(
        wait_path(&phone, "/login?next=%2Fdevices").await,
        "/login?next=%2Fdevices"
    );
    laptop.goto(&site).await.unwrap();
    assert_eq!(text(&laptop, "#user").await.as_deref(), Some("ferris"));

    // "Sign out everywhere else", then log out.
    phone.goto(&format!("{site}/login")).await.unwrap();
    submit_credentials(&phone, "ferris", "crab-password-2", false).await;
    assert_eq!(wait_path(&phone, "/").await, "/");
    laptop.goto(&format!("{site}/devices")).await.unwrap();
    click(&laptop, "#revoke-others").await;
    wait_text(&laptop, ".flash.success").await;
    phone.goto(&format!("{site}/devices")).await.unwrap();
    assert_eq!(
        wait_path(&phone, "/login?next=%2Fdevices").await,
        "/login?next=%2Fdevices"
    );
    click(&laptop, "#logout").await;
    assert_eq!(
        wait_text(&laptop, ".flash.info").await.as_deref(),
        Some("Signed out")
    );
    assert_eq!(text(&laptop, "#user").await, None, "signed out");

    laptop.close().await.unwrap();
    phone.close().await.unwrap();
}
