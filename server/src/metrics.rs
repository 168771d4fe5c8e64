//! `GET /metrics`: what this process counts as it works, and what the
//! database holds now, in the Prometheus text format (or OpenMetrics, when
//! the scraper asks for it).
//!
//! Built on `prometheus-client`, the Prometheus project's own Rust client:
//! each server owns its [`Registry`] (no process-wide recorder, so the many
//! servers a test process starts never count into each other's series), and
//! label sets are typed structs, so a label can only take the bounded values
//! the code gives it. No label ever carries a project, user, image, tag or
//! token: sources, outcomes, statuses, task types and route templates only.
//!
//! Counters and histograms are this replica's own (sum them across
//! replicas); the `slipway_runs`, `slipway_oldest_queued_run_age_seconds`
//! and `slipway_notification_outbox` gauges are read from the database at
//! each scrape, so every replica reports the same numbers (take `max`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::execution::{ExecutionStatus, TaskStatus};
use app::webhook::{DeliverySource, EventStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::clock::now_millis;
use crate::store::{PoolUse, WorkInProgress};

/// The `Content-Type` of the OpenMetrics text format, for scrapers that ask for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of the Prometheus text format (version 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    source: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task_type: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Webhook handling and HTTP answers: 1 ms to about 16 s.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Tasks: 10 ms to about 45 minutes (a rollout wait, an approval's stage).
fn task_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 3.0, 13))
}

/// Counts the Kubernetes API requests of every client Slipway builds
/// (Validate and the Kubernetes task), by outcome: the HTTP status class,
/// or `error` when no answer came (connection, TLS, timeout).
#[derive(Clone, Debug, Default)]
pub struct KubeRequestCounter(Family<OutcomeLabels, Counter>);

