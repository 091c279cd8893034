//! Raw HTTP/1.1 connections, for what a client library hides: a request whose body is held
//! back, an answer that is never read.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection to the server at `base` that has sent `head` (a request line and headers, ending in a blank
/// line). Its receive buffer is small, so an answer it never reads stalls the server's writes
/// after a few kilobytes.
pub async fn send_head(base: &str, head: &str) -> TcpStream {
    let address = base.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// An answer's status line and headers.
pub async fn read_head(from: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        assert_eq!(from.read(&mut byte).await.unwrap(), 1, "closed before answering: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

pub async fn read_status(from: &mut (impl AsyncReadExt + Unpin)) -> u16 {
    read_head(from).await[9..12].parse().unwrap()
}
