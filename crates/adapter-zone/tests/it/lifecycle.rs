//! Starting, swapping snapshots while serving, bounding TCP, and stopping.

use adapter_zone::{ZoneError, ZoneLimits, ZoneServer};
use domain_core::ports::NoObserver;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{RData, RecordType};

use crate::*;

fn serial_of(answer: &Message) -> u32 {
    match &answer.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not SOA: {other:?}"),
    }
}

#[tokio::test]
async fn a_snapshot_swapped_while_serving_answers_the_next_query() {
    let zone = Running::serving(snapshot(1, &[])).await;
    let socket = client(Ipv4Addr::LOCALHOST).await;
    let (answer, _) = exchange_udp(&socket, zone.addr(), &query(SLOT, RecordType::TXT)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);

    let old = zone
        .cell
        .replace(snapshot(2, &[(SLOT, "v=DKIM1; k=rsa; p=NEW")]));
    assert_eq!(old.serial(), 1);

    let (answer, _) = exchange_udp(&socket, zone.addr(), &query(SLOT, RecordType::TXT)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 1);
    let soa = tcp(zone.addr(), &query(APEX, RecordType::SOA)).await;
    assert_eq!(serial_of(&soa), 2);

    // And back: a key removed from the snapshot is gone from the next answer.
    zone.cell.replace(snapshot(3, &[]));
    let (answer, _) = exchange_udp(&socket, zone.addr(), &query(SLOT, RecordType::TXT)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_and_idle_ones_time_out() {
    let limits = ZoneLimits {
        tcp_connections: 2,
        tcp_idle_timeout: Duration::from_millis(300),
        ..ZoneLimits::default()
    };
    let zone = Running::start(snapshot(1, &[]), limits).await;

    // Two connections in use, each having asked once.
    let mut first = TcpStream::connect(zone.addr()).await.expect("connected");
    let mut second = TcpStream::connect(zone.addr()).await.expect("connected");
    for stream in [&mut first, &mut second] {
        send_tcp(stream, &query(APEX, RecordType::SOA)).await;
        receive_tcp(stream).await;
    }
    // A third is accepted and closed at once, without an answer.
    let mut third = TcpStream::connect(zone.addr()).await.expect("connected");
    send_tcp(&mut third, &query(APEX, RecordType::SOA)).await;
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(PATIENCE, third.read(&mut byte))
        .await
        .expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");

    // Silent connections are closed after the idle timeout, which frees their places.
    for stream in [&mut first, &mut second] {
        let closed = tokio::time::timeout(PATIENCE, stream.read(&mut byte))
            .await
            .expect("closed in time");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
    // The server drops a closed connection's place when its task ends, just after.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut stream = TcpStream::connect(zone.addr()).await.expect("connected");
        send_tcp(&mut stream, &query(APEX, RecordType::SOA)).await;
        let mut length = [0u8; 2];
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut length)).await
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no place freed");
    }
}

#[tokio::test]
async fn one_connection_answers_several_queries_in_order() {
    let zone = Running::serving(snapshot(7, &[(SLOT, "v=DKIM1; p=AAAA")])).await;
    let mut stream = TcpStream::connect(zone.addr()).await.expect("connected");
    let mut first = query(APEX, RecordType::SOA);
    first.metadata.id = 1;
    let mut second = query(SLOT, RecordType::TXT);
    second.metadata.id = 2;
    // Pipelined: both sent before either answer is read (RFC 7766 §6.2.1.1).
    send_tcp(&mut stream, &first).await;
    send_tcp(&mut stream, &second).await;
    let a = receive_tcp(&mut stream).await;
    let b = receive_tcp(&mut stream).await;
    assert_eq!((a.metadata.id, serial_of(&a)), (1, 7));
    assert_eq!((b.metadata.id, b.answers.len()), (2, 1));
}

#[tokio::test]
async fn shutdown_closes_both_sockets_even_with_a_connection_open() {
    let zone = Running::serving(snapshot(1, &[])).await;
    let addr = zone.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "port 0 picked a port");
    udp(addr, &query(APEX, RecordType::SOA)).await;
    let mut idle = TcpStream::connect(addr).await.expect("connected");
    send_tcp(&mut idle, &query(APEX, RecordType::SOA)).await;
    receive_tcp(&mut idle).await;

    assert!(
        zone.server.shutdown(PATIENCE).await,
        "stopped within the grace"
    );

    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(PATIENCE, idle.read(&mut byte))
        .await
        .expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    // The UDP port is free again: the socket is closed.
    UdpSocket::bind(addr).await.expect("the UDP port is free");
}

#[tokio::test]
async fn bind_names_what_is_wrong() {
    let cell = ZoneCell::new(snapshot(1, &[]));
    let limits = ZoneLimits {
        tcp_connections: 0,
        ..ZoneLimits::default()
    };
    let error = ZoneServer::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cell.clone(),
        limits,
        Arc::new(NoObserver),
    )
    .await
    .expect_err("bad limits");
    assert!(matches!(error, ZoneError::Limits(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "zone server limits: the number of TCP connections must be at least 1"
    );

    let taken = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bound");
    let addr = taken.local_addr().expect("an address");
    let error = ZoneServer::bind(addr, cell, ZoneLimits::default(), Arc::new(NoObserver))
        .await
        .expect_err("the port is taken");
    assert!(matches!(error, ZoneError::Bind { .. }), "{error}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

/// Bytes that look random and are the same on every run (xorshift).
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn garbage_over_udp_and_tcp_leaves_the_server_answering() {
    let zone = Running::serving(snapshot(1, &[])).await;
    let socket = client(Ipv4Addr::LOCALHOST).await;
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for len in (0..400).step_by(3) {
        let mut bytes = noise(&mut seed, len);
        // Half of them with a plausible header: a query with one question.
        if len >= 12 && len % 2 == 0 {
            bytes[2] &= 0x07;
            bytes[4..6].copy_from_slice(&[0, 1]);
        }
        socket.send_to(&bytes, zone.addr()).await.expect("sent");
        let mut stream = TcpStream::connect(zone.addr()).await.expect("connected");
        let length = u16::try_from(bytes.len()).expect("small");
        let _ = stream
            .write_all(&[&length.to_be_bytes()[..], &bytes].concat())
            .await;
    }
    // A length prefix promising more than ever comes, then silence: only this
    // connection waits, for its idle timeout.
    let mut stalled = TcpStream::connect(zone.addr()).await.expect("connected");
    stalled
        .write_all(&[0xff, 0xff, 1, 2])
        .await
        .expect("written");

    let answer = tcp(zone.addr(), &query(APEX, RecordType::SOA)).await;
    assert_eq!(answer.answers.len(), 1);
    let answer = udp(zone.addr(), &query(APEX, RecordType::SOA)).await;
    assert_eq!(answer.answers.len(), 1);
}
