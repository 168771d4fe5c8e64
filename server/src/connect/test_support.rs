//! Helpers shared by this module's tests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use app::endpoint::{Endpoint, EndpointKind, EndpointSettings};

/// What the server does at start; a second install (another test) is refused, which is fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An endpoint as the store would hand it over.
pub fn endpoint(kind: EndpointKind, url: &str, settings: EndpointSettings) -> Endpoint {
    Endpoint {
        id: 1,
        project: "demo".to_string(),
        project_id: 1,
        name: "test-endpoint".to_string(),
        description: String::new(),
        kind,
        url: url.to_string(),
        settings,
        stored_secrets: Vec::new(),
        last_validation: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// The time a test allows a validation with `timeout` to take: the timeout,
/// the validation's grace second, and half a second for a loaded test machine.
pub fn validation_bound(timeout: Duration) -> Duration {
    timeout + Duration::from_millis(1500)
}

/// A throwaway self-signed client certificate (P-256, CN=slipway-test-client)
/// and its key, plus an unrelated key, made with openssl for these tests only.
pub const CLIENT_CERT_PEM: &str = include_str!("testdata/client-cert.pem");
pub const CLIENT_KEY_PEM: &str = include_str!("testdata/client-key.pem");
pub const OTHER_KEY_PEM: &str = include_str!("testdata/other-key.pem");

/// A local address whose connects hang, as a firewalled host's do: a listener
/// that never accepts, its accept queue filled, so the kernel drops new SYNs.
/// (Outside "blackhole" addresses such as 10.255.255.1 are not reliable: some
/// sandboxes intercept them and answer.) Keep it alive while it is used.
pub struct HangingAddress {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

pub async fn hanging_address() -> HangingAddress {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("address");
    let mut queued = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => queued.push(stream),
            // This connect hung: the queue is full.
            _ => break,
        }
    }
    HangingAddress {
        addr,
        _listener: listener,
        _queued: queued,
    }
}

/// A server that accepts connections and never answers (a hung process).
/// Answers its address; the server lives as long as the test's runtime.
pub async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}
