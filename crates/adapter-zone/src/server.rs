//! The sockets: UDP and TCP on one port, the rate limit on UDP, bounded TCP connections,
//! and a shutdown that lets the answers under way finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::{fmt, io};

use domain_core::ports::{Observation, Observer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::answer::{Incoming, Transport, answer, truncated};
use crate::cell::ZoneCell;
use crate::limits::{LimitsError, ZoneLimits};
use crate::rate::{Decision, RateLimiter, Subnet};

/// The response code the metrics count for an answer the rate limit withheld, whether
/// nothing was sent or a truncated reply slipped out instead.
const DROPPED: &str = "DROPPED";

/// The largest UDP payload there is; a query is never near it, but a shorter buffer
/// would cut a long one into something that reads as a different message.
const MAX_UDP_MESSAGE: usize = 65_535;

/// How many times binding to port 0 picks another port when the one the system gave UDP
/// is taken for TCP.
const BIND_ATTEMPTS: usize = 32;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The limits cannot work.
    #[error("zone server limits: {0}")]
    Limits(#[from] LimitsError),
    /// The address could not be bound for UDP or TCP.
    #[error("binding {addr} for DNS (UDP and TCP): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
}

/// Our authoritative DKIM zone, served on UDP and TCP at one address until
/// [`shutdown`](Self::shutdown) or until dropped.
///
/// Every answer (and every answer the rate limit withholds, as `DROPPED`) is reported to
/// the observer as [`Observation::ZoneQuery`]. Messages that get no answer at all —
/// shorter than a DNS header, or responses rather than queries — are not counted.
pub struct ZoneServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl ZoneServer {
    /// Binds `addr` for UDP and TCP (port 0 picks a port free for both) and serves the
    /// snapshot current in `cell` there.
    pub async fn bind(
        addr: SocketAddr,
        cell: ZoneCell,
        limits: ZoneLimits,
        observer: Arc<dyn Observer>,
    ) -> Result<ZoneServer, ZoneError> {
        limits.validate()?;
        let (udp, tcp) = bind_pair(addr)
            .await
            .map_err(|source| ZoneError::Bind { addr, source })?;
        let bound = udp
            .local_addr()
            .map_err(|source| ZoneError::Bind { addr, source })?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            cell,
            observer,
            limits,
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(serve_udp(udp, shared.clone(), stopped.clone()));
        tasks.spawn(serve_tcp(tcp, shared, stopped));
        Ok(ZoneServer {
            addr: bound,
            stop,
            tasks,
        })
    }

    /// The address the server answers on, for UDP and TCP.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops receiving queries and accepting connections at once, lets the answers under
    /// way be sent, and closes every socket. Returns `false` if that took longer than
    /// `grace`: what was left (a client too slow to take its answer) is cut off.
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        let tasks = &mut self.tasks;
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                .await
                .is_ok();
        // Dropping the tasks that are left aborts them.
        self.tasks.abort_all();
        finished
    }
}

impl fmt::Debug for ZoneServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoneServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for ZoneServer {
    fn drop(&mut self) {
        // The tasks stop by themselves at their next poll; the join set aborts them too.
        let _ = self.stop.send(true);
    }
}

/// What every task of one server shares.
struct Shared {
    cell: ZoneCell,
    observer: Arc<dyn Observer>,
    limits: ZoneLimits,
}

impl Shared {
    fn observe(&self, rcode: &'static str) {
        self.observer.observe(Observation::ZoneQuery { rcode });
    }
}

/// Answers UDP queries one after the other. Each answer is a few microseconds of work
/// with no waiting, so one task keeps up with a network card's worth of queries, and it
/// alone owns the rate limiter: no lock, and no task per datagram for a flood to multiply.
async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut limiter = RateLimiter::new(&shared.limits, Instant::now());
    let payload = shared.limits.udp_payload;
    let mut buffer = vec![0u8; MAX_UDP_MESSAGE];
    loop {
        let (len, src) = tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(e) => {
                    // An ICMP error for an earlier answer, reported on some systems: it
                    // concerns that client only.
                    tracing::debug!(error = %e, "receiving a DNS query over UDP failed");
                    continue;
                }
            },
            _ = stop.wait_for(|stop| *stop) => break,
        };
        // Port 0 cannot be answered; it only appears in forged packets.
        if src.port() == 0 {
            continue;
        }
        let Some(incoming) = Incoming::read(&buffer[..len], src, Transport::Udp) else {
            continue;
        };
        let decision = match limiter.as_mut() {
            Some(limiter) => limiter.check(Subnet::of(src.ip()), Instant::now()),
            None => Decision::Answer,
        };
        let bytes = match decision {
            Decision::Answer => {
                let answer = answer(&incoming, &shared.cell.current(), Transport::Udp, payload);
                shared.observe(answer.rcode);
                answer.bytes
            }
            Decision::Slip => {
                shared.observe(DROPPED);
                truncated(&incoming, payload)
            }
            Decision::Drop => {
                shared.observe(DROPPED);
                continue;
            }
        };
        if let Err(e) = socket.send_to(&bytes, src).await {
            tracing::debug!(error = %e, %src, "sending a DNS answer over UDP failed");
        }
    }
}

/// Accepts TCP connections while fewer than the limit are open, closing the others at
/// once, so that they fail fast rather than wait in the backlog.
async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(shared.limits.tcp_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, src) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // wait a moment rather than spin on the error.
                tracing::warn!(error = %e, "accepting a DNS connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%src, "too many DNS connections: closing a new one");
            continue;
        };
        connections.spawn(serve_connection(
            stream,
            src,
            shared.clone(),
            stop.clone(),
            permit,
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Answers the queries of one connection in order (RFC 7766), until the client closes
/// it, stays silent for the idle timeout, does not take an answer within it, or the
/// server stops.
async fn serve_connection(
    mut stream: TcpStream,
    src: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let idle = shared.limits.tcp_idle_timeout;
    loop {
        let message = tokio::select! {
            read = tokio::time::timeout(idle, read_message(&mut stream)) => match read {
                Ok(Ok(Some(message))) => message,
                // Closed, broken, or silent for too long.
                _ => break,
            },
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let Some(incoming) = Incoming::read(&message, src, Transport::Tcp) else {
            continue;
        };
        let answer = answer(
            &incoming,
            &shared.cell.current(),
            Transport::Tcp,
            shared.limits.udp_payload,
        );
        shared.observe(answer.rcode);
        let written = tokio::time::timeout(idle, write_message(&mut stream, &answer.bytes)).await;
        if !matches!(written, Ok(Ok(()))) {
            break;
        }
    }
}

/// Reads one length-prefixed message (RFC 1035 §4.2.2), or `None` when the client has
/// closed the connection between messages.
async fn read_message(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 2];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).await?;
    Ok(Some(message))
}

async fn write_message(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    // An answer over TCP is at most 65,535 octets: the encoder's own limit.
    let length = u16::try_from(message.len()).map_err(io::Error::other)?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await
}

/// Binds UDP at `addr`, then TCP on the port UDP got. With port 0, the system picks
/// UDP's port, which may be taken for TCP: then it picks again.
async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut attempts = 0;
    loop {
        let udp = UdpSocket::bind(addr).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == io::ErrorKind::AddrInUse
                    && attempts < BIND_ATTEMPTS =>
            {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
