//! The per-subnet response rate limit, with clients on different loopback subnets.

use std::time::Instant;

use adapter_zone::ZoneLimits;
use hickory_server::proto::op::Message;
use hickory_server::proto::rr::RecordType;

use crate::*;

const FLOOD: u16 = 60;

/// Sends `FLOOD` queries from `flood` and then one from `other`, whose answer arrives
/// after the server has dealt with every query of the flood (one socket, answered in
/// order); returns what the flooding client received.
async fn flood_then_ask(zone: &Running, flood: &UdpSocket, other: &UdpSocket) -> Vec<Message> {
    for id in 0..FLOOD {
        let mut message = query(SLOT, RecordType::TXT);
        message.metadata.id = id;
        flood
            .send_to(&message.to_vec().expect("encodable"), zone.addr())
            .await
            .expect("sent");
    }
    let (answer, _) = exchange_udp(other, zone.addr(), &query(SLOT, RecordType::TXT)).await;
    assert_eq!(answer.answers.len(), 1, "the other subnet is answered");

    let mut received = Vec::new();
    let mut buffer = vec![0u8; 65_535];
    while let Ok(Ok(len)) =
        tokio::time::timeout(Duration::from_millis(200), flood.recv(&mut buffer)).await
    {
        received.push(Message::from_vec(&buffer[..len]).expect("a readable answer"));
    }
    received
}

/// A server limited by `limits` and flooded from `flood` while `other` asks once (see
/// [`flood_then_ask`]): the server, what the flood received, and when the flood began.
async fn flooded(
    limits: ZoneLimits,
    flood: Ipv4Addr,
    other: Ipv4Addr,
) -> (Running, Vec<Message>, Instant) {
    let zone = Running::start(snapshot(1, &[(SLOT, "v=DKIM1; p=AAAA")]), limits).await;
    let (flood, other) = (client(flood).await, client(other).await);
    let started = Instant::now();
    let received = flood_then_ask(&zone, &flood, &other).await;
    (zone, received, started)
}

/// The most answers a bucket of `burst` refilling at `rate` a second can give since
/// `started` (one more for the refill under way).
fn most_answers(burst: u32, rate: u32, started: Instant) -> usize {
    let refilled = started.elapsed().as_secs_f64() * f64::from(rate);
    burst as usize + refilled.ceil() as usize + 1
}

#[tokio::test]
async fn a_flood_from_one_subnet_is_dropped_while_another_subnet_is_answered() {
    let limits = ZoneLimits {
        rate: 1,
        burst: 5,
        slip: 0,
        ..ZoneLimits::default()
    };
    let (zone, received, started) = flooded(
        limits,
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 0, 1, 2),
    )
    .await;

    assert!(
        received.len() >= 5,
        "the burst is answered: {}",
        received.len()
    );
    assert!(
        received.len() <= most_answers(5, 1, started),
        "{} answers to a flood of {FLOOD}",
        received.len()
    );
    assert!(received.iter().all(|m| m.answers.len() == 1));
    let dropped = usize::from(FLOOD) - received.len();
    assert_eq!(zone.counted("DROPPED"), dropped as u64);
    assert_eq!(zone.counted("NOERROR"), received.len() as u64 + 1);
}

#[tokio::test]
async fn withheld_answers_slip_out_truncated_and_tcp_still_answers_in_full() {
    let limits = ZoneLimits {
        rate: 1,
        burst: 3,
        slip: 1,
        ..ZoneLimits::default()
    };
    let (zone, received, started) = flooded(
        limits,
        Ipv4Addr::new(127, 0, 0, 3),
        Ipv4Addr::new(127, 0, 2, 3),
    )
    .await;

    // With slip 1 every withheld answer is replaced by a truncated reply.
    assert_eq!(received.len(), usize::from(FLOOD));
    let (full, slipped): (Vec<&Message>, Vec<&Message>) =
        received.iter().partition(|m| !m.metadata.truncation);
    assert!(full.len() >= 3 && full.len() <= most_answers(3, 1, started));
    assert!(full.iter().all(|m| m.answers.len() == 1));
    assert!(
        slipped
            .iter()
            .all(|m| m.answers.is_empty() && m.authorities.is_empty() && m.queries.len() == 1),
        "a slipped reply holds the question only"
    );
    assert_eq!(zone.counted("DROPPED"), slipped.len() as u64);

    // TCP cannot be forged and is not limited: the flooded subnet's resolver gets its
    // answers there.
    for _ in 0..10 {
        let answer = tcp(zone.addr(), &query(SLOT, RecordType::TXT)).await;
        assert_eq!(answer.answers.len(), 1);
    }
}

#[tokio::test]
async fn with_the_limit_off_a_flood_is_answered_in_full() {
    let limits = ZoneLimits {
        rate: 0,
        ..ZoneLimits::default()
    };
    let (zone, received, _) = flooded(
        limits,
        Ipv4Addr::new(127, 0, 0, 4),
        Ipv4Addr::new(127, 0, 3, 4),
    )
    .await;

    assert_eq!(received.len(), usize::from(FLOOD));
    assert_eq!(zone.counted("DROPPED"), 0);
}
