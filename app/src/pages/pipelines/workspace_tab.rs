//! The Workspace tab: the stages in order, each with its tasks as cards.
//! The fields of each type of task are in `task_fields`.

use leptos::prelude::*;

use super::approval_fields::ApprovalFields;
use super::places::{optional_text, remove_item, stage_field, swap_items, TaskAt};
use super::task_fields::{ConditionFields, KubernetesFields, RequestFields};
use crate::endpoint::Endpoint;
use crate::error::AppError;
use crate::pages::widgets::{CheckInput, FieldError, SelectInput, TextInput};
use crate::pipeline::{PipelineSpec, Stage, Task, TaskSpec};

#[component]
pub fn WorkspaceTab(
    spec: RwSignal<PipelineSpec>,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let count = Memo::new(move |_| spec.with(|spec| spec.stages.len()));
    let add_stage = move |_| {
        spec.update(|spec| {
            let name = spec.unused_stage_name();
            spec.stages.push(Stage {
                name,
                tasks: Vec::new(),
            });
        })
    };
    view! {
        <div class="mb-4 rounded-lg border border-slate-200 bg-white px-5 py-3 text-sm text-slate-600">
            "Stages run one after the other; the tasks of a stage run in parallel. Tasks read inputs as "
            <code class="rounded bg-slate-100 px-1 font-mono text-xs">"${input.NAME}"</code>
            " and outputs of earlier stages as "
            <code class="rounded bg-slate-100 px-1 font-mono text-xs">"${stage.task.output.key}"</code>
            "."
        </div>
        <FieldError error field="stages" />
        <Show when=move || { count.get() == 0 }>
            <p class="mb-4 text-sm text-slate-500">"No stages yet: add the first one."</p>
        </Show>
        <ol class="space-y-6">
            <For each=move || 0..count.get() key=|index| *index children=move |index| view! { <StageCard spec index count clusters error /> } />
        </ol>
        <button type="button" class="btn-secondary mt-6" on:click=add_stage>"Add stage"</button>
    }
}

/// Move up, Move down and Remove for row `index` of `count` rows.
#[component]
fn RowActions(
    index: usize,
    count: Memo<usize>,
    /// Swaps the row with the row at the given index.
    swap: Callback<usize>,
    remove: Callback<()>,
    remove_label: &'static str,
) -> impl IntoView {
    view! {
        <div class="flex flex-wrap gap-1">
            <button type="button" class="btn-link" disabled=move || index == 0 on:click=move |_| swap.run(index.wrapping_sub(1))>
                "Move up"
            </button>
            <button type="button" class="btn-link" disabled=move || { index + 1 >= count.get() } on:click=move |_| swap.run(index + 1)>
                "Move down"
            </button>
            <button type="button" class="btn-link text-red-700" on:click=move |_| remove.run(())>{remove_label}</button>
        </div>
    }
}

#[component]
fn StageCard(
    spec: RwSignal<PipelineSpec>,
    index: usize,
    count: Memo<usize>,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let stage = index;
    let tasks = Memo::new(move |_| {
        spec.with(|spec| spec.stages.get(stage).map_or(0, |stage| stage.tasks.len()))
    });
    let new_kind = RwSignal::new(TaskSpec::KINDS[0].to_string());
    let kind_options: Vec<(String, String)> = TaskSpec::KINDS
        .iter()
        .map(|kind| (kind.to_string(), TaskSpec::kind_label(kind).to_string()))
        .collect();
    let name = stage_field(
        spec,
        stage,
        |stage| stage.name.clone(),
        |stage, name| stage.name = name,
    );
    let swap = Callback::new(move |other: usize| {
        spec.update(|spec| swap_items(&mut spec.stages, stage, other))
    });
    let remove = Callback::new(move |()| spec.update(|spec| remove_item(&mut spec.stages, stage)));
    let add_task = move |_| {
        let kind = new_kind.get_untracked();
        spec.update(|spec| {
            // A new Kubernetes task starts on the project's first cluster.
            let endpoint = clusters.with_value(|clusters| {
                clusters
                    .iter()
                    .find(|endpoint| endpoint.belongs_to(&spec.project))
                    .map(|endpoint| endpoint.name.clone())
                    .unwrap_or_default()
            });
            if let Some(stage) = spec.stages.get_mut(stage) {
                let name = stage.unused_task_name();
                stage.tasks.push(Task::new_of_kind(&kind, name, endpoint));
            }
        })
    };
    let heading = format!("stage-{stage}-heading");
    let heading_id = heading.clone();
    view! {
        <li class="card" aria-labelledby=heading data-stage=move || name.value.get()>
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div class="flex items-end gap-3">
                    <span
                        id=heading_id
                        class="mb-1 inline-flex h-8 min-w-8 items-center justify-center rounded-full bg-slate-900 px-2 text-sm font-semibold text-white"
                        title="Stages run in this order"
                    >
                        <span class="sr-only">"Stage "</span>
                        {stage + 1}
                    </span>
                    <div class="w-64">
                        <TextInput
                            id=format!("stage-{stage}-name")
                            label="Stage name"
                            bind=name
                            error
                            field=format!("stages[{stage}].name")
                            mono=true
                        />
                    </div>
                </div>
                <RowActions index=stage count swap remove remove_label="Remove stage" />
            </div>
            <FieldError error field=format!("stages[{stage}].tasks") />
            <Show when=move || { tasks.get() == 0 }>
                <p class="mt-4 text-sm text-slate-500">"No tasks in this stage yet."</p>
            </Show>
            <Show when=move || { tasks.get() > 1 }>
                <p class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"These tasks run in parallel"</p>
            </Show>
            <div class="mt-4 space-y-4">
                <For
                    each=move || 0..tasks.get()
                    key=|index| *index
                    children=move |task| view! { <TaskCard at=TaskAt { spec, stage, task } tasks clusters error /> }
                />
            </div>
            <div class="mt-4 flex flex-wrap items-end gap-3 border-t border-slate-100 pt-4">
                <SelectInput
                    id=format!("stage-{stage}-new-task-type")
                    label="New task type"
                    bind=new_kind
                    options=kind_options
                />
                <button type="button" class="btn-secondary mb-0.5" on:click=add_task>"Add task"</button>
            </div>
        </li>
    }
}

