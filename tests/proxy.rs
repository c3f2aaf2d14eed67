//! A TCP proxy that breaks connections on purpose, between a client and a server on loopback.
//! Each accepted connection draws one [`Fault`] from a seeded generator, so a failing run can
//! be replayed with the same seed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Forwards both ways, untouched.
    Pass,
    /// Closes the client's connection at once, before any byte reaches the server.
    Refuse,
    /// Resets the client's connection (RST) at once.
    Reset,
    /// Waits this long before connecting to the server, then forwards.
    Delay(Duration),
    /// Forwards only this many bytes of the request, then closes both sides: the upload is
    /// cut in the middle.
    CutUpload(usize),
    /// Forwards the whole request but only this many bytes of the response, then closes both
    /// sides: the server did the work, the client never hears of it.
    CutResponse(usize),
}

impl Fault {
    /// The kind, without its parameter (for counting).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Refuse => "refuse",
            Fault::Reset => "reset",
            Fault::Delay(_) => "delay",
            Fault::CutUpload(_) => "cut upload",
            Fault::CutResponse(_) => "cut response",
        }
    }
}

pub struct FaultProxy {
    pub url: String,
    /// Every fault applied so far, in order of connection.
    pub applied: Arc<Mutex<Vec<Fault>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target`; `faulty` is the share of
    /// connections that get a fault other than [`Fault::Pass`].
    pub async fn start(target: SocketAddr, seed: u64, faulty: f64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let applied = Arc::new(Mutex::new(Vec::new()));
        let log = applied.clone();
        let accept = tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            while let Ok((client, _)) = listener.accept().await {
                let fault = if rng.random_bool(faulty) {
                    // Cut responses weigh double: the server did the work and the client
                    // must not count on it — the case idempotent pushes exist for.
                    match rng.random_range(0..6) {
                        0 => Fault::Refuse,
                        1 => Fault::Reset,
                        2 => Fault::Delay(Duration::from_millis(rng.random_range(50..400))),
                        3 => Fault::CutUpload(rng.random_range(0..4096)),
                        _ => Fault::CutResponse(rng.random_range(0..4096)),
                    }
                } else {
                    Fault::Pass
                };
                log.lock().expect("fault log").push(fault);
                tokio::spawn(handle(client, target, fault));
            }
        });
        Self {
            url,
            applied,
            accept,
        }
    }

    /// How many connections got each kind of fault.
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for fault in self.applied.lock().expect("fault log").iter() {
            *counts.entry(fault.kind()).or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn handle(client: TcpStream, target: SocketAddr, fault: Fault) {
    let (upload_limit, response_limit) = match fault {
        Fault::Refuse => return, // dropped: a clean close before anything happened
        Fault::Reset => {
            // Linger 0 turns the close into a reset.
            let _ = client.set_zero_linger();
            return;
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            (None, None)
        }
        Fault::Pass => (None, None),
        Fault::CutUpload(n) => (Some(n), None),
        Fault::CutResponse(n) => (None, Some(n)),
    };
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whichever direction ends first (its limit reached, or a side closed) ends both.
    tokio::select! {
        _ = copy_at_most(&mut client_read, &mut server_write, upload_limit) => {}
        _ = copy_at_most(&mut server_read, &mut client_write, response_limit) => {}
    }
}

/// Copies until EOF, an error, or `limit` bytes.
async fn copy_at_most(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    limit: Option<usize>,
) {
    let mut left = limit.unwrap_or(usize::MAX);
    let mut buf = vec![0u8; 16 * 1024];
    while left > 0 {
        let want = buf.len().min(left);
        match from.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                left -= n;
            }
        }
    }
}
