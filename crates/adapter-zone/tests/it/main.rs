//! The zone server over real UDP and TCP on loopback, with clients on other loopback
//! addresses (all of 127.0.0.0/8 is loopback on Linux) standing in for other subnets.

mod answers;
mod lifecycle;
mod rate_limit;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use adapter_zone::{ZoneCell, ZoneLimits, ZoneServer};
use domain_core::crypto::{KeyAlgorithm, RsaBits, generate};
use domain_core::name::DomainName;
use domain_core::records::dkim::DkimKeyRecord;
use domain_core::zone::{ZoneConfig, ZoneSnapshot};
use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RecordType};
use telemetry::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// An upper bound on any one exchange, so that a lost answer fails the test instead of
/// hanging it.
const PATIENCE: Duration = Duration::from_secs(5);

/// The apex of the test zone.
const APEX: &str = "dkim.example.net";

/// A slot's name: `<selector>.<label>.<zone>`.
const SLOT: &str = "scaisend.k7f3q.dkim.example.net";

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).expect("a valid name")
}

fn config() -> ZoneConfig {
    ZoneConfig {
        apex: domain(APEX),
        nameservers: vec![domain("ns1.example.org"), domain("ns2.example.org")],
        ttl: Duration::from_secs(300),
    }
}

fn snapshot(serial: u32, records: &[(&str, &str)]) -> ZoneSnapshot {
    ZoneSnapshot::new(
        config(),
        serial,
        records
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    )
}

/// The DKIM record of a 4096-bit RSA key, generated once per test run (it takes seconds).
fn rsa_4096_record() -> &'static str {
    static RECORD: OnceLock<String> = OnceLock::new();
    RECORD.get_or_init(|| {
        let bits = RsaBits::from_bits(4096).expect("a supported size");
        let key = generate(KeyAlgorithm::Rsa(bits)).expect("key generation");
        DkimKeyRecord::for_key(&key.public).to_string()
    })
}

/// A running server and the metrics it reports to.
struct Running {
    server: ZoneServer,
    cell: ZoneCell,
    metrics: Arc<Metrics>,
}

impl Running {
    async fn start(snapshot: ZoneSnapshot, limits: ZoneLimits) -> Running {
        let cell = ZoneCell::new(snapshot);
        let metrics = Arc::new(Metrics::new());
        let server = ZoneServer::bind(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            cell.clone(),
            limits,
            metrics.clone(),
        )
        .await
        .expect("the server starts");
        Running {
            server,
            cell,
            metrics,
        }
    }

    /// A server with the default limits.
    async fn serving(snapshot: ZoneSnapshot) -> Running {
        Running::start(snapshot, ZoneLimits::default()).await
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// How many answers the metrics counted with `rcode`.
    fn counted(&self, rcode: &str) -> u64 {
        let prefix = format!("scaisend_zone_queries_total{{rcode=\"{rcode}\"}} ");
        self.metrics
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(&prefix)?.parse().ok())
            .unwrap_or(0)
    }
}

fn query(name: &str, qtype: RecordType) -> Message {
    let mut message = Message::new(0x5ca1, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    let mut name = Name::from_ascii(name).expect("a name");
    name.set_fqdn(true);
    message.add_query(Query::query(name, qtype));
    message
}

/// `message` announcing an EDNS UDP size of `payload`.
fn edns(mut message: Message, payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message
}

/// A UDP client on the loopback address `from`.
async fn client(from: Ipv4Addr) -> UdpSocket {
    UdpSocket::bind((IpAddr::V4(from), 0))
        .await
        .expect("a loopback client socket")
}

/// Sends `message` over UDP from `socket` and returns the answer with its size.
async fn exchange_udp(socket: &UdpSocket, to: SocketAddr, message: &Message) -> (Message, usize) {
    socket
        .send_to(&message.to_vec().expect("encodable"), to)
        .await
        .expect("sent");
    let mut buffer = vec![0u8; 65_535];
    let (len, from) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buffer))
        .await
        .expect("an answer in time")
        .expect("received");
    assert_eq!(from, to);
    let answer = Message::from_vec(&buffer[..len]).expect("a readable answer");
    assert_eq!(answer.metadata.id, message.metadata.id);
    (answer, len)
}

/// Asks over UDP from 127.0.0.1.
async fn udp(to: SocketAddr, message: &Message) -> Message {
    exchange_udp(&client(Ipv4Addr::LOCALHOST).await, to, message)
        .await
        .0
}

/// Writes one length-prefixed message on `stream`.
async fn send_tcp(stream: &mut TcpStream, message: &Message) {
    let bytes = message.to_vec().expect("encodable");
    let length = u16::try_from(bytes.len()).expect("small");
    stream
        .write_all(&[&length.to_be_bytes()[..], &bytes].concat())
        .await
        .expect("written");
}

/// Reads one length-prefixed answer from `stream`.
async fn receive_tcp(stream: &mut TcpStream) -> Message {
    let read = async {
        let length = stream.read_u16().await?;
        let mut bytes = vec![0u8; usize::from(length)];
        stream.read_exact(&mut bytes).await?;
        Ok::<_, std::io::Error>(bytes)
    };
    let bytes = tokio::time::timeout(PATIENCE, read)
        .await
        .expect("an answer in time")
        .expect("read");
    Message::from_vec(&bytes).expect("a readable answer")
}

/// Asks over a new TCP connection.
async fn tcp(to: SocketAddr, message: &Message) -> Message {
    let mut stream = TcpStream::connect(to).await.expect("connected");
    send_tcp(&mut stream, message).await;
    receive_tcp(&mut stream).await
}
