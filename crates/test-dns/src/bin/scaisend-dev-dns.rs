//! `scaisend-dev-dns`: the test DNS server as a program, for trying verification on a
//! laptop without a real domain. It serves the records of a JSON file — the service's
//! own `dns-records` (or domain) response, or an array of them — and reloads the file
//! when it changes, so "publishing" a record is saving what the API returned.
//!
//! ```text
//! scaisend-dev-dns [--listen-port 5300] [--records dev-dns.json]
//!                  [--include-host scaisend.scailabs.ai] [--sending-ip 192.0.2.10]
//!                  [--delegate dkim.scaisend.scailabs.ai=127.0.0.1:5353]
//! ```
//!
//! TXT, CNAME and MX rows are served as their types. `--delegate ZONE=ADDR` answers every
//! name in ZONE by asking the DNS server at ADDR (a loopback address), as a resolver
//! following the zone's delegation would: point it at `scaisend-domains serve`'s
//! `SCAISEND_DNS_LISTEN` and a CNAME-mode domain's CNAMEs lead to the keys the service
//! serves.
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
    delegations: Vec<(String, std::net::SocketAddr)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 5300,
        records: PathBuf::from("dev-dns.json"),
        include_host: "scaisend.scailabs.ai".to_owned(),
        sending_ip: "192.0.2.10".to_owned(),
        delegations: Vec::new(),
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
            "--delegate" => {
                let spec = value()?;
                let (zone, addr) = spec
                    .split_once('=')
                    .ok_or("--delegate takes ZONE=IP:PORT")?;
                let addr = addr
                    .parse()
                    .map_err(|_| format!("--delegate: `{addr}` is not IP:PORT"))?;
                args.delegations.push((zone.to_owned(), addr));
            }
            "-h" | "--help" => {
                return Err("usage: scaisend-dev-dns [--listen-port 5300] [--records dev-dns.json] [--include-host scaisend.scailabs.ai] [--sending-ip 192.0.2.10] [--delegate ZONE=IP:PORT]".to_owned());
            }
            other => return Err(format!("unknown argument `{other}`; see --help")),
        }
    }
    Ok(args)
}

/// The records of every `dns_records` row to publish in `json` (name, record).
fn records_in(json: &serde_json::Value) -> Vec<(String, Record)> {
    let docs: Vec<&serde_json::Value> = match json {
        serde_json::Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    docs.iter()
        .filter_map(|d| d.get("dns_records").and_then(|r| r.as_array()))
        .flatten()
        .filter(|r| r.get("action").and_then(|a| a.as_str()) != Some("remove"))
        .filter_map(|r| {
            let host = r.get("host")?.as_str()?.to_owned();
            let value = r.get("value")?.as_str()?;
            let record = match r.get("type").and_then(|t| t.as_str()) {
                Some("CNAME") => Record::Cname(value.to_owned()),
                Some("MX") => {
                    let priority = r.get("priority").and_then(|p| p.as_u64()).unwrap_or(10);
                    Record::mx(u16::try_from(priority).ok()?, value)
                }
                _ => Record::txt(value),
            };
            Some((host, record))
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
    for (zone, addr) in &args.delegations {
        if let Err(e) = dns.delegate(zone, *addr) {
            eprintln!("--delegate {zone}: {e}");
            std::process::exit(2);
        }
    }
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
                for kind in [RecordKind::Txt, RecordKind::Cname, RecordKind::Mx] {
                    let _ = dns.delete(&name, kind);
                }
            }
            let records = json.as_ref().map(records_in).unwrap_or_default();
            for (host, record) in &records {
                match dns.publish(host, record.clone()) {
                    Ok(()) => {
                        published.insert(host.clone());
                    }
                    Err(e) => eprintln!("skipping {host}: {e}"),
                }
            }
            eprintln!("scaisend-dev-dns: {} records published", records.len());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
