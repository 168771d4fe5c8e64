//! What a Kubernetes dry run would change (the output's `diff`), as a table per
//! object with images old → new highlighted, and the workloads a failed
//! rollout rolled back (`rolled_back`), when the output holds them.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, Deserialize)]
struct ObjectDiff {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    change: String,
    #[serde(default)]
    fields: Vec<FieldChange>,
    #[serde(default)]
    omitted_fields: usize,
}

#[derive(Clone, Debug, Deserialize)]
struct FieldChange {
    path: String,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct RolledBack {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    revision: i64,
    #[serde(default)]
    image: Option<String>,
}

/// Renders nothing when the output has neither `diff` nor `rolled_back`.
#[component]
pub(super) fn KubernetesChanges(output: Value) -> impl IntoView {
    let summary = output
        .pointer("/diff/summary")
        .and_then(Value::as_str)
        .map(str::to_string);
    let objects: Vec<ObjectDiff> = output
        .pointer("/diff/objects")
        .cloned()
        .and_then(|objects| serde_json::from_value(objects).ok())
        .unwrap_or_default();
    let rolled_back: Vec<RolledBack> = output
        .get("rolled_back")
        .cloned()
        .and_then(|list| serde_json::from_value(list).ok())
        .unwrap_or_default();
    view! {
        {summary.map(|summary| view! {
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Dry run: what would change"</h3>
            <p class="mt-1 text-sm text-slate-700" data-testid="diff-summary">{summary}</p>
            <div data-testid="diff">
                {objects.into_iter().map(object_view).collect_view()}
            </div>
        })}
        {(!rolled_back.is_empty()).then(|| view! {
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Rolled back"</h3>
            <ul class="mt-1 list-disc pl-5 text-sm" data-testid="rolled-back">
                {rolled_back.into_iter().map(|workload| view! {
                    <li>
                        {format!(
                            "{}/{}{} to revision {}",
                            workload.kind,
                            workload.name,
                            workload.namespace.map(|ns| format!(" in {ns}")).unwrap_or_default(),
                            workload.revision,
                        )}
                        {workload.image.map(|image| view! { " (image "<span class="font-mono">{image}</span>")" })}
                    </li>
                }).collect_view()}
            </ul>
        })}
    }
}

fn object_view(object: ObjectDiff) -> impl IntoView {
    let place = object
        .namespace
        .map(|namespace| format!(" in {namespace}"))
        .unwrap_or_default();
    let omitted = object.omitted_fields;
    view! {
        <div class="mt-2 overflow-x-auto rounded-md border border-slate-200">
            <p class="px-3 py-2 text-sm">
                <span class="font-medium">{format!("{}/{}", object.kind, object.name)}</span>
                {place}" "
                <span class="badge">{object.change}</span>
            </p>
            {(!object.fields.is_empty()).then(|| view! {
                <table class="table">
                    <thead>
                        <tr>
                            <th scope="col">"Field"</th>
                            <th scope="col">"Now"</th>
                            <th scope="col">"Would be"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {object.fields.into_iter().map(field_row).collect_view()}
                    </tbody>
                </table>
            })}
            {(omitted > 0).then(|| view! {
                <p class="px-3 py-2 text-xs text-slate-500">{format!("… and {omitted} more changed field(s)")}</p>
            })}
        </div>
    }
}

fn field_row(field: FieldChange) -> impl IntoView {
    // Images matter most to whoever reads a diff: make them stand out.
    let is_image = field.path.ends_with(".image");
    let row_class = if is_image {
        "bg-amber-50 font-semibold"
    } else {
        ""
    };
    let absent = || "(none)".to_string();
    view! {
        <tr class=row_class data-testid=is_image.then_some("diff-image")>
            <td class="break-all font-mono text-xs">{field.path}</td>
            <td class="break-all font-mono text-xs text-rose-800">{field.before.unwrap_or_else(absent)}</td>
            <td class="break-all font-mono text-xs text-emerald-800">
                {is_image.then_some("→ ")}
                {field.after.unwrap_or_else(absent)}
            </td>
        </tr>
    }
}
