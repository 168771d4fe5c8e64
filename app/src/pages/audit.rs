//! Audit: who did what, newest first — for global admins (everything) and
//! project administrators (their projects' entries). Filters by project,
//! user and action live in the address, so a filtered list can be shared.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::Value;

use super::widgets::{
    format_millis, navigation_target, AuditOutcomeBadge, EmptyState, ListTable, PageHeader,
};
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditTargetKind};
use crate::functions::{list_audit, list_projects};
use crate::model::{ProjectRole, User};
use crate::pipeline::percent_encoded;

/// Entries per page.
const PAGE_SIZE: u32 = 50;
const PATH: &str = "/audit";

/// The address of the page with these filters.
fn address(filter: &AuditFilter) -> String {
    let parts: Vec<String> = [
        ("project", filter.project.clone()),
        ("user", filter.user.clone()),
        ("action", filter.action.clone()),
        ("before", filter.before.map(|id| id.to_string())),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|value| format!("{name}={}", percent_encoded(&value))))
    .collect();
    if parts.is_empty() {
        PATH.to_string()
    } else {
        format!("{PATH}?{}", parts.join("&"))
    }
}

/// The detail as one line: `role: developer · previous_role: —`.
fn detail_text(detail: &Value) -> String {
    fn value_text(value: &Value) -> String {
        match value {
            Value::Null => "—".into(),
            Value::String(text) => text.clone(),
            Value::Array(items) if items.is_empty() => "none".into(),
            Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        }
    }
    match detail {
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| format!("{}: {}", key.replace('_', " "), value_text(value)))
            .collect::<Vec<_>>()
            .join(" · "),
        other => value_text(other),
    }
}

