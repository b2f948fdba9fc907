//! `scaisend-dev-dns`: the test DNS server as a program, for trying verification on a
//! laptop without a real domain. It serves the records of a JSON file — the service's
//! own `dns-records` (or domain) response, or an array of them — and reloads the file
//! when it changes, so "publishing" a record is saving what the API returned.
//!
//! ```text
//! scaisend-dev-dns [--listen-port 5300] [--records dev-dns.json]
//!                  [--include-host scaisend.scailabs.ai] [--sending-ip 192.0.2.10]
//! ```
//!
//! It also serves the include host's own SPF record (`v=spf1 ip4:<sending ip> -all`), so
//! that SPF can be evaluated the way a receiver would.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use test_dns::{Options, Record, RecordKind, TestDns};

struct Args {
    port: u16,
    records: PathBuf,
    include_host: String,
    sending_ip: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 5300,
        records: PathBuf::from("dev-dns.json"),
        include_host: "scaisend.scailabs.ai".to_owned(),
        sending_ip: "192.0.2.10".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen-port" => {
                args.port = value()?
                    .parse()
                    .map_err(|_| "--listen-port takes a port number")?
            }
            "--records" => args.records = PathBuf::from(value()?),
            "--include-host" => args.include_host = value()?,
            "--sending-ip" => args.sending_ip = value()?,
            "-h" | "--help" => {
                return Err("usage: scaisend-dev-dns [--listen-port 5300] [--records dev-dns.json] [--include-host scaisend.scailabs.ai] [--sending-ip 192.0.2.10]".to_owned());
            }
            other => return Err(format!("unknown argument `{other}`; see --help")),
        }
    }
    Ok(args)
}

/// The TXT records of every `dns_records` row to publish in `json` (name, value).
fn records_in(json: &serde_json::Value) -> Vec<(String, String)> {
    let docs: Vec<&serde_json::Value> = match json {
        serde_json::Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    docs.iter()
        .filter_map(|d| d.get("dns_records").and_then(|r| r.as_array()))
        .flatten()
        .filter(|r| r.get("action").and_then(|a| a.as_str()) != Some("remove"))
        .filter_map(|r| {
            Some((
                r.get("host")?.as_str()?.to_owned(),
                r.get("value")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let dns = match TestDns::start_with(Options {
        port: args.port,
        ..Options::default()
    })
    .await
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", args.port);
            std::process::exit(1);
        }
    };
    let include = format!("v=spf1 ip4:{} -all", args.sending_ip);
    if let Err(e) = dns.publish(&args.include_host, Record::txt(&include)) {
        eprintln!("--include-host: {e}");
        std::process::exit(2);
    }
    eprintln!(
        "scaisend-dev-dns: serving {} on {} (UDP and TCP); {} has `{include}`",
        args.records.display(),
        dns.addr(),
        args.include_host
    );
    let mut seen: Option<SystemTime> = None;
    let mut published: BTreeSet<String> = BTreeSet::new();
    loop {
        let modified = std::fs::metadata(&args.records)
            .and_then(|m| m.modified())
            .ok();
        if modified != seen {
            seen = modified;
            let json = std::fs::read(&args.records)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            for name in std::mem::take(&mut published) {
                let _ = dns.delete(&name, RecordKind::Txt);
            }
            let records = json.as_ref().map(records_in).unwrap_or_default();
            for (host, value) in &records {
                match dns.publish(host, Record::txt(value)) {
                    Ok(()) => {
                        published.insert(host.clone());
                    }
                    Err(e) => eprintln!("skipping {host}: {e}"),
                }
            }
            eprintln!("scaisend-dev-dns: {} TXT records published", records.len());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