impl KubeRequestCounter {
    pub fn record(&self, status: Option<u16>) {
        let outcome = status.map_or("error", status_class);
        self.0.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// The route a request matched (its template, e.g. `/api/v1/executions/{id}`),
/// put on the answer by the inner layer for the outer one that counts it.
#[derive(Clone, Debug)]
pub struct MatchedRoute(pub String);

/// What the database holds now, read at each scrape.
#[derive(Clone, Debug, Default)]
pub struct DatabaseState {
    pub backend: &'static str,
    pub work: WorkInProgress,
    pub size_bytes: i64,
}

/// What the database, the pools and the live bus hold now, read at each scrape.
#[derive(Clone, Debug, Default)]
pub struct ScrapeState {
    /// None when the database did not answer: its series are left out
    /// (not left at their last values) and `slipway_database_up` is 0.
    pub database: Option<DatabaseState>,
    pub pools: Vec<PoolUse>,
    pub live_streams: usize,
    pub live_events_dropped_for_replicas: u64,
}

pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_seconds: HistogramFamily<SourceLabels>,
    runs_finished: Family<StatusLabels, Counter>,
    task_seconds: HistogramFamily<TaskLabels>,
    pub kube_requests: KubeRequestCounter,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: HistogramFamily<RouteLabels>,
    runs: Family<StatusLabels, Gauge>,
    oldest_run_age: Family<StatusLabels, Gauge<f64, AtomicU64>>,
    outbox: Family<StateLabels, Gauge>,
    live_streams: Gauge,
    live_events_dropped: Counter,
    database_up: Gauge,
    database_size: Family<BackendLabels, Gauge>,
    pool_connections: Family<PoolLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector::started_now()));
        let metrics = Metrics {
            registry: Registry::default(),
            deliveries: Family::default(),
            delivery_seconds: HistogramFamily::new_with_constructor(request_buckets),
            runs_finished: Family::default(),
            task_seconds: HistogramFamily::new_with_constructor(task_buckets),
            kube_requests: KubeRequestCounter::default(),
            http_requests: Family::default(),
            http_seconds: HistogramFamily::new_with_constructor(request_buckets),
            runs: Family::default(),
            oldest_run_age: Family::default(),
            outbox: Family::default(),
            live_streams: Gauge::default(),
            live_events_dropped: Counter::default(),
            database_up: Gauge::default(),
            database_size: Family::default(),
            pool_connections: Family::default(),
        };
        let slipway = registry.sub_registry_with_prefix("slipway");
        slipway.register(
            "webhook_deliveries",
            "Deliveries to the hook URLs, by the registry format they came in and what became of them",
            metrics.deliveries.clone(),
        );
        slipway.register_with_unit(
            "webhook_delivery_duration",
            "Time from a delivery's arrival to its answer, by registry format",
            Unit::Seconds,
            metrics.delivery_seconds.clone(),
        );
        slipway.register(
            "runs_finished",
            "Runs this replica saw end, by final status",
            metrics.runs_finished.clone(),
        );
        slipway.register(
            "runs",
            "Runs not finished, by status (the database's count, the same on every replica)",
            metrics.runs.clone(),
        );
        slipway.register_with_unit(
            "oldest_run_age",
            "How long the run longest in a status has been there: queued (0 when none waits)",
            Unit::Seconds,
            metrics.oldest_run_age.clone(),
        );
        slipway.register_with_unit(
            "task_duration",
            "Time tasks ran on this replica, by task type and how they ended",
            Unit::Seconds,
            metrics.task_seconds.clone(),
        );
        slipway.register(
            "kubernetes_requests",
            "Requests to Kubernetes API servers, by HTTP status class (error: no answer)",
            metrics.kube_requests.0.clone(),
        );
        slipway.register(
            "notification_outbox",
            "Run notifications by state: pending (to send or retry) and failed (given up)",
            metrics.outbox.clone(),
        );
        slipway.register(
            "live_streams_open",
            "Live update streams (pages and scripts) open on this replica",
            metrics.live_streams.clone(),
        );
        slipway.register(
            "live_events_dropped_for_replicas",
            "Live events not passed to the other replicas because their queue was full",
            metrics.live_events_dropped.clone(),
        );
        slipway.register(
            "http_requests",
            "HTTP answers, by route template, method and status class",
            metrics.http_requests.clone(),
        );
        slipway.register_with_unit(
            "http_request_duration",
            "Time to answer HTTP requests (to the first byte of streamed pages), by route template",
            Unit::Seconds,
            metrics.http_seconds.clone(),
        );
        slipway.register(
            "database_up",
            "1 when the database answered this scrape (its series are fresh), else 0",
            metrics.database_up.clone(),
        );
        slipway.register_with_unit(
            "database_size",
            "The database's size on disk, by backend (sqlite, postgresql)",
            Unit::Bytes,
            metrics.database_size.clone(),
        );
        slipway.register(
            "database_connections",
            "This replica's database connections, by pool and state (in_use, idle, max)",
            metrics.pool_connections.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// One delivery answered: `source` is the registry format it was read
    /// as (the receiver's own when it could not be read).
    pub fn delivery_handled(&self, source: DeliverySource, outcome: &'static str, took: Duration) {
        let source = source.as_str();
        self.deliveries
            .get_or_create(&DeliveryLabels { source, outcome })
            .inc();
        self.delivery_seconds
            .get_or_create(&SourceLabels { source })
            .observe(took.as_secs_f64());
    }

    pub fn run_finished(&self, status: ExecutionStatus) {
        self.runs_finished
            .get_or_create(&StatusLabels {
                status: status_label(status),
            })
            .inc();
    }

    /// A task ended on this replica. Approval tasks that wait for a decision
    /// are not timed: that wait is people's, not Slipway's.
    pub fn task_finished(&self, task_type: &'static str, status: TaskStatus, took: Duration) {
        let status = task_status_label(status);
        self.task_seconds
            .get_or_create(&TaskLabels { task_type, status })
            .observe(took.as_secs_f64());
    }

    /// One HTTP answer; `route` is the matched template, or `unmatched`
    /// (static files, unknown paths), so its values are bounded by the router.
    pub fn http_answered(&self, route: &str, method: &http::Method, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_string(),
                method: method_label(method),
                status_class: status_class(status),
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The exposition, after setting the gauges read at this scrape.
    pub fn render(&self, now: ScrapeState, openmetrics: bool) -> String {
        self.set_database_gauges(now.database.as_ref());
        self.live_streams
            .set(i64::try_from(now.live_streams).unwrap_or(i64::MAX));
        // The live bus keeps the running total; the counter mirrors it.
        self.live_events_dropped.inner().store(
            now.live_events_dropped_for_replicas,
            std::sync::atomic::Ordering::Relaxed,
        );
        for pool in &now.pools {
            for (state, count) in [
                ("in_use", pool.open.saturating_sub(pool.idle)),
                ("idle", pool.idle),
                ("max", pool.max),
            ] {
                self.pool_connections
                    .get_or_create(&PoolLabels {
                        pool: pool.pool,
                        state,
                    })
                    .set(i64::from(count));
            }
        }

        let mut text = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug in
        // a label, and a scrape without the rest is better than none.
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        };
        if let Err(error) = encoded {
            tracing::error!(%error, "encoding the metrics failed");
        }
        text
    }
}

