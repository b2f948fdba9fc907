//! The server: UDP and TCP on one loopback port, answering from the [`Store`].

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use std::{fmt, io};

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_server::proto::rr::{Name, RData, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use crate::Error;
use crate::record::{Failure, ReceivedQuery, Record, RecordKind, Transport, key_of};
use crate::store::{Reply, Sections, Store};

/// How long an idle TCP connection stays open; long enough that a client reusing its
/// connection across a slow test does not see it closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Limit UDP answers to 512 octets whatever EDNS buffer the client offers, as a
    /// server without EDNS does: larger answers are truncated (TC bit) and the client
    /// must ask again over TCP.
    pub cap_udp_at_512: bool,
    /// The TTL of every record served, in seconds.
    pub ttl: u32,
    /// The loopback port to listen on; 0 (the default) picks a free one.
    pub port: u16,
    /// Wait this long before answering, to stand in for a network's round trip
    /// (benchmarks); zero by default.
    pub answer_delay: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cap_udp_at_512: false,
            ttl: 300,
            port: 0,
            answer_delay: std::time::Duration::ZERO,
        }
    }
}

/// An authoritative DNS server on `127.0.0.1`, UDP and TCP on the same port, answering
/// from records the test publishes. It stops when dropped.
///
/// Every name it holds is served authoritatively (AA flag). A name without records
/// that no published name lies below gives NXDOMAIN; a name that exists but lacks the
/// type asked for gives NOERROR with no answer. A published SOA record makes its name a
/// zone apex: negative answers below it carry the SOA, and CNAMEs are followed inside
/// the zone only.
pub struct TestDns {
    addr: SocketAddr,
    shared: Arc<Shared>,
    // Held for its drop: dropping the server aborts its tasks and closes the sockets.
    server: Server<Handler>,
}

impl TestDns {
    /// Starts a server with the default [`Options`].
    pub async fn start() -> io::Result<TestDns> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with the given options.
    pub async fn start_with(options: Options) -> io::Result<TestDns> {
        let (udp, tcp) = bind_pair(options.port).await?;
        let addr = udp.local_addr()?;
        let shared = Arc::new(Shared {
            options,
            state: Mutex::default(),
            answering: AtomicUsize::new(0),
            most_answering: AtomicUsize::new(0),
        });
        let mut server = Server::new(Handler {
            shared: shared.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, 64);
        Ok(TestDns {
            addr,
            shared,
            server,
        })
    }

    /// The address the server listens on, for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a record at `name`, next to those already there (several TXT records at
    /// one name are published one call each).
    pub fn publish(&self, name: &str, record: Record) -> Result<(), Error> {
        self.shared.state().store.publish(name, record)
    }

    /// Publishes every record of a zone file (relative names taken relative to
    /// `origin`), next to those already there, as a server that loaded the file would
    /// serve them; returns how many it published. See [`parse_zone_file`](crate::parse_zone_file).
    pub fn load_zone_file(&self, text: &str, origin: &str) -> Result<usize, Error> {
        let records = crate::parse_zone_file(text, origin)?;
        let count = records.len();
        for (name, record) in records {
            self.publish(&name, record)?;
        }
        Ok(count)
    }

    /// Replaces every record of `kind` at `name` with `records` (none deletes them).
    pub fn replace(&self, name: &str, kind: RecordKind, records: Vec<Record>) -> Result<(), Error> {
        self.shared.state().store.replace(name, kind, records)
    }

    /// Deletes every record of `kind` at `name`.
    pub fn delete(&self, name: &str, kind: RecordKind) -> Result<(), Error> {
        self.replace(name, kind, Vec::new())
    }

    /// Deletes every record at `name`.
    pub fn delete_name(&self, name: &str) -> Result<(), Error> {
        self.shared.state().store.delete_name(name)
    }

    /// Makes every query about `name` (the question's name, whatever its type) fail
    /// this way, until [`recover`](Self::recover).
    pub fn fail(&self, name: &str, failure: Failure) -> Result<(), Error> {
        self.shared.state().store.set_failure(name, Some(failure))
    }

    /// Ends a failure set with [`fail`](Self::fail).
    pub fn recover(&self, name: &str) -> Result<(), Error> {
        self.shared.state().store.set_failure(name, None)
    }

    /// Answers every question at or below `apex` by asking `server` — over UDP, and
    /// again over TCP when the answer is truncated — as a recursive resolver does once it
    /// has followed the zone's delegation. A CNAME published here that points into the
    /// zone then resolves for a client of this server as it would on the internet.
    /// `server` must be a loopback address.
    pub fn delegate(&self, apex: &str, server: SocketAddr) -> Result<(), Error> {
        if !server.ip().is_loopback() {
            return Err(Error::NotLoopback(server));
        }
        let apex = key_of(&Name::from_ascii(apex).map_err(|_| Error::InvalidName(apex.into()))?);
        self.shared.state().delegations.push((apex, server));
        Ok(())
    }

    /// The queries received so far, oldest first.
    pub fn queries(&self) -> Vec<ReceivedQuery> {
        self.shared.state().log.clone()
    }

    /// The most queries the server was answering at one moment so far: above 1 only
    /// when a client had several outstanding at once (with an
    /// [`answer_delay`](Options::answer_delay), a client's concurrency shows here).
    pub fn max_concurrent_queries(&self) -> usize {
        self.shared.most_answering.load(Ordering::SeqCst)
    }

    /// Stops the server and waits until its sockets are closed (dropping it stops it
    /// too, without waiting).
    pub async fn stop(mut self) -> io::Result<()> {
        self.server
            .shutdown_gracefully()
            .await
            .map_err(io::Error::other)
    }
}

impl fmt::Debug for TestDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDns")
            .field("addr", &self.addr)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        // Dropping `server` aborts its tasks, which closes the sockets. Cancelling first
        // makes the accept loops end by themselves at their next poll as well.
        self.server.shutdown_token().cancel();
    }
}

