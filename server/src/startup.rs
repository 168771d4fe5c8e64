//! Building and running the server, separately from `main`, so tests start the
//! real thing on port 0 (the zero-to-production `Application` shape).

use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::clock::now_millis;
use crate::config::{ServeArgs, StorageArgs};
use crate::connect::Outbound;
use crate::crypto::SecretBox;
use crate::engine::{Engine, EngineContext, EngineStop};
use crate::files::{create_private_dir, write_private_file};
use crate::http::security::SecurityConfig;
use crate::http::{router, AppParts, AppState, Readiness};
use crate::metrics::{Metrics, SharedMetrics};
use crate::notify::Notifier;
use crate::retention::Pruner;
use crate::secrets;
use crate::service::Slipway;
use crate::store::{self, LeaseRelease, ReplicaHeartbeat, SharedStore};
use app::status::HEARTBEAT_SECONDS;
use tokio_util::sync::CancellationToken;

/// The module `cargo leptos build --split` writes beside the front end's
/// own to load the pages' wasm (app/src/pages/lazy.rs); `slipway.js` imports
/// it. The name is fixed while the site's file names are not hashed.
const SPLIT_WASM_LOADER: &str = "__wasm_split.______________________.js";

/// The file that holds the first administrator's password until it is changed.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// How long a call to a registry, Docker Hub or a cluster may take before it is
/// reported as failed: forms must answer within seconds.
const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub store: SharedStore,
    engine: Arc<Engine>,
    notifier: Arc<Notifier>,
    pruner: Arc<Pruner>,
    live: crate::live::LiveBus,
    refusals: crate::service::refusals::RefusalCounter,
    sign_in_guard: Arc<crate::service::SignInGuard>,
    readiness: Readiness,
    shutdown_grace: Duration,
    replica_id: String,
}

/// Pipeline workers per process: runs mostly wait on clusters and registries,
/// so a few more than cores keeps them busy without crowding the database.
const ENGINE_WORKERS: usize = 8;

