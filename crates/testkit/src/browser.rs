//! A real browser for tests of the daemon's status page: Debian's `chromium`, headless,
//! driven by its command line only (`--dump-dom`, `--screenshot`), no WebDriver.
//!
//! `scripts/test-env.sh` installs `chromium`; [`chromium`] finds it, and a test calls
//! [`crate::skip`] when it is absent rather than passing. Each call gets a fresh profile
//! directory, runs in a process group of its own and is killed with all its children past
//! [`TIMEOUT`], so a hung browser fails the test instead of holding CI.
//!
//! Screenshots go to [`artifacts_dir`]: `$SWAB_TEST_ARTIFACTS` (which `scripts/test.sh` sets
//! and prints), else `test-artifacts/` in the cargo target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one browser call may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Which `prefers-color-scheme` the page sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `prefers-color-scheme: light`.
    Light,
    /// `prefers-color-scheme: dark`.
    Dark,
}

/// The browser's path, if one is installed (`/usr/bin/chromium`, or `chromium` on `PATH`).
pub fn chromium() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_owned());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    })
}

/// Where screenshots and other test output go, created if missing.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("SWAB_TEST_ARTIFACTS").map_or_else(
        || {
            // A test binary is target/<profile>/deps/<name>.
            let exe = std::env::current_exe().expect("cannot find the test binary");
            exe.ancestors()
                .nth(3)
                .expect("the test binary is not under a target dir")
                .join("test-artifacts")
        },
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("cannot create the test artifacts dir");
    dir
}

/// The DOM of `url` after its scripts ran, in a 1280 x 1600 window.
pub fn dump_dom(url: &str) -> String {
    dump_dom_after(url, 0)
}

/// [`dump_dom`] after `budget_ms` milliseconds of the page's (virtual) time, so the
/// requests and timers its scripts start at load can finish first.
pub fn dump_dom_after(url: &str, budget_ms: u32) -> String {
    let profile = Profile::new();
    let out = profile.0.join("dom.html");
    let budget = format!("--virtual-time-budget={budget_ms}");
    let mut args = vec!["--window-size=1280,1600"];
    if budget_ms > 0 {
        args.push(&budget);
    }
    args.extend(["--dump-dom", url]);
    run(&profile, &args, Some(&out));
    std::fs::read_to_string(&out).expect("cannot read the dumped DOM")
}

/// Headless chromium lays a page out at least [`MIN_WINDOW`] pixels wide whatever
/// `--window-size` says; narrower widths (phones) load the page in an iframe that wide.
pub const MIN_WINDOW: u32 = 500;

/// How wide the page at `url` is laid out in a viewport `width` pixels wide: its
/// `scrollWidth`, more than `width` when the page scrolls sideways. `url` must be a
/// `file://` URL (the measuring page reads the framed page's DOM, which needs one origin).
pub fn scroll_width(url: &str, width: u32) -> u32 {
    let profile = Profile::new();
    let frame = profile.0.join("frame.html");
    std::fs::write(
        &frame,
        format!(
            "<!doctype html><body style=\"margin:0\"><iframe src=\"{}\" \
             style=\"border:0;width:{width}px;height:800px\" onload=\"document.body.\
             setAttribute('data-scroll-width', this.contentDocument.documentElement.scrollWidth)\">\
             </iframe></body>",
            url.replace('"', "%22")
        ),
    )
    .expect("cannot write the measuring page");
    let out = profile.0.join("dom.html");
    let frame_url = format!("file://{}", frame.display());
    run(
        &profile,
        &["--allow-file-access-from-files", "--dump-dom", &frame_url],
        Some(&out),
    );
    let dom = std::fs::read_to_string(&out).expect("cannot read the dumped DOM");
    dom.split("data-scroll-width=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the page at {url} could not be measured: {dom}"))
}

/// Saves a screenshot of `url` as `<artifacts_dir>/<name>.png`, `width` x `height` pixels,
/// and returns its path. Widths under [`MIN_WINDOW`] frame the page in an iframe that wide.
pub fn screenshot(url: &str, name: &str, width: u32, height: u32, scheme: Scheme) -> PathBuf {
    let profile = Profile::new();
    let framed;
    let url = if width < MIN_WINDOW {
        let frame = profile.0.join("frame.html");
        std::fs::write(
            &frame,
            format!(
                "<!doctype html><body style=\"margin:0\"><iframe src=\"{}\" \
                 style=\"border:0;display:block;width:{width}px;height:{height}px\"></iframe></body>",
                url.replace('"', "%22")
            ),
        )
        .expect("cannot write the framing page");
        framed = format!("file://{}", frame.display());
        framed.as_str()
    } else {
        url
    };
    let path = artifacts_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    let shot = format!("--screenshot={}", path.display());
    let window = format!("--window-size={width},{height}");
    let mut args = vec![shot.as_str(), window.as_str(), "--hide-scrollbars"];
    if scheme == Scheme::Dark {
        args.push("--force-dark-mode");
        args.push("--blink-settings=preferredColorScheme=0");
    } else {
        args.push("--blink-settings=preferredColorScheme=1");
    }
    args.push(url);
    run(&profile, &args, None);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    assert!(
        size > 1000,
        "chromium wrote no screenshot at {}",
        path.display()
    );
    path
}

/// A fresh, throwaway browser profile directory.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Profile {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "swab-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a browser profile dir");
        Profile(dir)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs headless chromium with `args` (stdout into `stdout` if given), bounded by [`TIMEOUT`].
fn run(profile: &Profile, args: &[&str], stdout: Option<&Path>) {
    use std::os::unix::process::CommandExt as _;
    let program = chromium().expect("chromium is not installed (scripts/test-env.sh installs it)");
    let log = profile.0.join("stderr.log");
    let mut cmd = Command::new(&program);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!(
        "--user-data-dir={}",
        profile.0.join("profile").display()
    ))
    .args(args)
    .stdin(Stdio::null())
    .stderr(std::fs::File::create(&log).expect("cannot create the browser log"))
    .process_group(0);
    match stdout {
        Some(path) => cmd.stdout(std::fs::File::create(path).expect("cannot create the DOM file")),
        None => cmd.stdout(Stdio::null()),
    };
    let mut child = cmd.spawn().expect("cannot start chromium");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for chromium") {
            break status;
        }
        if Instant::now() >= deadline {
            let group = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.wait();
            panic!(
                "chromium {args:?} ran past {TIMEOUT:?} and was killed; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The renderer and helper processes of a finished browser; none should be left.
    let group = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}); its log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
