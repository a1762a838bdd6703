//! Serving the router over HTTP/1.1 with limits against slow clients: a client that does
//! not finish a request's headers within the header-read timeout (the first request's
//! or, on a kept-alive connection, the next one's) is disconnected, and at most
//! `max_connections` are open at once; beyond that new connections wait in the listen
//! backlog until one closes. axum's own `serve` offers neither (hyper's header timeout
//! needs a timer it does not set), so connections are served with hyper directly.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::server::settings::HttpLimits;

/// Serves `router` on `listener` until `shutdown`, then lets each connection finish the
/// request in flight. Dropping the future (an abort at the shutdown deadline) drops every
/// connection with it.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Some((stream, permit)) = next_connection(&listener, &slots, &shutdown).await else {
            break;
        };
        connections.spawn(serve_connection(
            stream,
            router.clone(),
            limits.header_read_timeout,
            shutdown.clone(),
            permit,
        ));
    }
    while connections.join_next().await.is_some() {}
}

/// The next accepted connection once a slot is free, or `None` at shutdown.
async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let permit = tokio::select! {
        _ = shutdown.cancelled() => return None,
        permit = Arc::clone(slots).acquire_owned() => permit.ok()?,
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => return Some((stream, permit)),
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Serves one connection, holding its slot until it closes.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "HTTP connection ended");
    }
}