impl Application {
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        // Checked before anything is opened: a wrong flag stops the start at once.
        let email = args.notifications.email()?;
        let store = open_store(&args.storage).await?;
        ensure_initial_admin(&store, &args.storage.data_dir).await?;

        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let leptos_options = leptos_options(listener.local_addr()?, &args.site_root)?;
        let secret_box = SecretBox::load_or_create(&args.storage.data_dir)?;
        let metrics: SharedMetrics = Arc::new(Metrics::new());
        let outbound = Outbound {
            docker_hub_api_url: args.docker_hub_api_url.trim_end_matches('/').to_string(),
            docker_hub_registry_url: args
                .docker_hub_registry_url
                .trim_end_matches('/')
                .to_string(),
            digests: Default::default(),
            cloud_proxy_url: args
                .cloud_proxy_url
                .as_ref()
                .map(|url| url.expose().to_string()),
            timeout: OUTBOUND_TIMEOUT,
            callback_hosts: args.docker_hub_callback_hosts.clone(),
            deny_private_egress: args.deny_private_egress,
            kube_requests: metrics.kube_requests.clone(),
        };
        let public_url = match &args.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                if args.listen.ip().is_unspecified() {
                    tracing::warn!(
                        listen = %args.listen,
                        "no --public-url: browsers must reach this server at the listen address \
                         itself, or sign-in and every form are refused as cross-origin; set \
                         --public-url to the address people open"
                    );
                }
                format!("http://{}", listener.local_addr()?)
            }
        };
        let pkg = &leptos_options.site_pkg_dir;
        let front_end_modules = [
            format!("/{pkg}/{}.js", leptos_options.output_name),
            format!("/{pkg}/{SPLIT_WASM_LOADER}"),
        ];
        let security = SecurityConfig::new(
            &public_url,
            args.access.trusted_proxies.clone(),
            &front_end_modules,
        )?;
        let engine_settings = args.replica.engine_settings();
        let replica_id = engine_settings.replica_id.clone();
        let slipway = Slipway::new(
            store.clone(),
            secret_box.clone(),
            outbound.clone(),
            public_url.clone(),
        )
        .with_sign_in_limits(args.access.sign_in_limits())
        .with_email(email.is_some())
        .with_webhook_cache(args.replica.webhook_cache())
        .with_metrics(metrics.clone())
        .with_replica(&replica_id, args.retention.keep_days);
        // On PostgreSQL, live events pass between the replicas (before the engine publishes any).
        slipway
            .live
            .connect_replicas(&args.storage.database_url())
            .await?;
        let notifier = Notifier::new(
            store.clone(),
            outbound.clone(),
            email,
            public_url.clone(),
            &engine_settings.replica_id,
            args.notifications.retry_policy(),
        );
        let pruner = Arc::new(Pruner::new(
            store.clone(),
            &engine_settings.replica_id,
            args.retention.policy(),
        ));
        // The engine gets only what it uses; the signals and the live bus are
        // the request side's own, so both sides wake, cancel and announce alike.
        let engine = Engine::new(
            EngineContext {
                store: store.clone(),
                live: slipway.live.clone(),
                signals: slipway.signals.clone(),
                outbound,
                secret_box,
                public_url,
                metrics,
            },
            engine_settings,
        );
        if store.is_single_process() {
            // Nobody else can hold a lease on this database: runs the last
            // process left RUNNING are continued now, not after their lease.
            let interrupted = store
                .release_leases(LeaseRelease::Every, now_millis())
                .await?;
            if interrupted > 0 {
                tracing::warn!(
                    runs = interrupted,
                    "runs interrupted by the last stop are continued"
                );
            }
        }
        let readiness = Readiness::new(store.clone());
        let live = slipway.live.clone();
        let refusals = slipway.refusals.clone();
        let sign_in_guard = slipway.sign_in_guard.clone();
        let state = AppState::new(AppParts {
            leptos_options,
            backend: Arc::new(slipway),
            security: Arc::new(security),
            readiness: readiness.clone(),
        });
        Ok(Application {
            listener,
            router: router(state),
            store,
            engine,
            notifier,
            pruner,
            live,
            refusals,
            sign_in_guard,
            readiness,
            shutdown_grace: args.replica.shutdown_grace(),
            replica_id,
        })
    }

    /// The live streams' bus (tests shorten its limits).
    pub fn live(&self) -> &crate::live::LiveBus {
        &self.live
    }

    /// The counts of refused deliveries (tests shorten their window).
    pub fn refusals(&self) -> &crate::service::refusals::RefusalCounter {
        &self.refusals
    }

    /// What throttles password checks (tests occupy its hashing slots).
    pub fn sign_in_guard(&self) -> Arc<crate::service::SignInGuard> {
        self.sign_in_guard.clone()
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` resolves, then drains: `/readyz` answers 503,
    /// no run is claimed any more, running tasks get `--shutdown-grace-seconds`
    /// to finish, the runs still going are handed back (their leases end, so
    /// another replica continues them at once), and the HTTP server stops.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = EngineStop::default();
        let workers = self.engine.spawn(ENGINE_WORKERS, &stop);
        // Notifications go out beside the runs, never in their way.
        let stop_notifying = CancellationToken::new();
        let notifier = self.notifier.spawn(stop_notifying.clone());
        // Old history is pruned beside the runs, in batches short enough
        // never to hold the database up.
        let stop_pruning = CancellationToken::new();
        let pruner = self.pruner.spawn(stop_pruning.clone());
        let heartbeat = spawn_heartbeat(
            self.store.clone(),
            self.replica_id.clone(),
            stop_notifying.clone(),
        );
        // The peer address feeds the webhooks' source allow-lists.
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        // Live streams never end by themselves: close them when the HTTP
        // server stops, or its graceful shutdown would wait for every open page.
        let stop_http = CancellationToken::new();
        let live = self.live;
        let replicas = live.clone();
        let http_stopped = {
            let stop_http = stop_http.clone();
            async move {
                stop_http.cancelled().await;
                live.close();
            }
        };
        // Without TCP_NODELAY a streamed page's last small write waits for the
        // browser's delayed ACK: every server-rendered page took 40 ms more.
        let listener = self.listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "setting TCP_NODELAY failed");
            }
        });
        let mut http = tokio::spawn(
            axum::serve(listener, service)
                .with_graceful_shutdown(http_stopped)
                .into_future(),
        );
        tokio::select! {
            () = shutdown => {}
            served = &mut http => {
                // The server ended by itself (an accept loop error): stop the engine too.
                stop.stop_claiming.cancel();
                stop.hand_back.cancel();
                for worker in workers {
                    let _ = worker.await;
                }
                stop_notifying.cancel();
                let _ = notifier.await;
                stop_pruning.cancel();
                let _ = pruner.await;
                let _ = heartbeat.await;
                return Ok(served??);
            }
        }

        self.readiness.start_draining();
        stop.stop_claiming.cancel();
        let running = self.engine.runs_in_progress();
        if running > 0 {
            tracing::info!(
                runs = running,
                grace_seconds = self.shutdown_grace.as_secs(),
                "draining: waiting for running tasks to finish"
            );
        }
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        while self.engine.runs_in_progress() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(DRAIN_CHECK).await;
        }
        // What is still running goes to another replica (or to this server's next start).
        stop.hand_back.cancel();
        for worker in workers {
            let _ = worker.await;
        }
        // The runs' last changes are in the outbox; the next start (or
        // another replica) delivers what this one did not.
        stop_notifying.cancel();
        let _ = notifier.await;
        stop_pruning.cancel();
        let _ = pruner.await;
        let _ = heartbeat.await;
        // After the engine: the other replicas hear how the handed-back runs stand.
        replicas.disconnect_replicas().await;
        stop_http.cancel();
        http.await??;
        Ok(())
    }
}

/// A replica not heard from for this long is forgotten by the others.
const FORGET_REPLICAS_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Says this replica is alive now and every [`HEARTBEAT_SECONDS`] until
/// `stop`, for the status page's list of replicas. A failed heartbeat is
/// logged and the next one tried: it shows nothing but in that list.
fn spawn_heartbeat(
    store: SharedStore,
    replica_id: String,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let started_at = now_millis();
    tokio::spawn(async move {
        let mut beats = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECONDS));
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = beats.tick() => {}
            }
            let now = now_millis();
            let heartbeat = ReplicaHeartbeat {
                replica_id: replica_id.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_at,
                last_seen_at: now,
            };
            let forget_before = now.saturating_sub(FORGET_REPLICAS_AFTER.as_millis() as i64);
            if let Err(error) = store.record_heartbeat(&heartbeat, forget_before).await {
                tracing::warn!(%error, "recording this replica's heartbeat failed");
            }
        }
    })
}

/// How often a draining replica looks whether its runs have ended.
const DRAIN_CHECK: Duration = Duration::from_millis(100);

/// Creates the data directory (0700) and opens the store in it.
pub async fn open_store(storage: &StorageArgs) -> anyhow::Result<SharedStore> {
    create_private_dir(&storage.data_dir)?;
    store::open(&storage.database_url()).await
}

/// Leptos options: the site root from `--site-root`, the rest from the
/// `LEPTOS_*` variables cargo-leptos sets, with this workspace's defaults when
/// the binary is started by hand.
fn leptos_options(
    address: std::net::SocketAddr,
    site_root: &Path,
) -> anyhow::Result<LeptosOptions> {
    let from_env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    Ok(LeptosOptions::builder()
        .output_name(from_env("LEPTOS_OUTPUT_NAME", "slipway"))
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir(from_env("LEPTOS_SITE_PKG_DIR", "pkg"))
        .site_addr(address)
        .build())
}

/// On a new installation nobody can sign in yet: create `admin` with a random
/// password written to a 0600 file in the data dir (never to the log).
async fn ensure_initial_admin(store: &SharedStore, data_dir: &Path) -> anyhow::Result<()> {
    if store.count_users_with_password().await? > 0 {
        return Ok(());
    }
    let password = secrets::random_token("");
    let hash = secrets::hash_password(&password)?;
    let admin = store.ensure_user("admin", true, now_millis()).await?;
    store.set_user_admin(admin.id, true).await?;
    if !store.set_password_hash_if_unset(admin.id, &hash).await? {
        // Another replica starting at the same time created it first.
        return Ok(());
    }
    let file: PathBuf = data_dir.join(INITIAL_PASSWORD_FILE);
    write_private_file(&file, &format!("{password}\n"))?;
    tracing::warn!(
        file = %file.display(),
        "created user 'admin'; its password is in the file named here"
    );
    Ok(())
}
