//! The details of the chosen task: its state and timing, its error, the
//! Kubernetes objects it applied, its resolved inputs, its output and its log.

use leptos::prelude::*;
use serde_json::Value;

use super::approval::ApprovalPanel;
use super::diff::KubernetesChanges;
use super::log::TaskLog;
use super::{time_of_day, FailureBox, Timing};
use crate::execution::{LogLine, TaskRun};
use crate::pages::widgets::TaskStatusBadge;

/// `stage` names the task's stage; `output_open` keeps the output folded
/// or open across refetches of the run.
#[component]
pub(super) fn TaskDetail(
    execution_id: i64,
    stage: String,
    task: TaskRun,
    output_open: RwSignal<bool>,
    streamed: RwSignal<Vec<(i64, LogLine)>>,
    clock: ReadSignal<Option<i64>>,
) -> impl IntoView {
    let objects = if task.task_type == "kubernetes" {
        task.output
            .as_ref()
            .map(kubernetes_objects)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let objects_view = (!objects.is_empty()).then(|| {
        view! {
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Kubernetes objects"</h3>
            <div class="mt-2 overflow-x-auto rounded-md border border-slate-200">
                <table class="table" data-testid="kubernetes-objects">
                    <thead>
                        <tr>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Namespace"</th>
                            <th scope="col">"Image"</th>
                            <th scope="col">"Result"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {objects
                            .into_iter()
                            .map(|[kind, name, namespace, image, result]| {
                                view! {
                                    <tr>
                                        <td>{kind}</td>
                                        <td class="font-mono text-xs">{name}</td>
                                        <td class="font-mono text-xs">{namespace}</td>
                                        <td class="break-all font-mono text-xs">{image}</td>
                                        <td><span class="badge">{result}</span></td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        }
    });
    let approval_view = task.approval.clone().map(|approval| {
        view! {
            <ApprovalPanel
                execution_id
                place=format!("{stage}.{}", task.name)
                status=task.status
                approval
                clock
            />
        }
    });
    let inputs = task.inputs.as_ref().map(split_texts);
    let output = task.output.as_ref().map(pretty);
    let timing = Timing::of(&task);
    view! {
        <section class="card mt-6" aria-labelledby="task-detail-heading" data-testid="task-detail">
            <div class="flex flex-wrap items-center justify-between gap-3">
                <h2 id="task-detail-heading" class="font-mono text-base font-semibold">{format!("{stage} › {}", task.name)}</h2>
                <TaskStatusBadge status=Some(task.status) />
            </div>
            <p class="mt-1 text-sm text-slate-600">
                {format!(
                    "{} task · started {} · ",
                    task.task_type,
                    task.started_at.map(|at| format!("{} UTC", time_of_day(at))).unwrap_or_else(|| "—".into()),
                )}
                {move || timing.text(clock)}
            </p>
            {task.error.clone().map(|error| view! { <FailureBox error testid="task-error" /> })}
            {approval_view}
            {objects_view}
            {task.output.clone().map(|output| view! { <KubernetesChanges output /> })}
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Resolved inputs"</h3>
            {match inputs {
                Some((fields, texts)) => view! {
                    <div data-testid="task-inputs">
                        <pre class="mt-2 max-h-96 overflow-auto rounded-md bg-slate-100 p-3 font-mono text-xs">{fields}</pre>
                        {texts
                            .into_iter()
                            .map(|(key, text)| view! {
                                <p class="mt-3 font-mono text-xs font-semibold text-slate-600">{key}</p>
                                <pre class="mt-1 max-h-96 overflow-auto rounded-md bg-slate-100 p-3 font-mono text-xs">{text}</pre>
                            })
                            .collect_view()}
                    </div>
                }
                    .into_any(),
                None => view! { <p class="mt-1 text-sm text-slate-500">"Not resolved (the task did not start)."</p> }.into_any(),
            }}
            {match output {
                Some(text) => view! {
                    <details class="mt-5" prop:open=move || output_open.get()>
                        <summary
                            class="cursor-pointer text-sm font-semibold text-slate-700"
                            on:click=move |ev| {
                                ev.prevent_default();
                                output_open.update(|open| *open = !*open);
                            }
                        >
                            "Output (JSON)"
                        </summary>
                        <pre class="mt-2 max-h-96 overflow-auto rounded-md bg-slate-100 p-3 font-mono text-xs" data-testid="task-output">{text}</pre>
                    </details>
                }
                    .into_any(),
                None => view! { <p class="mt-5 text-sm text-slate-500">"No output."</p> }.into_any(),
            }}
            <h3 class="mt-5 text-sm font-semibold text-slate-700">"Log"</h3>
            <TaskLog task_run_id=task.id fetched=task.log streamed />
        </section>
    }
}

/// Kubernetes objects of a task output: kind, name, namespace, image, result.
fn kubernetes_objects(output: &Value) -> Vec<[String; 5]> {
    let text = |object: &Value, key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    output
        .get("objects")
        .and_then(Value::as_array)
        .map(|objects| {
            objects
                .iter()
                .map(|object| {
                    [
                        text(object, "kind"),
                        text(object, "name"),
                        text(object, "namespace"),
                        text(object, "image"),
                        text(object, "result"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Resolved inputs as JSON, with multi-line texts (YAML, bodies) taken out
/// to be shown as they are rather than as one escaped line.
fn split_texts(value: &Value) -> (String, Vec<(String, String)>) {
    let mut rest = value.clone();
    let mut texts = Vec::new();
    if let Value::Object(fields) = &mut rest {
        let long: Vec<String> = fields
            .iter()
            .filter(|(_, value)| value.as_str().is_some_and(|text| text.contains('\n')))
            .map(|(key, _)| key.clone())
            .collect();
        for key in long {
            if let Some(Value::String(text)) = fields.remove(&key) {
                texts.push((key, text));
            }
        }
    }
    (pretty(&rest), texts)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