/// Where a target can be opened, for the kinds that have a page of their own.
fn target_href(kind: AuditTargetKind, id: i64) -> Option<String> {
    match kind {
        AuditTargetKind::Execution => Some(format!("/executions/{id}")),
        AuditTargetKind::Pipeline => Some(format!("/pipelines/{id}")),
        _ => None,
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let target = navigation_target();
    let filter = Memo::new(move |_| {
        query.with(|query| {
            let given = |name: &str| query.get(name).filter(|value| !value.trim().is_empty());
            AuditFilter {
                project: given("project"),
                user: given("user"),
                action: given("action").filter(|name| AuditAction::parse(name).is_some()),
                before: given("before").and_then(|text| text.parse().ok()),
                limit: Some(PAGE_SIZE),
            }
        })
    });
    let entries = Resource::new(move || filter.get(), list_audit);
    let projects = Resource::new(|| (), |_| list_projects());
    let is_admin = use_context::<User>().is_some_and(|user| user.is_admin);
    // A change of one filter starts again at the newest entries.
    let go = move |change: &dyn Fn(&mut AuditFilter)| {
        let mut next = filter.get_untracked();
        change(&mut next);
        next.before = None;
        target.set(Some(address(&next)));
    };
    let chosen_text = |value: String| (!value.trim().is_empty()).then(|| value.trim().to_string());

    view! {
        <PageHeader
            title="Audit"
            subtitle="Who did what, newest first: sign-ins, tokens, users and members, endpoints, pipelines, runs and webhooks. Secrets are never recorded."
        />
        <div class="card mb-6 flex flex-wrap items-end gap-4" role="search" aria-label="Filter the audit trail">
            <div>
                <label class="label" for="audit-project">"Project"</label>
                <select class="input min-w-52" id="audit-project"
                    on:change=move |ev| {
                        let project = chosen_text(event_target_value(&ev));
                        go(&move |filter| filter.project = project.clone());
                    }>
                    <option value="" selected=move || filter.with(|filter| filter.project.is_none())
                        prop:selected=move || filter.with(|filter| filter.project.is_none())>
                        "All projects"
                    </option>
                    <Transition fallback=|| ()>
                        {move || {
                            projects
                                .get()
                                .and_then(Result::ok)
                                .unwrap_or_default()
                                .into_iter()
                                .filter(|project| is_admin || project.my_role == Some(ProjectRole::Administrator))
                                .map(|project| {
                                    let id = project.id.to_string();
                                    let value = id.clone();
                                    let chosen = move || filter.with(|filter| filter.project.as_deref() == Some(id.as_str()));
                                    view! {
                                        <option value=value selected=chosen.clone() prop:selected=chosen>
                                            {project.name}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </Transition>
                </select>
            </div>
            <div>
                <label class="label" for="audit-user">"User"</label>
                <input class="input min-w-44" id="audit-user" type="text" placeholder="name or id"
                    prop:value=move || filter.with(|filter| filter.user.clone().unwrap_or_default())
                    on:change=move |ev| {
                        let user = chosen_text(event_target_value(&ev));
                        go(&move |filter| filter.user = user.clone());
                    } />
            </div>
            <div>
                <label class="label" for="audit-action">"Action"</label>
                <select class="input min-w-60" id="audit-action"
                    on:change=move |ev| {
                        let action = chosen_text(event_target_value(&ev));
                        go(&move |filter| filter.action = action.clone());
                    }>
                    <option value="" selected=move || filter.with(|filter| filter.action.is_none())
                        prop:selected=move || filter.with(|filter| filter.action.is_none())>
                        "All actions"
                    </option>
                    {action_options(filter)}
                </select>
            </div>
            <a class="btn-link" href=PATH>"Clear filters"</a>
        </div>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the audit trail…"</p> }>
            {move || {
                entries
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState title="No entries match">
                                    "Nothing was recorded with these filters. "
                                    <a class="text-sky-700 underline" href=PATH>"Show every entry"</a>
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) => view! { <AuditTable list filter /> }.into_any(),
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// The action select's options, grouped by domain (`session`, `webhook`, …).
fn action_options(filter: Memo<AuditFilter>) -> impl IntoView {
    let mut groups: Vec<(&'static str, Vec<AuditAction>)> = Vec::new();
    for action in AuditAction::ALL {
        match groups.last_mut() {
            Some((domain, actions)) if *domain == action.domain() => actions.push(*action),
            _ => groups.push((action.domain(), vec![*action])),
        }
    }
    groups
        .into_iter()
        .map(|(domain, actions)| {
            let options = actions
                .into_iter()
                .map(|action| {
                    let name = action.as_str();
                    let chosen =
                        move || filter.with(|filter| filter.action.as_deref() == Some(name));
                    view! {
                        <option value=name selected=chosen prop:selected=chosen>
                            {format!("{} ({name})", action.label())}
                        </option>
                    }
                })
                .collect_view();
            view! { <optgroup label=domain>{options}</optgroup> }
        })
        .collect_view()
}

#[component]
fn AuditTable(list: Vec<AuditEntry>, filter: Memo<AuditFilter>) -> impl IntoView {
    let current = filter.get_untracked();
    let older = (list.len() >= PAGE_SIZE as usize)
        .then(|| list.last().map(|entry| entry.id))
        .flatten()
        .map(|before| {
            address(&AuditFilter {
                before: Some(before),
                ..current.clone()
            })
        });
    let newest = current.before.is_some().then(|| {
        address(&AuditFilter {
            before: None,
            ..current.clone()
        })
    });
    let rows = list
        .into_iter()
        .map(|entry| {
            let target = match (entry.target_kind, entry.target.clone()) {
                (Some(kind), Some(name)) => {
                    let text = format!("{} {name}", kind.label());
                    match entry.target_id.and_then(|id| target_href(kind, id)) {
                        Some(href) => view! { <a class="text-sky-700 underline" href=href>{text}</a> }.into_any(),
                        None => view! { <span>{text}</span> }.into_any(),
                    }
                }
                _ => view! { <span class="text-slate-400">"—"</span> }.into_any(),
            };
            view! {
                <tr data-entry=entry.id data-action=entry.action.as_str()>
                    <td class="whitespace-nowrap text-slate-600">{format_millis(entry.at)}</td>
                    <td class="whitespace-nowrap" data-testid="actor">{entry.actor.clone()}</td>
                    <td>
                        <span class="block">{entry.action.label()}</span>
                        <code class="text-xs text-slate-500">{entry.action.as_str()}</code>
                    </td>
                    <td class="text-slate-600">{entry.project.clone().unwrap_or_else(|| "—".into())}</td>
                    <td data-testid="target">{target}</td>
                    <td><AuditOutcomeBadge outcome=entry.outcome /></td>
                    <td class="max-w-72 text-xs text-slate-600" data-testid="detail">{detail_text(&entry.detail)}</td>
                    <td class="whitespace-nowrap font-mono text-xs text-slate-600">{entry.client.clone().unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <ListTable testid="audit-table" columns=&["When", "User", "Action", "Project", "Target", "Outcome", "Detail", "From"]>{rows}</ListTable>
        <nav class="mt-4 flex gap-3" aria-label="Pages">
            {newest.map(|href| view! { <a class="btn-secondary" href=href>"Newest"</a> })}
            {older.map(|href| view! { <a class="btn-secondary" href=href>"Older"</a> })}
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_keeps_every_filter_and_encodes_names() {
        let filter = AuditFilter {
            project: Some("7".into()),
            user: Some("Ann Lee".into()),
            action: Some("member.added".into()),
            before: Some(40),
            limit: Some(PAGE_SIZE),
        };
        assert_eq!(
            address(&filter),
            "/audit?project=7&user=Ann%20Lee&action=member.added&before=40"
        );
        assert_eq!(address(&AuditFilter::default()), "/audit");
    }

    #[test]
    fn the_detail_reads_as_one_line() {
        let detail = serde_json::json!({"role": "developer", "previous_role": null, "sensitive_fields_entered": ["password"]});
        assert_eq!(
            detail_text(&detail),
            "previous role: — · role: developer · sensitive fields entered: password"
        );
    }
}