impl Metrics {
    fn set_database_gauges(&self, database: Option<&DatabaseState>) {
        let Some(database) = database else {
            self.database_up.set(0);
            self.runs.clear();
            self.oldest_run_age.clear();
            self.outbox.clear();
            self.database_size.clear();
            return;
        };
        self.database_up.set(1);
        let work = database.work;
        for (status, count) in [
            (ExecutionStatus::Queued, work.queued),
            (ExecutionStatus::Running, work.running),
            (ExecutionStatus::Waiting, work.waiting),
        ] {
            self.runs
                .get_or_create(&StatusLabels {
                    status: status_label(status),
                })
                .set(count);
        }
        let waited_ms = work
            .oldest_queued_at
            .map_or(0, |queued_at| now_millis().saturating_sub(queued_at).max(0));
        self.oldest_run_age
            .get_or_create(&StatusLabels {
                status: status_label(ExecutionStatus::Queued),
            })
            .set(waited_ms as f64 / 1000.0);
        for (state, count) in [
            ("pending", work.outbox_pending),
            ("failed", work.outbox_failed),
        ] {
            self.outbox.get_or_create(&StateLabels { state }).set(count);
        }
        self.database_size
            .get_or_create(&BackendLabels {
                backend: database.backend,
            })
            .set(database.size_bytes);
    }
}

/// `COMPLETED` → `completed`: label values in the style of the rest.
fn status_label(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Queued => "queued",
        ExecutionStatus::Running => "running",
        ExecutionStatus::Waiting => "waiting",
        ExecutionStatus::Completed => "completed",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::Canceled => "canceled",
    }
}

fn task_status_label(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Running => "running",
        TaskStatus::Waiting => "waiting",
        TaskStatus::Completed => "completed",
        TaskStatus::Failed => "failed",
        TaskStatus::Skipped => "skipped",
        TaskStatus::Canceled => "canceled",
    }
}

/// What became of a delivery, as `slipway_webhook_deliveries_total` names it.
pub fn delivery_outcome(status: EventStatus) -> &'static str {
    match status {
        EventStatus::Triggered => "triggered",
        EventStatus::Ignored => "ignored",
        EventStatus::Rejected => "rejected",
        EventStatus::Duplicate => "duplicate",
    }
}

pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The standard methods by name; anything else a client makes up is `other`,
/// so a client cannot add series.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The process's own series under the names every Prometheus client uses
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, …), read
/// from `/proc` at each scrape; on systems without it, none are reported.
#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: f64,
}

/// Clock ticks per second in `/proc/self/stat`: `USER_HZ`, 100 on every
/// Linux architecture (the kernel converts to it for user space).
const USER_HZ: f64 = 100.0;

impl ProcessCollector {
    fn started_now() -> Self {
        let start_time_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        ProcessCollector { start_time_seconds }
    }
}

/// What `/proc/self` says of this process.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    threads: u64,
    open_fds: u64,
    max_fds: Option<u64>,
}

