//! Serving the router over HTTP/1 with hyper directly, for what `axum::serve` does not
//! offer: a header-read timeout, and a graceful shutdown the caller can bound.
//!
//! hyper's header-read timer also runs while a keep-alive connection sits idle between
//! requests, so the same limit closes idle connections: a client can hold a connection
//! without sending a complete request for at most that long.

use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Accepts connections on `listener` and serves `router` on each, until `stop` turns
/// true; then stops accepting and returns. The connections stay open, watched by
/// `connections`, whose shutdown lets their in-flight requests finish.
pub async fn accept(
    listener: TcpListener,
    router: axum::Router,
    header_timeout: Duration,
    connections: &GracefulShutdown,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // A connection reset before it was accepted, or out of file
                    // descriptors: wait a moment rather than spin on the error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = connections.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Header timeouts and clients that hang up end here; nothing to answer.
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
}
