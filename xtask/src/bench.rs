//! `cargo xtask bench`: runs every benchmark in release mode and writes their output,
//! with the machine and the command, to `docs/benchmarks.md`.
//!
//! Benchmarks are `harness = false` bench targets that print markdown; speed targets
//! live here, never in timed unit tests.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo_bin, root};

/// (package, bench target, section title)
const BENCHES: &[(&str, &str, &str)] = &[
    ("domain-core", "spf", "SPF check_host (in-memory DNS)"),
    (
        "adapter-dns",
        "dns",
        "DNS lookups and verification against a loopback server",
    ),
    ("domain-core", "sign", "DKIM signing"),
    (
        "scaisend-domains",
        "http",
        "The hot paths over HTTP, side by side with their references",
    ),
];

pub fn run(filter: &[String]) -> Result<()> {
    let mut report = String::new();
    writeln!(report, "# Benchmarks\n")?;
    writeln!(
        report,
        "Written by `cargo xtask bench` (release builds; each section is one bench target's \
         output). Re-run it on the target machine kind before quoting numbers. On a shared \
         two-core VM the loopback DNS figures move by tens of percent between runs; each \
         comparison therefore alternates its two sides.\n"
    )?;
    writeln!(report, "{}", machine())?;
    for (package, bench, title) in BENCHES {
        if !filter.is_empty() && !filter.iter().any(|f| f == bench || f == package) {
            continue;
        }
        eprintln!("xtask: cargo bench -p {package} --bench {bench}");
        let out = Command::new(cargo_bin())
            .args(["bench", "--quiet", "-p", package, "--bench", bench])
            .current_dir(root())
            .output()
            .with_context(|| format!("running bench {package}/{bench}"))?;
        if !out.status.success() {
            bail!(
                "bench {package}/{bench} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        writeln!(report, "## {title}\n")?;
        writeln!(
            report,
            "Command: `cargo bench -p {package} --bench {bench}`\n"
        )?;
        writeln!(report, "{}\n", stdout.trim())?;
    }
    let path = root().join("docs/benchmarks.md");
    std::fs::write(&path, report)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} cores, {mem_gib} GiB RAM; {rustc}; measured {date}.\n\
         Command: `cargo xtask bench`\n"
    )
}
