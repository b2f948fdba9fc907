//! DKIM signing throughput on one core: `DkimSigner::sign` on a ~2 KB message with a
//! 2048-bit key, against `openssl speed -seconds 3 rsa2048`'s sign/s measured in the
//! same run. The RSA private-key operation dominates both, so the ratio shows what
//! parsing, canonicalization, hashing and folding add on top of raw RSA; a row for
//! aws-lc-rs's bare RSA signature separates our overhead from AWS-LC's speed.
//!
//! "Per core" is counted as OpenSSL counts it: `openssl speed` divides by the CPU time
//! its process used (user time, unless `-elapsed`), not by wall-clock time, so time
//! spent waiting for a core that other processes hold does not count. We divide by our
//! thread's CPU time (`/proc/thread-self/schedstat`: user and system time, the stricter
//! measure) and show the wall-clock rate beside it. Each run signs for about a second;
//! the median of several runs is reported, and our runs are split around OpenSSL's so
//! that both see the same background load.
//!
//! Dual signing (RFC 8463 §4: RSA and Ed25519, one `DKIM-Signature` each, from one
//! `sign_all` that parses, canonicalizes and hashes the body once) is measured beside
//! RSA alone in the same alternation, and the extra cost per message is reported as a
//! percentage of the RSA-only time.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use domain_core::crypto::{KeyAlgorithm, generate};
use domain_core::{DkimSigner, DomainName, Selector, sign_all};
use time::OffsetDateTime;

const RUNS_EACH_SIDE: usize = 4;
const RUN_TIME: Duration = Duration::from_secs(1);

fn main() {
    let key = generate(KeyAlgorithm::default()).expect("key generation");
    let domain = DomainName::parse("mail.example.com").expect("domain");
    let selector = Selector::parse("scaisend").expect("selector");
    let signer = DkimSigner::new(&key.private, &domain, &selector).expect("signer");
    let message = message();
    let now = OffsetDateTime::now_utc();
    let sign_message = || {
        black_box(signer.sign(black_box(&message), now).expect("sign"));
    };
    let ed_key = generate(KeyAlgorithm::Ed25519).expect("Ed25519 key generation");
    let ed_selector = Selector::parse("scaisend-ed25519").expect("selector");
    let ed_signer = DkimSigner::new(&ed_key.private, &domain, &ed_selector).expect("signer");
    let sign_dual = || {
        black_box(sign_all(&[&signer, &ed_signer], black_box(&message), now).expect("sign"));
    };
    let sign_ed25519 = || {
        black_box(ed_signer.sign(black_box(&message), now).expect("sign"));
    };

    let raw_key = KeyPair::generate(KeySize::Rsa2048).expect("aws-lc key generation");
    let rng = SystemRandom::new();
    let mut raw_signature = vec![0u8; raw_key.public_modulus_len()];
    let mut sign_raw = || {
        raw_key
            .sign(
                &RSA_PKCS1_SHA256,
                &rng,
                black_box(&[7u8; 32]),
                &mut raw_signature,
            )
            .expect("aws-lc sign");
        black_box(&raw_signature);
    };

    // Warm up caches, the allocator and the CPU's clock.
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_millis(300) {
        sign_message();
    }

    let mut ours = Vec::new();
    let mut dual = Vec::new();
    let mut ed25519 = Vec::new();
    let mut raw = Vec::new();
    let mut round = || {
        ours.push(run(sign_message));
        dual.push(run(sign_dual));
        ed25519.push(run(sign_ed25519));
        raw.push(run(&mut sign_raw));
    };
    for _ in 0..RUNS_EACH_SIDE {
        round();
    }
    let openssl = openssl_sign_rate();
    for _ in 0..RUNS_EACH_SIDE {
        round();
    }
    let ours = Summary::of(&ours);
    let dual = Summary::of(&dual);
    let ed25519 = Summary::of(&ed25519);
    let raw = Summary::of(&raw);

    println!(
        "One core, RSA-2048, a {} byte message; median of {} runs of ~{} s each \
         (range in brackets).\n",
        message.len(),
        2 * RUNS_EACH_SIDE,
        RUN_TIME.as_secs()
    );
    println!("| signer | signatures per CPU-second | µs of CPU each | per wall-clock second |");
    println!("|---|---:|---:|---:|");
    println!(
        "| `DkimSigner::sign`, whole message (aws-lc-rs) | {} | {:.0} | {:.0} |",
        ours.cpu_with_range(),
        1e6 / ours.per_cpu_second,
        ours.per_wall_second
    );
    println!(
        "| `sign_all`, RSA-2048 + Ed25519 (two signatures) | {} | {:.0} | {:.0} |",
        dual.cpu_with_range(),
        1e6 / dual.per_cpu_second,
        dual.per_wall_second
    );
    println!(
        "| `DkimSigner::sign`, Ed25519 alone | {} | {:.0} | {:.0} |",
        ed25519.cpu_with_range(),
        1e6 / ed25519.per_cpu_second,
        ed25519.per_wall_second
    );
    println!(
        "| aws-lc-rs RSA sign of 32 bytes alone | {} | {:.0} | {:.0} |",
        raw.cpu_with_range(),
        1e6 / raw.per_cpu_second,
        raw.per_wall_second
    );
    match openssl {
        Ok(rate) => {
            println!(
                "| `openssl speed -seconds 3 rsa2048`, RSA sign alone | {rate:.0} | {:.0} | — |",
                1e6 / rate
            );
            println!(
                "\nRatio `DkimSigner::sign` / OpenSSL: **{:.2}×** (goal ≥ 0.80×); \
                 `DkimSigner::sign` / bare aws-lc-rs RSA: {:.2}×.",
                ours.per_cpu_second / rate,
                ours.per_cpu_second / raw.per_cpu_second
            );
        }
        Err(why) => println!("\nOpenSSL was not measured: {why}."),
    }
    // Time per message, from the medians: what the Ed25519 signature adds to RSA's.
    let added = (1.0 / dual.per_cpu_second - 1.0 / ours.per_cpu_second) * ours.per_cpu_second;
    println!(
        "\nDual signing (RSA + Ed25519) vs RSA alone: **{:+.1} %** CPU time per message \
         (goal < 10 %); {:.0} vs {:.0} µs.",
        100.0 * added,
        1e6 / dual.per_cpu_second,
        1e6 / ours.per_cpu_second
    );
}