#[derive(Debug)]
struct Shared {
    options: Options,
    state: Mutex<State>,
    /// Queries being answered right now, and the most there ever were.
    answering: AtomicUsize,
    most_answering: AtomicUsize,
}

/// Counts one query as being answered while it lives.
struct Answering<'a>(&'a Shared);

impl<'a> Answering<'a> {
    fn start(shared: &'a Shared) -> Self {
        let now = shared.answering.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_answering.fetch_max(now, Ordering::SeqCst);
        Answering(shared)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere in a test must not turn every later query into a second panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct State {
    store: Store,
    log: Vec<ReceivedQuery>,
    /// Zones answered by another server: apex, and that server.
    delegations: Vec<(String, SocketAddr)>,
}

impl State {
    /// The server of the delegated zone `name` is in, if any.
    fn delegated(&self, name: &str) -> Option<SocketAddr> {
        self.delegations
            .iter()
            .find(|(apex, _)| {
                name == apex
                    || name
                        .strip_suffix(apex.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            })
            .map(|(_, server)| *server)
    }
}

/// Where a question is answered.
enum Route {
    /// From the records published here.
    Local(Reply),
    /// By the server of a delegated zone.
    Delegated(SocketAddr, Query),
    /// From the records published here, which end in a CNAME into a delegated zone: the
    /// rest of the chain comes from that zone's server, as a recursive resolver would
    /// complete it.
    Chased(Reply, SocketAddr, Query),
}

#[derive(Debug)]
struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let answering = Answering::start(&self.shared);
        let options = self.shared.options;
        if !options.answer_delay.is_zero() {
            tokio::time::sleep(options.answer_delay).await;
        }
        let reply = match self.route(request, options.ttl) {
            Route::Local(reply) => reply,
            Route::Delegated(server, query) => ask_delegated(server, query).await,
            Route::Chased(local, server, query) => chain(local, ask_delegated(server, query).await),
        };
        // The query stops counting before its answer is sent: the client may ask its next
        // question the moment the answer arrives, and counting both then would report
        // concurrency the client never had.
        drop(answering);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            let payload = if options.cap_udp_at_512 {
                512
            } else {
                req.max_payload()
            };
            edns.set_max_payload(payload);
            edns
        });
        // Without EDNS in the request the encoder already limits UDP to 512 octets.
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let sent = match &reply {
            Reply::Silence => return ResponseInfo::from(header(metadata)),
            Reply::Error(code) => {
                metadata.response_code = *code;
                response_handle
                    .send_response(builder.build_no_records(metadata))
                    .await
            }
            Reply::Answer(code, sections) => {
                metadata.response_code = *code;
                metadata.authoritative = true;
                response_handle
                    .send_response(builder.build(
                        metadata,
                        sections.answers.iter(),
                        sections.authorities.iter(),
                        [],
                        sections.additionals.iter(),
                    ))
                    .await
            }
        };
        sent.unwrap_or_else(|_| {
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(header(metadata))
        })
    }
}

impl Handler {
    fn route(&self, request: &Request, ttl: u32) -> Route {
        if request.metadata.op_code != OpCode::Query
            || request.metadata.message_type != MessageType::Query
        {
            return Route::Local(Reply::Error(ResponseCode::NotImp));
        }
        let [query] = request.queries.queries() else {
            return Route::Local(Reply::Error(ResponseCode::FormErr));
        };
        let name = key_of(&Name::from(query.name().clone()));
        let transport = match request.protocol() {
            Protocol::Tcp => Transport::Tcp,
            _ => Transport::Udp,
        };
        let mut state = self.shared.state();
        state.log.push(ReceivedQuery {
            name: name.clone(),
            record_type: query.query_type().to_string(),
            transport,
        });
        if let Some(server) = state.delegated(&name) {
            let question = Query::query(Name::from(query.name().clone()), query.query_type());
            return Route::Delegated(server, question);
        }
        let reply = state.store.reply(&name, query.query_type(), ttl);
        // A chain that ends in a CNAME into a delegated zone is completed there, unless
        // the CNAME itself was asked for.
        if let Reply::Answer(_, sections) = &reply
            && query.query_type() != RecordType::CNAME
            && let Some(RData::CNAME(target)) = sections.answers.last().map(|r| &r.data)
            && let Some(server) = state.delegated(&key_of(&target.0))
        {
            let question = Query::query(target.0.clone(), query.query_type());
            return Route::Chased(reply, server, question);
        }
        Route::Local(reply)
    }
}

