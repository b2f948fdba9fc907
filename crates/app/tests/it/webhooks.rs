//! Webhooks survive a crash: the service is killed (SIGKILL) between a failed delivery
//! and its retry, started again on the same store, and the event still arrives.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, run};

/// What the receiver got: each request's `webhook-id` and the status it answered.
type Log = Arc<Mutex<Vec<(String, u16)>>>;

/// A receiver on loopback answering `script` in order, then 200; one request per
/// connection.
fn receiver(script: Vec<u16>) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut id, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("webhook-id:") {
                    id = v.trim().to_owned();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let status = script.next().unwrap_or(200);
            seen.lock().unwrap().push((id, status));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, log)
}

fn wait_for(log: &Log, what: &str, done: impl Fn(&[(String, u16)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if done(&log.lock().unwrap()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: the receiver got {:?}", log.lock().unwrap());
}

#[test]
fn an_event_whose_retry_is_pending_is_delivered_after_a_crash_and_restart() {
    let (url, log) = receiver(vec![500]);
    let env: Vec<(String, String)> = [
        ("SCAISEND_WEBHOOK_ALLOW_HTTP", "true"),
        ("SCAISEND_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("SCAISEND_WEBHOOK_RETRY_BASE", "2s"),
        ("SCAISEND_WEBHOOK_POLL_INTERVAL", "100ms"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = Server::start(None, &pairs);
    let admin = server.admin();
    let registered = run(
        "curl",
        &[
            "-s",
            "-X",
            "POST",
            &format!("{}/api/admin/webhooks", server.base),
            "-H",
            &format!("Authorization: Bearer {admin}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            &serde_json::json!({"url": url, "events": ["domain.created"]}).to_string(),
        ],
        &admin,
        server.path(),
    );
    let webhook: Value = serde_json::from_str(&registered).expect("JSON");
    let webhook_id = webhook["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"));
    server.create(&admin, "mail.example.com");

    // The first attempt fails; the retry is due two seconds later. Crash before it.
    wait_for(&log, "a first attempt", |got| !got.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    server.crash_and_restart(&env);

    wait_for(&log, "the retry after the restart", |got| {
        got.iter().any(|(_, status)| *status == 200)
    });
    let got = log.lock().unwrap().clone();
    assert_eq!(got[0].1, 500);
    assert!(
        got.iter().all(|(id, _)| *id == got[0].0),
        "one event, redelivered under its id: {got:?}"
    );
    assert_eq!(
        got.iter().filter(|(_, status)| *status == 200).count(),
        1,
        "delivered once it succeeded: {got:?}"
    );
    let deliveries = run(
        "curl",
        &[
            "-s",
            &format!("{}/api/admin/webhooks/{webhook_id}/deliveries", server.base),
            "-H",
            &format!("Authorization: Bearer {admin}"),
        ],
        &admin,
        server.path(),
    );
    let deliveries: Value = serde_json::from_str(&deliveries).expect("JSON");
    let mut statuses: Vec<u64> = deliveries["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{deliveries}"))
        .iter()
        .filter_map(|d| d["status"].as_u64())
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 500],
        "the log shows the failure and the success: {deliveries}"
    );
}