impl ProcessStats {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let mut stats = Self::parse(&stat, &status, &limits)?;
        stats.open_fds = open_fds;
        Some(stats)
    }

    fn parse(stat: &str, status: &str, limits: &str) -> Option<Self> {
        // The command name (field 2) is in parentheses and may hold spaces:
        // fields are counted after its closing one. utime and stime are
        // fields 14 and 15, i.e. the 12th and 13th after it.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
        let cpu_ticks = ticks(11)? + ticks(12)?;
        let kib = |name: &str| -> Option<u64> {
            let line = status.lines().find(|line| line.starts_with(name))?;
            line[name.len()..]
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        };
        let max_fds = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3))
            .and_then(|soft| soft.parse::<u64>().ok());
        Some(ProcessStats {
            cpu_seconds: cpu_ticks as f64 / USER_HZ,
            resident_bytes: kib("VmRSS:")? * 1024,
            virtual_bytes: kib("VmSize:")? * 1024,
            threads: kib("Threads:")?,
            open_fds: 0,
            max_fds,
        })
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = ProcessStats::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stats.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stats.virtual_bytes as f64,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                stats.threads as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                stats.open_fds as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                self.start_time_seconds,
            ),
        ];
        let max_fds = stats.max_fds.map(|max| {
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                max as f64,
            )
        });
        for (name, help, value) in gauges.into_iter().chain(max_fds) {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// A shared handle, as the service, the engine and the router hold it.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (slip way) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 125 0 0 20 0 9 0 1234 52953088 4821 18446744073709551615";
    const STATUS: &str = "Name:\tslipway\nVmSize:\t   51712 kB\nVmRSS:\t   19288 kB\nThreads:\t9\n";
    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n";

    #[test]
    fn process_stats_are_read_past_a_command_name_with_spaces() {
        let stats = ProcessStats::parse(STAT, STATUS, LIMITS).expect("parsed");
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 3.75,
                resident_bytes: 19288 * 1024,
                virtual_bytes: 51712 * 1024,
                threads: 9,
                open_fds: 0,
                max_fds: Some(1024),
            }
        );
        assert_eq!(ProcessStats::parse("garbage", STATUS, LIMITS), None);
    }

    #[test]
    fn the_exposition_names_every_series_and_no_made_up_method() {
        let metrics = Metrics::new();
        metrics.delivery_handled(
            DeliverySource::Harbor,
            "triggered",
            Duration::from_millis(3),
        );
        metrics.run_finished(ExecutionStatus::Completed);
        metrics.task_finished("kubernetes", TaskStatus::Completed, Duration::from_secs(2));
        metrics.kube_requests.record(Some(201));
        metrics.kube_requests.record(None);
        let brew = http::Method::from_bytes(b"BREW").expect("a method");
        metrics.http_answered(
            "/api/v1/executions/{id}",
            &brew,
            404,
            Duration::from_millis(1),
        );
        let text = metrics.render(
            ScrapeState {
                database: Some(DatabaseState {
                    backend: "sqlite",
                    work: WorkInProgress {
                        queued: 3,
                        ..WorkInProgress::default()
                    },
                    size_bytes: 4096,
                }),
                pools: vec![PoolUse {
                    pool: "shared",
                    open: 4,
                    idle: 1,
                    max: 16,
                }],
                live_streams: 2,
                live_events_dropped_for_replicas: 0,
            },
            false,
        );
        for line in [
            r#"slipway_webhook_deliveries_total{source="harbor",outcome="triggered"} 1"#,
            r#"slipway_webhook_delivery_duration_seconds_count{source="harbor"} 1"#,
            r#"slipway_runs_finished_total{status="completed"} 1"#,
            r#"slipway_runs{status="queued"} 3"#,
            r#"slipway_task_duration_seconds_count{task_type="kubernetes",status="completed"} 1"#,
            r#"slipway_kubernetes_requests_total{outcome="2xx"} 1"#,
            r#"slipway_kubernetes_requests_total{outcome="error"} 1"#,
            r#"slipway_http_requests_total{route="/api/v1/executions/{id}",method="other",status_class="4xx"} 1"#,
            r#"slipway_live_streams_open 2"#,
            r#"slipway_database_size_bytes{backend="sqlite"} 4096"#,
            r#"slipway_database_up 1"#,
            r#"slipway_database_connections{pool="shared",state="in_use"} 3"#,
            r#"slipway_notification_outbox{state="pending"} 0"#,
        ] {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "missing `{line}` in:\n{text}"
            );
        }
        if cfg!(target_os = "linux") {
            assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
            assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
        }
        // The database did not answer: its series go, they do not stay stale.
        let openmetrics = metrics.render(ScrapeState::default(), true);
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        assert!(
            openmetrics.contains("\nslipway_database_up 0\n"),
            "{openmetrics}"
        );
        assert!(!openmetrics.contains("slipway_runs{"), "{openmetrics}");
    }
}