/// `local`'s CNAME chain followed by what the delegated zone answered for its target.
fn chain(local: Reply, delegated: Reply) -> Reply {
    match (local, delegated) {
        (Reply::Answer(_, local), Reply::Answer(code, delegated)) => {
            let mut answers = local.answers;
            answers.extend(delegated.answers);
            Reply::Answer(
                code,
                Sections {
                    answers,
                    ..delegated
                },
            )
        }
        (_, failed) => failed,
    }
}

/// How long a delegated zone's server gets to answer.
const DELEGATED_PATIENCE: Duration = Duration::from_secs(3);

/// The delegated server's answer to `query`, relayed; SERVFAIL when it gives none.
async fn ask_delegated(server: SocketAddr, query: Query) -> Reply {
    match tokio::time::timeout(DELEGATED_PATIENCE, exchange(server, query)).await {
        Ok(Ok(answer)) => Reply::Answer(
            answer.metadata.response_code,
            Sections {
                answers: answer.answers,
                authorities: answer.authorities,
                additionals: Vec::new(),
            },
        ),
        _ => Reply::Error(ResponseCode::ServFail),
    }
}

/// Asks `server` over UDP with EDNS, and over TCP when the answer is truncated.
async fn exchange(server: SocketAddr, query: Query) -> io::Result<Message> {
    let mut message = Message::new(0x7e57, MessageType::Query, OpCode::Query);
    message.add_query(query);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    let bytes = message.to_vec().map_err(io::Error::other)?;
    let read = |bytes: &[u8]| Message::from_vec(bytes).map_err(io::Error::other);

    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    udp.send_to(&bytes, server).await?;
    let mut buffer = vec![0u8; 65_535];
    let len = udp.recv(&mut buffer).await?;
    let answer = read(&buffer[..len])?;
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let mut tcp = tokio::net::TcpStream::connect(server).await?;
    let length = u16::try_from(bytes.len()).map_err(io::Error::other)?;
    tcp.write_all(&[&length.to_be_bytes()[..], &bytes].concat())
        .await?;
    let mut answer = vec![0u8; usize::from(tcp.read_u16().await?)];
    tcp.read_exact(&mut answer).await?;
    read(&answer)
}

fn header(metadata: Metadata) -> Header {
    Header {
        metadata,
        counts: HeaderCounts::default(),
    }
}

/// Binds UDP on an ephemeral loopback port, then TCP on the same port, trying again
/// with another port if TCP's is taken.
async fn bind_pair(port: u16) -> io::Result<(UdpSocket, TcpListener)> {
    if port != 0 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let tcp = TcpListener::bind(udp.local_addr()?).await?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn udp_and_tcp_share_a_loopback_port_that_closes_on_stop() -> io::Result<()> {
        let dns = TestDns::start().await?;
        let addr = dns.addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        tokio::net::TcpStream::connect(addr).await?;

        dns.stop().await?;
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "still listening after stop");
        Ok(())
    }

    #[tokio::test]
    async fn questions_in_a_delegated_zone_are_answered_by_its_server() -> io::Result<()> {
        let ours = TestDns::start().await?;
        let theirs = TestDns::start().await?;
        let target = "s.label.dkim.example.net";
        theirs
            .publish(target, Record::txt("v=DKIM1; p=AAAA"))
            .expect("published");
        ours.publish(
            "s._domainkey.example.test",
            Record::Cname(target.to_owned()),
        )
        .expect("published");
        ours.delegate("dkim.example.net", theirs.addr())
            .expect("loopback");

        // The alias answers with the whole chain: the CNAME, then the delegated zone's
        // record at its target, as a recursive resolver completes it ...
        let name = |n: &str| Name::from_ascii(format!("{n}.")).expect("a name");
        let alias = exchange(
            ours.addr(),
            Query::query(name("s._domainkey.example.test"), RecordType::TXT),
        )
        .await?;
        let types: Vec<_> = alias.answers.iter().map(|r| r.record_type()).collect();
        assert_eq!(types, [RecordType::CNAME, RecordType::TXT], "{alias:?}");
        // ... the CNAME alone when that is what is asked ...
        let cname = exchange(
            ours.addr(),
            Query::query(name("s._domainkey.example.test"), RecordType::CNAME),
        )
        .await?;
        assert_eq!(cname.answers.len(), 1);
        // ... and a question about the target itself goes to the zone's server.
        let answer = exchange(ours.addr(), Query::query(name(target), RecordType::TXT)).await?;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1, "{answer:?}");
        assert_eq!(
            theirs.queries().len(),
            2,
            "asked the delegated server twice"
        );
        let missing = exchange(
            ours.addr(),
            Query::query(name("other.dkim.example.net"), RecordType::TXT),
        )
        .await?;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

        assert!(matches!(
            ours.delegate(
                "elsewhere.test",
                "192.0.2.1:53".parse().expect("an address")
            ),
            Err(Error::NotLoopback(_))
        ));
        Ok(())
    }
}
