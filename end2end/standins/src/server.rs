//! Running an axum router on a local port, with shutdown on drop.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits until open ones are finished.
    pub(crate) async fn shutdown(mut self) {
        self.stop.0.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.0.send_replace(true);
    }
}
