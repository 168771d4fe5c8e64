//! Server status, for global admins: version, replicas seen lately, the
//! database, the queue, the notification outbox and the last prune — the
//! numbers `/metrics` reports, for operators without Prometheus.

use leptos::prelude::*;

use super::widgets::{format_millis, ListTable, PageHeader};
use crate::functions::server_status;
use crate::status::{ServerStatus, REPLICA_SEEN_WITHIN_SECONDS};

/// `1536` → `1.5 KiB`.
fn byte_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `95_000` ms → `1 min 35 s`: how long ago, or how long something waited.
fn duration_text(millis: i64) -> String {
    let seconds = millis.max(0) / 1000;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {} s", seconds / 60, seconds % 60),
        3600..=86_399 => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{} d {} h", seconds / 86_400, (seconds % 86_400) / 3600),
    }
}

/// One figure of the summary: a label over a value, with a test id.
#[component]
fn Figure(label: &'static str, testid: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="card">
            <p class="text-xs font-semibold uppercase tracking-wider text-slate-500">{label}</p>
            <p class="mt-1 text-xl font-semibold" data-testid=testid>{value}</p>
        </div>
    }
}

#[component]
fn StatusView(status: ServerStatus) -> impl IntoView {
    let now = status.now;
    let oldest = status.oldest_queued_at.map_or_else(
        || "none waiting".to_string(),
        |queued_at| format!("{} ago", duration_text(now - queued_at)),
    );
    let prune = status.last_prune.as_ref().map_or_else(
        || "not yet".to_string(),
        |prune| {
            format!(
                "{} ago: {} runs, {} activity rows, {} expired dedupe keys, {} push-order heads",
                duration_text(now - prune.finished_at),
                prune.runs_pruned,
                prune.activity_pruned,
                prune.dedupe_keys_pruned,
                prune.push_heads_pruned
            )
        },
    );
    let retention = if status.keep_days == 0 {
        "kept forever (--keep-days 0)".to_string()
    } else {
        format!("{} days (--keep-days)", status.keep_days)
    };
    let this_replica = status.replica_id.clone();
    view! {
        <div class="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
            <Figure label="Version" testid="status-version" value=status.version.clone() />
            <Figure
                label="Database"
                testid="status-database"
                value=format!("{} · {}", status.database_backend, byte_size(status.database_size_bytes))
            />
            <Figure
                label="Runs queued"
                testid="status-queued"
                value=status.runs_queued.to_string()
            />
            <Figure label="Oldest queued run" testid="status-oldest-queued" value=oldest />
            <Figure
                label="Runs running / waiting"
                testid="status-running"
                value=format!("{} / {}", status.runs_running, status.runs_waiting)
            />
            <Figure
                label="Notifications to send / failed"
                testid="status-outbox"
                value=format!("{} / {}", status.outbox_pending, status.outbox_failed)
            />
            <Figure
                label="Live streams (this replica)"
                testid="status-live-streams"
                value=status.live_streams.to_string()
            />
            <Figure label="Retention" testid="status-retention" value=retention />
        </div>
        <section class="card mt-6">
            <h2 class="text-base font-semibold">"Last prune"</h2>
            <p class="mt-1 text-sm" data-testid="status-last-prune">{prune}</p>
        </section>
        <section class="mt-6">
            <h2 class="mb-2 text-base font-semibold">
                {format!("Replicas seen in the last {REPLICA_SEEN_WITHIN_SECONDS} s")}
            </h2>
            <ListTable testid="status-replicas" columns=&["Replica", "Version", "Started", "Last seen"]>
                {status.replicas.into_iter().map(|replica| {
                    let answering = replica.replica_id == this_replica;
                    view! {
                        <tr data-replica=replica.replica_id.clone()>
                            <td class="font-mono text-xs">
                                {replica.replica_id.clone()}
                                {answering.then(|| view! { <span class="ml-2 text-slate-500">"(this page's)"</span> })}
                            </td>
                            <td>{replica.version.clone()}</td>
                            <td>{format_millis(replica.started_at)}</td>
                            <td>{format!("{} ago", duration_text(now - replica.last_seen_at))}</td>
                        </tr>
                    }
                }).collect_view()}
            </ListTable>
        </section>
    }
}

#[component]
pub fn StatusPage() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let status = Resource::new(move || refresh.get(), |_| server_status());
    view! {
        <PageHeader
            title="Server status"
            subtitle="How this Slipway stands across its replicas: the same numbers as /metrics, for operators without Prometheus."
        />
        <div class="mb-4">
            <button type="button" class="btn-secondary" on:click=move |_| refresh.update(|count| *count += 1)>
                "Refresh"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the status…"</p> }>
            {move || status.get().map(|answer| match answer {
                Ok(status) => view! { <StatusView status /> }.into_any(),
                Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_say_them() {
        assert_eq!(byte_size(512), "512 B");
        assert_eq!(byte_size(1536), "1.5 KiB");
        assert_eq!(byte_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(duration_text(-5), "0 s");
        assert_eq!(duration_text(95_000), "1 min 35 s");
        assert_eq!(duration_text(3 * 3_600_000 + 60_000), "3 h 1 min");
        assert_eq!(duration_text(2 * 86_400_000 + 3_600_000), "2 d 1 h");
    }
}
