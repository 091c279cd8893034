//! The connections the server accepts: each one's writes get at most `--write-timeout` to make
//! progress, so a client that stops reading (a download, a stream, an answer) loses its
//! connection, and with it the buffers, the slot and the snapshot it held, instead of keeping
//! them for as long as it likes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

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
}

impl axum::serve::Listener for Listener {
    type Io = Pin<Box<TimeoutStream<TcpStream>>>;
    type Addr = SocketAddr;

    /// The next connection (accept errors, such as running out of descriptors, are waited out
    /// as axum's own TCP listener does).
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.tcp).await;
        let mut io = TimeoutStream::new(stream);
        io.set_write_timeout(Some(self.write_timeout));
        (Box::pin(io), addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