/// One run's rates.
#[derive(Debug, Clone, Copy)]
struct Rates {
    per_cpu_second: f64,
    per_wall_second: f64,
}

/// Medians over runs, with the range of the CPU-time rate.
struct Summary {
    per_cpu_second: f64,
    per_wall_second: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(runs: &[Rates]) -> Self {
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.per_cpu_second).collect();
        let mut wall: Vec<f64> = runs.iter().map(|r| r.per_wall_second).collect();
        Summary {
            min: cpu.iter().copied().fold(f64::INFINITY, f64::min),
            max: cpu.iter().copied().fold(0.0, f64::max),
            per_cpu_second: median(&mut cpu),
            per_wall_second: median(&mut wall),
        }
    }

    fn cpu_with_range(&self) -> String {
        format!(
            "{:.0} ({:.0}–{:.0})",
            self.per_cpu_second, self.min, self.max
        )
    }
}

/// Calls `op` for [`RUN_TIME`] of wall-clock time.
fn run(mut op: impl FnMut()) -> Rates {
    let start = Instant::now();
    let cpu_start = thread_cpu_time();
    let mut count = 0u32;
    while start.elapsed() < RUN_TIME {
        for _ in 0..16 {
            op();
        }
        count += 16;
    }
    let wall = start.elapsed();
    let cpu = match (cpu_start, thread_cpu_time()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    Rates {
        per_cpu_second: f64::from(count) / cpu.as_secs_f64(),
        per_wall_second: f64::from(count) / wall.as_secs_f64(),
    }
}

/// The CPU time this thread has used (Linux: the first field of
/// `/proc/thread-self/schedstat`, in nanoseconds); `None` elsewhere, and the runs fall
/// back to wall-clock time.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Runs `openssl speed -seconds 3 rsa2048` and reads the `sign/s` column of its table,
/// which OpenSSL 3 prints as a header line naming the columns and one line per key size
/// (`rsa 2048 bits 0.000270s … 3699.1 …`; 3.2 and later add encrypt/decrypt columns).
fn openssl_sign_rate() -> Result<f64, String> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .map_err(|e| format!("cannot run `openssl`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`openssl speed` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_openssl_speed(&text).ok_or_else(|| format!("cannot read its output:\n{text}"))
}

fn parse_openssl_speed(text: &str) -> Option<f64> {
    let header: Vec<&str> = text
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == "sign/s"))?
        .split_whitespace()
        .collect();
    let column = header.iter().position(|w| *w == "sign/s")?;
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?
        .split_whitespace()
        .collect();
    // The row starts with `rsa 2048 bits`, then one value per header column.
    let bits = row.iter().position(|w| *w == "bits")?;
    row.get(bits + 1 + column)?.parse().ok()
}

/// A typical ~2 KB transactional message: a dozen header fields and a text body.
fn message() -> Vec<u8> {
    let mut m = String::from(
        "From: Example Billing <billing@mail.example.com>\r\n\
         To: Jane Doe <jane.doe@example.org>\r\n\
         Reply-To: support@example.com\r\n\
         Subject: Your invoice INV-2026-0042 is ready\r\n\
         Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <01J9ZQ8D6Y2X4V7W0K3M5N8P1R@mail.example.com>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         List-Unsubscribe: <https://example.com/u/01J9ZQ8D6Y2X4V7W0K3M5N8P1R>,\r\n\
         \x20<mailto:unsubscribe@example.com?subject=01J9ZQ8D6Y2X4V7W0K3M5N8P1R>\r\n\
         List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
         \r\n\
         Hello Jane,\r\n\r\n",
    );
    let line = "Your invoice for November is attached; the amount due is 42.00 EUR.  \r\n";
    while m.len() < 2000 {
        m.push_str(line);
    }
    m.push_str("\r\nThank you,\r\nExample Billing\r\n");
    m.into_bytes()
}