/// Fields of a task that have an input of their own; errors about any other
/// field of the task show at the bottom of its card.
const TASK_FIELDS: &[&str] = &[
    "name",
    "precondition",
    "endpoint",
    "action",
    "yaml",
    "rollout_timeout_seconds",
    "to_revision",
    "method",
    "url",
    "body",
    "expected_status",
    "condition",
    "interval_seconds",
    "timeout_seconds",
    "max_attempts",
    "expression",
];

/// The error about a field of the task at `prefix` that has no input of its
/// own (see [`TASK_FIELDS`]), with the field's name.
fn error_without_input(error: AppError, prefix: &str) -> Option<String> {
    let AppError::Invalid { field, message } = error else {
        return None;
    };
    let rest = field.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    (!TASK_FIELDS.contains(&rest)).then(|| {
        if rest.is_empty() {
            message
        } else {
            format!("{rest}: {message}")
        }
    })
}

#[component]
fn TaskCard(
    at: TaskAt,
    tasks: Memo<usize>,
    clusters: StoredValue<Vec<Endpoint>>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let TaskAt { spec, stage, task } = at;
    let kind =
        Memo::new(move |_| spec.with(|spec| at.find(spec).map_or("", |task| task.spec.kind())));
    let name = at.field(|task| task.name.clone(), |task, name| task.name = name);
    let swap = Callback::new(move |other: usize| {
        spec.update(|spec| {
            if let Some(stage) = spec.stages.get_mut(stage) {
                swap_items(&mut stage.tasks, task, other);
            }
        })
    });
    let remove = Callback::new(move |()| {
        spec.update(|spec| {
            if let Some(stage) = spec.stages.get_mut(stage) {
                remove_item(&mut stage.tasks, task);
            }
        })
    });
    let prefix = at.path();
    let id = format!("task-{stage}-{task}");
    let field = {
        let prefix = prefix.clone();
        move |name: &str| format!("{prefix}.{name}")
    };
    let other_error = {
        let prefix = prefix.clone();
        move || {
            error
                .get()
                .and_then(|error| error_without_input(error, &prefix))
        }
    };
    let form = {
        let id = id.clone();
        move || {
            let id = id.clone();
            match kind.get() {
                "kubernetes" => view! { <KubernetesFields at id clusters error /> }.into_any(),
                "rest" => view! { <RequestFields at id error polling=false /> }.into_any(),
                "poll" => view! { <RequestFields at id error polling=true /> }.into_any(),
                "condition" => view! { <ConditionFields at id error /> }.into_any(),
                "approval" => view! { <ApprovalFields at id error /> }.into_any(),
                _ => ().into_any(),
            }
        }
    };
    view! {
        <article
            class="rounded-md border border-slate-200 bg-slate-50 p-4"
            data-task=move || name.value.get()
            aria-label=move || format!("Task {}", name.value.get())
        >
            <div class="mb-3 flex flex-wrap items-center justify-between gap-2">
                <span class="badge bg-slate-800 text-white">{move || TaskSpec::kind_label(kind.get())}</span>
                <RowActions index=task count=tasks swap remove remove_label="Remove task" />
            </div>
            <div class="grid gap-4 md:grid-cols-2">
                <TextInput
                    id=format!("{id}-name")
                    label="Task name"
                    bind=name
                    error
                    field=field("name")
                    mono=true
                />
                <TextInput
                    id=format!("{id}-precondition")
                    label="Precondition"
                    bind=at.field(
                        |task| task.precondition.clone().unwrap_or_default(),
                        |task, precondition| task.precondition = optional_text(precondition),
                    )
                    error
                    field=field("precondition")
                    mono=true
                    placeholder="always"
                    hint="An expression; when false the task is skipped."
                />
                <div class="md:col-span-2">
                    <CheckInput
                        id=format!("{id}-continue-on-failure")
                        label="Continue on failure"
                        bind=at.field(|task| task.continue_on_failure, |task, on| task.continue_on_failure = on)
                        hint="A failure of this task does not fail the stage."
                    />
                </div>
            </div>
            <div class="mt-4 grid gap-4 border-t border-slate-200 pt-4 md:grid-cols-2">{form}</div>
            {move || other_error().map(|message| view! {
                <p class="mt-3 text-sm text-red-700" data-field-error=prefix.clone()>{message}</p>
            })}
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_without_an_input_go_to_the_bottom_of_the_card() {
        let prefix = "stages[0].tasks[1]";
        let at = |field: &str| error_without_input(AppError::invalid(field, "is wrong"), prefix);
        assert_eq!(at("stages[0].tasks[1]"), Some("is wrong".to_string()));
        assert_eq!(
            at("stages[0].tasks[1].headers"),
            Some("headers: is wrong".to_string())
        );
        assert_eq!(at("stages[0].tasks[1].url"), None);
        assert_eq!(at("stages[0].tasks[2]"), None);
        assert_eq!(error_without_input(AppError::Internal, prefix), None);
    }
}
