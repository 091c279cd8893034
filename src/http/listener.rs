//! The connections the server accepts and how each is served. Each one's writes get at most
//! `--write-timeout` to make progress, so a client that stops reading (a download, a stream, an
//! answer) loses its connection, and with it the buffers, the slot and the snapshot it held,
//! instead of keeping them for as long as it likes. Each is served by hyper's HTTP/1.1
//! connection: the protocol-detecting one `axum::serve` uses reads a 24-byte HTTP/2 preface
//! probe first, after which hyper's read buffer grows to 16 kB for every connection (8 kB of
//! each open stream's memory spent on nothing).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// A TCP listener whose connections time out writes that make no progress.
pub struct Listener {
    tcp: TcpListener,
    write_timeout: Duration,
}

impl Listener {
    pub fn new(tcp: TcpListener, write_timeout: Duration) -> Self {
        Self { tcp, write_timeout }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr().expect("a bound listener has an address")
    }

    /// Serves every connection with `service` until `shutdown` completes, then stops accepting
    /// and waits for the connections to finish what they are answering (each is told to close
    /// after its current response).
    pub async fn serve<S>(mut self, service: S, shutdown: impl Future<Output = ()>)
    where
        S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send,
    {
        let graceful = GracefulShutdown::new();
        let mut shutdown = pin!(shutdown);
        loop {
            let io = tokio::select! {
                io = self.accept() => io,
                () = &mut shutdown => break,
            };
            let service = service.clone().map_request(|request: Request<Incoming>| request.map(Body::new));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(self);
        graceful.shutdown().await;
    }

    /// The next connection, its writes timed out (accept errors, such as running out of
    /// descriptors, are waited out as axum's own TCP listener does).
    async fn accept(&mut self) -> Pin<Box<TimeoutStream<TcpStream>>> {
        let (stream, _) = axum::serve::Listener::accept(&mut self.tcp).await;
        let mut io = TimeoutStream::new(stream);
        io.set_write_timeout(Some(self.write_timeout));
        Box::pin(io)
    }
}
