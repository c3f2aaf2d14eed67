//! Connections that would starve everyone else: hundreds of silent sockets, a body that
//! stalls, a kept-alive connection left open, and a shutdown with a request stuck under way.
//! The server closes what is silent past its deadlines, keeps its own connections within a
//! cap, answers `/api/health` throughout, and always stops.

use std::time::{Duration, Instant};

use tessera_server::ServerConfig;
use tessera_server::listen::ConnectionLimits;
use tessera_tests::{Backend, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits(max_connections: usize) -> ServerConfig {
    ServerConfig {
        connections: ConnectionLimits {
            max_connections,
            header_read_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(2),
        },
        ..ServerConfig::default()
    }
}

/// A GET of `/api/health` on a new connection; whether it answered 200 within `within`.
async fn healthy(server: &TestServer, within: Duration) -> bool {
    let client = reqwest::Client::builder()
        .timeout(within)
        .build()
        .expect("client");
    client
        .get(format!("{}/api/health", server.url))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Waits up to `within` for the server to close `socket`; whether it did.
async fn closed_by_server(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // a response (e.g. 408) before the close
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_silent_connections_do_not_silence_the_server() {
    let server = TestServer::start_with(Backend::Sqlite, limits(512)).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(server.addr()).await.expect("connect"));
    }
    assert!(
        healthy(&server, Duration::from_secs(5)).await,
        "/api/health answers beside 300 silent connections"
    );
    // Each silent connection is closed once its headers are overdue.
    for socket in &mut silent {
        assert!(closed_by_server(socket, Duration::from_secs(10)).await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_cap_connections_wait_and_deadlines_free_their_places() {
    let server = TestServer::start_with(Backend::Sqlite, limits(4)).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(server.addr()).await.expect("connect"));
    }
    // The fifth waits in the backlog until a silent one is closed, then gets its answer.
    let started = Instant::now();
    assert!(healthy(&server, Duration::from_secs(10)).await);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the fifth connection was served beside four others: no cap"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_alive_connection_left_silent_is_closed() {
    let server = TestServer::start_with(Backend::Sqlite, limits(16)).await;
    let mut socket = TcpStream::connect(server.addr()).await.expect("connect");
    socket
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = socket.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut socket, Duration::from_secs(10)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_is_cut_off_and_shutdown_still_finishes() {
    let mut server = TestServer::start_with(Backend::Sqlite, limits(16)).await;
    let (_, token) = server.user(tessera_api::Role::Annotator, "ann").await;
    let mut socket = TcpStream::connect(server.addr()).await.expect("connect");
    let head = format!(
        "POST /api/answers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"answers\": ["
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    assert!(
        closed_by_server(&mut socket, Duration::from_secs(10)).await,
        "a body that stopped coming holds its connection for good"
    );

    // A request stuck under way does not keep the server from stopping.
    let mut stuck = TcpStream::connect(server.addr()).await.expect("connect");
    stuck.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        TcpStream::connect(server.addr()).await.is_err(),
        "still listening"
    );
}
