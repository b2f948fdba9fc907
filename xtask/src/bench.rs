//! `cargo xtask bench`: runs every benchmark in release mode and writes their output,
//! with the machine and the command, to `docs/benchmarks.md`, each bench in its own
//! section; hand-written sections (the profiles) are kept.
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
    let path = root().join("docs/benchmarks.md");
    let mut sections = Sections::parse(&std::fs::read_to_string(&path).unwrap_or_default());
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
        let mut section = String::new();
        writeln!(
            section,
            "Command: `cargo bench -p {package} --bench {bench}`\n"
        )?;
        writeln!(section, "{}\n", stdout.trim())?;
        sections.replace(title, section);
    }
    let mut report = String::new();
    writeln!(report, "# Benchmarks\n")?;
    writeln!(
        report,
        "Written by `cargo xtask bench` (release builds; each section is one bench target's \
         output; `cargo xtask bench <target>` rewrites that target's section only, and \
         sections no bench writes, such as the profiles, are kept as they are). Re-run it on \
         the target machine kind before quoting numbers. On a shared two-core VM the \
         loopback figures move by tens of percent between runs; each comparison therefore \
         alternates its two sides.\n"
    )?;
    writeln!(report, "{}", machine())?;
    for (title, text) in &sections.0 {
        writeln!(report, "## {title}\n\n{}\n", text.trim())?;
    }
    std::fs::write(&path, report.trim_end().to_owned() + "\n")?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// The `## ` sections of docs/benchmarks.md, in order: (title, text below it).
struct Sections(Vec<(String, String)>);

impl Sections {
    fn parse(markdown: &str) -> Sections {
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in markdown.lines() {
            if let Some(title) = line.strip_prefix("## ") {
                sections.push((title.trim().to_owned(), String::new()));
            } else if let Some((_, text)) = sections.last_mut() {
                text.push_str(line);
                text.push('\n');
            }
        }
        Sections(sections)
    }

    /// Replaces the section titled `title`, or adds it before the sections no bench writes.
    fn replace(&mut self, title: &str, text: String) {
        if let Some(section) = self.0.iter_mut().find(|(t, _)| t == title) {
            section.1 = text;
            return;
        }
        let written_by_benches = |t: &str| BENCHES.iter().any(|(_, _, title)| *title == t);
        let at = self
            .0
            .iter()
            .rposition(|(t, _)| written_by_benches(t))
            .map_or(0, |i| i + 1);
        self.0.insert(at, (title.to_owned(), text));
    }
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
