//! The connections the server accepts and how each is served. Each one's writes get at most
//! `--write-timeout` to make progress, so a client that stops reading (a download, a stream, an
//! answer) loses its connection, and with it the buffers, the slot and the snapshot it held,
//! instead of keeping them for as long as it likes; and a request's headers must arrive within
//! [`HEADER_TIMEOUT`] of the connection opening or of its last answer, so that a client that
//! sends nothing (or a header a byte at a time) cannot hold a connection's buffers and task
//! either. At most as many connections are open as the open-file limit leaves them: past that,
//! new ones wait in the kernel's listen backlog until one closes (idle ones do within
//! [`HEADER_TIMEOUT`]), so that a flood of connections never takes the descriptors the store
//! and the backend need. Each is served by hyper's HTTP/1.1
//! connection: the protocol-detecting one `axum::serve` uses reads a 24-byte HTTP/2 preface
//! probe first, after which hyper's read buffer grows to 16 kB for every connection (8 kB of
//! each open stream's memory spent on nothing).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// How long a connection may take to send a request's headers, from its opening or its last
/// answer (an idle keep-alive connection is closed after it too).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections the kernel queues before the server accepts them (it caps the number at
/// `net.core.somaxconn`, 4096 by default since Linux 5.4). Past the queue a connection's SYN is
/// dropped and its client retries a second later, then three: a burst of readers (thousands of
/// streams reconnecting at once) waits here instead. std's and tokio's default is 128.
const BACKLOG: u32 = 4096;

/// A listener on `addr` with a backlog of [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As std and tokio bind: a restarted server takes its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// A TCP listener whose connections time out writes that make no progress, and requests whose
/// headers do not arrive, and of which at most so many are open.
pub struct Listener {
    tcp: TcpListener,
    write_timeout: Duration,
    header_timeout: Duration,
    /// One permit per connection open.
    connections: Arc<Semaphore>,
    /// When the cap was met, it is said to be left once this many connections are free: not at
    /// each one that frees and is taken again from the backlog at once.
    room: usize,
}

impl Listener {
    pub fn new(tcp: TcpListener, write_timeout: Duration, max_connections: usize) -> Self {
        let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let connections = Arc::new(Semaphore::new(max));
        Self { tcp, write_timeout, header_timeout: HEADER_TIMEOUT, connections, room: (max / 10).max(1) }
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
        let mut full = false;
        loop {
            let slot = match Arc::clone(&self.connections).try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    if !std::mem::replace(&mut full, true) {
                        tracing::warn!(
                            "as many connections are open as the open-file limit leaves: new ones wait to be accepted until one closes"
                        );
                    }
                    tokio::select! {
                        slot = Arc::clone(&self.connections).acquire_owned() => slot.expect("never closed"),
                        () = &mut shutdown => break,
                    }
                }
            };
            let io = tokio::select! {
                io = self.accept() => io,
                () = &mut shutdown => break,
            };
            if full && self.connections.available_permits() >= self.room {
                full = false;
                tracing::info!("connections are accepted at once again");
            }
            let service = service.clone().map_request(|request: Request<Incoming>| request.map(Body::new));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.header_timeout)
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                drop(slot);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{Listener, bind};

    /// What the server sends on a connection before closing it, once the client has sent `sent`.
    async fn answer_to(port: u16, sent: &[u8]) -> String {
        let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        client.write_all(sent).await.unwrap();
        let mut read = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut read)).await;
        assert!(closed.is_ok(), "the server closes the connection");
        String::from_utf8_lossy(&read).into_owned()
    }

    #[tokio::test]
    async fn a_request_whose_headers_do_not_arrive_loses_its_connection() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let mut listener = Listener::new(tcp, Duration::from_secs(60), 100);
        listener.header_timeout = Duration::from_millis(300);
        let router = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(listener.serve(router, std::future::pending()));
        // Headers that arrive are answered (and the connection closed as the client asked) ...
        let answered = answer_to(port, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
        // ... and a connection whose headers stop halfway, or that sends nothing, is closed.
        assert_eq!(answer_to(port, b"GET / HTTP/1.1\r\nhost:").await, "");
        assert_eq!(answer_to(port, b"").await, "");
    }

    #[tokio::test]
    async fn past_the_connection_cap_new_connections_wait_until_one_closes() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let listener = Listener::new(tcp, Duration::from_secs(60), 2);
        let router = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(listener.serve(router, std::future::pending()));
        let request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        let idle = [
            TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
            TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
        ];
        // The kernel takes the third connection into the backlog; the server reads nothing of it ...
        let mut third = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        third.write_all(request).await.unwrap();
        let mut read = Vec::new();
        let early = tokio::time::timeout(Duration::from_millis(300), third.read_to_end(&mut read)).await;
        assert!(
            early.is_err() && read.is_empty(),
            "answered past the cap: {:?}",
            String::from_utf8_lossy(&read)
        );
        // ... until one of the two closes: then it is accepted and answered.
        drop(idle);
        let answered = tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut read)).await;
        assert!(answered.is_ok(), "never answered");
        assert!(
            String::from_utf8_lossy(&read).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&read)
        );
        assert_eq!(
            answer_to(port, request).await.lines().next(),
            Some("HTTP/1.1 200 OK"),
            "and the next at once"
        );
    }

    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog() {
        let tcp = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = tcp.local_addr().unwrap().port();
        // Nothing accepts: each handshake completes as the kernel queues the connection, past
        // std's backlog of 128 too (a dropped SYN would be retried only after a second, and
        // dropped again while the queue stays full).
        let burst = (0..300).map(|_| TcpStream::connect(("127.0.0.1", port)));
        let connected = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(burst))
            .await
            .expect("every connection of the burst is queued");
        assert_eq!(connected.iter().filter(|c| c.is_ok()).count(), 300);
    }
}
