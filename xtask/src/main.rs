//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! A key design decision: `test` is the one command that runs every test, and it makes
//! sure what the tests need is there — the real PostgreSQL up (starting it if it is
//! down), Python's httpx, Chromium and chromedriver installed — failing with a clear
//! message rather than skipping anything.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

mod bench;
mod tidy;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci       formatting check, clippy with warnings denied, then every test
  test     every test of the workspace (starts PostgreSQL if it is down, installs
           httpx, chromium and chromium-driver if missing)
  bench    run the benchmarks in release mode and write docs/benchmarks.md
  openapi  write the OpenAPI document to docs/openapi.json
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("openapi") => openapi(),
        _ => {
            eprint!("{USAGE}");
            bail!("unknown or missing command")
        }
    }
}

fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])
        .context("code is not formatted: run `cargo fmt --all`")?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    test(&[])
}

fn test(extra: &[String]) -> Result<()> {
    ensure_postgres()?;
    ensure_python_packages()?;
    ensure_chromium()?;
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
}

fn openapi() -> Result<()> {
    let out = Command::new(cargo_bin())
        .args(["run", "--quiet", "-p", "scaisend-domains", "--", "openapi"])
        .current_dir(root())
        .output()
        .context("running scaisend-domains openapi")?;
    if !out.status.success() {
        bail!(
            "scaisend-domains openapi failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = root().join("docs/openapi.json");
    std::fs::write(&path, &out.stdout)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The tests need a real PostgreSQL. This machine kind runs one on 127.0.0.1:5432; if it
/// is down, start it the way the machine does, and fail loudly if that does not work.
fn ensure_postgres() -> Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let addr = postgres_addr(&url);
    if reachable(addr) {
        return Ok(());
    }
    eprintln!("xtask: PostgreSQL at {addr} is not reachable; trying to start it");
    if let Ok(versions) = std::fs::read_dir("/etc/postgresql") {
        for version in versions.flatten() {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect"])
                .arg(version.file_name())
                .args(["main", "start"])
                .status();
        }
    }
    for _ in 0..30 {
        if reachable(addr) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bail!(
        "PostgreSQL is not reachable at {addr} and could not be started.\n\
         The store tests need a real server: start one (e.g. `pg_ctlcluster --skip-systemctl-redirect 15 main start`)\n\
         or point DATABASE_URL at one (trust auth, a user that may create databases)."
    )
}

/// The Python packages the tests use: the module each is imported as, and the release
/// pip installs when it is missing. The tools whose checks or output the tests depend
/// on are pinned, so that a new release cannot change what the suite means.
const PYTHON_PACKAGES: [(&str, &str); 4] = [
    // The product page's Python example (crates/app/tests).
    ("httpx", "httpx"),
    // Validates docs/openapi.json against the OpenAPI 3.1 schema.
    ("openapi_spec_validator", "openapi-spec-validator==0.9.0"),
    // The schema-driven fuzzer run against the binary.
    ("schemathesis", "schemathesis==4.32.5"),
    // The client generated from the document that walks the product page.
    ("openapi_python_client", "openapi-python-client==0.29.1"),
];

/// Installs with `pip install --user` every package of [`PYTHON_PACKAGES`] that python3
/// cannot import in the pinned release, and fails with the command to run by hand if
/// that does not work.
fn ensure_python_packages() -> Result<()> {
    let installed = |module: &str, requirement: &str| {
        // `import` proves the module loads; the metadata check proves the pinned release.
        let check = match requirement.split_once("==") {
            Some((dist, version)) => format!(
                "import {module}, importlib.metadata as m; assert m.version({dist:?}) == {version:?}"
            ),
            None => format!("import {module}"),
        };
        Command::new("python3")
            .args(["-c", &check])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing = || -> Vec<&str> {
        PYTHON_PACKAGES
            .iter()
            .filter(|(module, requirement)| !installed(module, requirement))
            .map(|(_, requirement)| *requirement)
            .collect()
    };
    install_missing(
        "the tests",
        missing,
        |packages| {
            let _ = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--user"])
                .args(packages)
                .status();
        },
        |still| {
            format!(
                "the tests need these Python packages: `python3 -m pip install --user {}`",
                still.join(" ")
            )
        },
    )
}

/// The console's browser tests drive Debian's Chromium through its chromedriver. Both
/// work offline; install them the way Debian does when they are missing.
fn ensure_chromium() -> Result<()> {
    const NEEDED: [(&str, &str); 2] = [
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
    ];
    let missing = || {
        NEEDED
            .iter()
            .filter(|(path, _)| !Path::new(path).exists())
            .map(|(_, package)| *package)
            .collect::<Vec<_>>()
    };
    let apt_install = |packages: &[&str]| {
        Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    install_missing(
        "the console's browser tests",
        missing,
        |packages| {
            // A fresh machine's package lists may be empty or stale: update them once if
            // the first attempt fails.
            if !apt_install(packages) {
                let _ = Command::new("apt-get").args(["update", "-q"]).status();
                apt_install(packages);
            }
        },
        |still| {
            format!(
                "the console's browser tests need Debian's {}: `apt-get install {}`",
                still.join(" and "),
                still.join(" ")
            )
        },
    )
}

/// Installs what `missing` lists, if anything, with `install`, announcing it as being for
/// `purpose`; fails with `advice` on what is missing still.
fn install_missing<'a>(
    purpose: &str,
    missing: impl Fn() -> Vec<&'a str>,
    install: impl FnOnce(&[&'a str]),
    advice: impl FnOnce(&[&'a str]) -> String,
) -> Result<()> {
    let packages = missing();
    if packages.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} for {purpose}", packages.join(", "));
    install(&packages);
    let still = missing();
    if still.is_empty() {
        return Ok(());
    }
    bail!(advice(&still))
}

fn postgres_addr(url: &str) -> SocketAddr {
    // postgres://user[:pass]@host[:port]/db — only host and port matter here.
    let after_at = url.rsplit_once('@').map(|(_, h)| h).unwrap_or(url);
    let host_port = after_at
        .split(['/', '?'])
        .next()
        .unwrap_or("127.0.0.1:5432");
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let with_port = with_port.replace("localhost", "127.0.0.1");
    with_port
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5432)))
}

fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(cargo_bin())
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The workspace root (the parent of `xtask/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
