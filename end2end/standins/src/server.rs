//! Running an axum router on a local port, with shutdown on drop.

use std::net::SocketAddr;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Tells long-lived responses (watch streams) that the server is stopping, so a
/// graceful shutdown does not wait for them to time out.
#[derive(Clone)]
pub(crate) struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once the server is shutting down.
    pub(crate) async fn stopped(&mut self) {
        // An error means the sender is gone, which also means "stopped".
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// The sending half of [`StopSignal`]; create it before the router so state can hold the receiver.
pub(crate) struct StopSwitch(watch::Sender<bool>);

impl StopSwitch {
    pub(crate) fn new() -> (Self, StopSignal) {
        let (sender, receiver) = watch::channel(false);
        (Self(sender), StopSignal(receiver))
    }
}

/// A router being served on a bound port. Dropping it starts a graceful shutdown.
pub(crate) struct RunningServer {
    addr: SocketAddr,
    stop: StopSwitch,
    task: Option<JoinHandle<()>>,
    tls: bool,
}

impl RunningServer {
    /// Serves `router` on an already bound listener (bound by the caller, so the
    /// state can know its own URL before serving starts).
    pub(crate) fn start(
        listener: TcpListener,
        router: Router,
        stop: StopSwitch,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let mut stop_signal = StopSignal(stop.0.subscribe());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop_signal.stopped().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "stand-in server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            stop,
            task: Some(task),
            tls: false,
        })
    }

    /// Like [`RunningServer::start`], but every connection is TLS first. axum's
    /// `serve` only speaks plain TCP, so connections are accepted here and handed
    /// to hyper one by one.
    pub(crate) fn start_tls(
        listener: TcpListener,
        router: Router,
        stop: StopSwitch,
        acceptor: TlsAcceptor,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let mut stop_signal = StopSignal(stop.0.subscribe());
        let task = tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection failed");
                            continue;
                        }
                    },
                    _ = stop_signal.stopped() => break,
                };
                tokio::spawn(serve_tls_connection(
                    stream,
                    acceptor.clone(),
                    router.clone(),
                    stop_signal.clone(),
                ));
            }
        });
        Ok(Self {
            addr,
            stop,
            task: Some(task),
            tls: true,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Stops accepting connections and waits until open ones are finished.
    pub(crate) async fn shutdown(mut self) {
        self.stop.0.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn serve_tls_connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    router: Router,
    mut stop: StopSignal,
) {
    let Ok(stream) = acceptor.accept(stream).await else {
        // A client that does not trust the certificate hangs up here; nothing to serve.
        return;
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop.stopped() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.0.send_replace(true);
    }
}
