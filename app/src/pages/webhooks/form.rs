//! The form that creates or edits a Docker webhook: what it matches, the
//! registry endpoint (or a shortcut that creates one in place), the pipeline
//! with values for its inputs, the API token runs are attributed to, the
//! addresses pushes may come from and how many deliveries a minute it takes.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::endpoint_shortcut::EndpointShortcut;
use super::pipeline_inputs::{typed_and_blank, webhook_inputs, PipelineInputs};
use super::tag_tester::TagTester;
use crate::endpoint::{Endpoint, EndpointKind};
use crate::error::AppError;
use crate::functions::{
    list_api_tokens, list_endpoints, list_pipelines, SaveEndpoint, SaveWebhook,
};
use crate::model::Project;
use crate::pages::widgets::{
    last_error, loaded, project_options, Bound, ErrorBanner, FieldError, SelectInput, TextInput,
};
use crate::webhook::{
    DockerWebhook, DockerWebhookInput, DEFAULT_MAX_DELIVERIES_PER_MINUTE,
    DELIVERIES_PER_MINUTE_RANGE,
};

/// Fields the form shows an error beside; any other error goes to the banner.
fn shown_beside(field: &str) -> bool {
    matches!(
        field,
        "project"
            | "name"
            | "description"
            | "endpoint"
            | "pipeline"
            | "api_token"
            | "image"
            | "tag"
            | "max_deliveries_per_minute"
    ) || field.starts_with("inputs.")
        || field.starts_with("source_cidrs[")
}

/// Where a new webhook starts: in `project_id`, enabled, matching any push.
fn blank_webhook(project_id: i64) -> DockerWebhook {
    DockerWebhook {
        id: 0,
        project: String::new(),
        project_id,
        name: String::new(),
        description: String::new(),
        endpoint: String::new(),
        endpoint_id: 0,
        pipeline: String::new(),
        pipeline_id: 0,
        api_token: String::new(),
        api_token_id: 0,
        run_as: String::new(),
        image: String::new(),
        tag: String::new(),
        inputs: BTreeMap::new(),
        enabled: true,
        newer_only: false,
        source_cidrs: Vec::new(),
        max_deliveries_per_minute: DEFAULT_MAX_DELIVERIES_PER_MINUTE,
        hub_sync: Default::default(),
        last_event: None,
        hook_url: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// The delivery limit as typed: a whole number, or the error shown beside
/// the field (the range itself is the server's to check).
fn delivery_limit(typed: &str) -> Result<i64, AppError> {
    typed.trim().parse::<i64>().map_err(|_| {
        AppError::invalid(
            "max_deliveries_per_minute",
            &format!(
                "must be a whole number of deliveries a minute, from {} to {}",
                DELIVERIES_PER_MINUTE_RANGE.start(),
                DELIVERIES_PER_MINUTE_RANGE.end()
            ),
        )
    })
}

/// The error of an allow-list line, as `line N: why`; the server names the
/// line by its index (`source_cidrs[N]`).
fn allow_list_error(error: &AppError) -> Option<String> {
    match error {
        AppError::Invalid { field, message } if field.starts_with("source_cidrs[") => {
            let line = field
                .trim_start_matches("source_cidrs[")
                .trim_end_matches(']')
                .parse::<usize>()
                .map(|index| index + 1)
                .unwrap_or(0);
            Some(format!("line {line}: {message}"))
        }
        _ => None,
    }
}

#[component]
pub(super) fn WebhookForm(
    existing: Option<DockerWebhook>,
    projects: Vec<Project>,
    save: ServerAction<SaveWebhook>,
    on_cancel: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let add_endpoint = ServerAction::<SaveEndpoint>::new();
    let endpoints = Resource::new(move || add_endpoint.version().get(), |_| list_endpoints());
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    let tokens = Resource::new(|| (), |_| list_api_tokens());

    let id = existing.as_ref().map(|hook| hook.id);
    let editing_existing = id.is_some();
    let keep_token = existing.as_ref().map(|hook| hook.api_token.clone());
    let start = existing.clone().unwrap_or_else(|| {
        blank_webhook(
            projects
                .first()
                .map(|project| project.id)
                .unwrap_or_default(),
        )
    });
    let id_text = |id: i64| {
        if id == 0 {
            String::new()
        } else {
            id.to_string()
        }
    };
    let project = RwSignal::new(id_text(start.project_id));
    let name = RwSignal::new(start.name.clone());
    let description = RwSignal::new(start.description.clone());
    let endpoint = RwSignal::new(id_text(start.endpoint_id));
    let pipeline = RwSignal::new(id_text(start.pipeline_id));
    let api_token = RwSignal::new(String::new());
    let image = RwSignal::new(start.image.clone());
    let tag = RwSignal::new(start.tag.clone());
    let enabled = RwSignal::new(start.enabled);
    let newer_only = RwSignal::new(start.newer_only);
    let cidrs = RwSignal::new(start.source_cidrs.join("\n"));
    let limit = RwSignal::new(start.max_deliveries_per_minute.to_string());
    // A limit that is no number is refused here, before anything is sent.
    let typed_wrong = RwSignal::new(None::<AppError>);
    // Values typed for the pipeline's own inputs, and those sent empty on purpose.
    let (typed, blank) = typed_and_blank(&start.inputs);
    let values = RwSignal::new(typed);
    let blanks = RwSignal::new(blank);
    let creating_endpoint = RwSignal::new(false);
    // The shortcut closes; a created endpoint becomes the chosen one.
    let endpoint_done = move |created: Option<Endpoint>| {
        if let Some(created) = created {
            endpoint.set(created.id.to_string());
        }
        creating_endpoint.set(false);
    };

    let chosen_pipeline = Memo::new(move |_| {
        let wanted = pipeline.get();
        pipelines
            .get()
            .and_then(Result::ok)
            .and_then(|list| list.into_iter().find(|each| each.id.to_string() == wanted))
    });
    let input = move |max_deliveries_per_minute: i64| {
        let inputs = chosen_pipeline
            .get_untracked()
            .map(|chosen| {
                values.with_untracked(|typed| {
                    blanks.with_untracked(|blank| webhook_inputs(&chosen, typed, blank))
                })
            })
            .unwrap_or_default();
        DockerWebhookInput {
            project: project.get_untracked(),
            name: name.get_untracked(),
            description: description.get_untracked(),
            endpoint: endpoint.get_untracked(),
            pipeline: pipeline.get_untracked(),
            api_token: api_token.get_untracked(),
            image: image.get_untracked().trim().to_string(),
            tag: tag.get_untracked().trim().to_string(),
            inputs,
            enabled: Some(enabled.get_untracked()),
            newer_only: Some(newer_only.get_untracked()),
            source_cidrs: cidrs
                .get_untracked()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect(),
            max_deliveries_per_minute: Some(max_deliveries_per_minute),
        }
    };
    let answered = last_error(move || save.value().get());
    let error = Signal::derive(move || typed_wrong.get().or_else(|| answered.get()));
    let banner = Signal::derive(move || {
        error
            .get()
            .filter(|error| match error {
                AppError::Invalid { field, .. } => !shown_beside(field),
                _ => true,
            })
            .map(|error| error.to_string())
    });
    let cidr_errors = move || error.get().and_then(|error| allow_list_error(&error));
    let cancel = on_cancel.clone();
    // Endpoints and pipelines belong to one project: choosing another clears them.
    let choose_project = Bound {
        value: project.into(),
        set: Callback::new(move |chosen| {
            project.set(chosen);
            endpoint.set(String::new());
            pipeline.set(String::new());
        }),
    };
    let no_projects = projects.is_empty();

    view! {
        <section class="card mb-8" aria-labelledby="webhook-form-heading">
            <h2 id="webhook-form-heading" class="text-base font-semibold">
                {if editing_existing { "Edit webhook for Docker" } else { "New webhook for Docker" }}
            </h2>
            <p class="mt-1 text-sm text-slate-600">
                "When the registry POSTs a push of a matching image and tag, the pipeline runs with the Docker event as input."
            </p>
            {no_projects.then(|| view! {
                <p class="mt-3 text-sm text-amber-900" role="status">
                    "You are not a developer of any project: ask for that role, or create a project on "
                    <a class="underline" href="/projects">"Projects"</a>"."
                </p>
            })}
            <form class="mt-4 grid gap-4 md:grid-cols-2" on:submit=move |ev| {
                ev.prevent_default();
                match delivery_limit(&limit.get_untracked()) {
                    Ok(per_minute) => {
                        typed_wrong.set(None);
                        save.dispatch(SaveWebhook { id, input: input(per_minute) });
                    }
                    Err(problem) => typed_wrong.set(Some(problem)),
                }
            }>
                <SelectInput id="webhook-project" label="Project" bind=choose_project
                    options=project_options(&projects) error field="project" disabled=editing_existing />
                <TextInput id="webhook-name" label="Name" bind=name error field="name" placeholder="e.g. demo_webhook" />
                <div class="md:col-span-2">
                    <TextInput id="webhook-description" label="Description" bind=description error field="description" />
                </div>

                // The registry endpoint, or a small form to create one in place.
                <div class="md:col-span-2">
                    <label class="label" for="webhook-endpoint">"Docker registry endpoint"</label>
                    <div class="flex flex-wrap items-center gap-2">
                        <LoadedSelect id="webhook-endpoint" chosen=endpoint unchosen="Choose an endpoint" choices=move || {
                            let wanted = project.get();
                            loaded(endpoints.get())
                                .into_iter()
                                .filter(|each| each.kind == EndpointKind::DockerRegistry && each.project_id.to_string() == wanted)
                                .map(|each| (each.id.to_string(), each.name))
                                .collect()
                        } />
                        <Show when=move || !creating_endpoint.get()>
                            <button type="button" class="btn-secondary" on:click=move |_| {
                                add_endpoint.clear();
                                creating_endpoint.set(true);
                            }>"Create endpoint"</button>
                        </Show>
                    </div>
                    <p class="mt-1 text-xs text-slate-500">"The registry the images are pushed to; for Docker Hub, Slipway also creates the webhook there."</p>
                    <FieldError error field="endpoint" />
                    <Show when=move || creating_endpoint.get()>
                        <EndpointShortcut
                            project
                            save=add_endpoint
                            on_done=endpoint_done
                        />
                    </Show>
                </div>

                // The pipeline and the values of its inputs.
                <div class="md:col-span-2">
                    <label class="label" for="webhook-pipeline">"Pipeline"</label>
                    <LoadedSelect id="webhook-pipeline" chosen=pipeline unchosen="Choose a pipeline" choices=move || {
                        let wanted = project.get();
                        loaded(pipelines.get())
                            .into_iter()
                            .filter(|each| each.project_id.to_string() == wanted)
                            .map(|each| (each.id.to_string(), each.spec.name))
                            .collect()
                    } />
                    <FieldError error field="pipeline" />
                    {move || chosen_pipeline.get().map(|chosen| view! { <PipelineInputs chosen values blanks error /> })}
                </div>

                <div class="md:col-span-2">
                    <label class="label" for="webhook-token">"API token"</label>
                    // Empty keeps the token of an existing webhook.
                    <LoadedSelect id="webhook-token" described_by="webhook-token-hint" chosen=api_token
                        unchosen=match keep_token.clone() {
                            Some(current) => format!("Keep the current token ({current})"),
                            None => "Choose a token".to_string(),
                        }
                        choices=move || {
                            loaded(tokens.get())
                                .into_iter()
                                .filter(|token| token.revoked_at.is_none())
                                .map(|token| (token.id.to_string(), format!("{} ({}…)", token.name, token.prefix)))
                                .collect()
                        } />
                    <p id="webhook-token-hint" class="mt-1 text-xs text-slate-500">
                        <Transition fallback=|| ()>
                            {move || {
                                let none = tokens
                                    .get()
                                    .and_then(Result::ok)
                                    .is_some_and(|list| list.iter().all(|token| token.revoked_at.is_some()));
                                if none {
                                    view! {
                                        <span data-testid="no-token-hint">
                                            "You have no active API token. Create one on "
                                            <a class="text-sky-700 underline" href="/settings/tokens">"API tokens"</a>
                                            ", then come back here."
                                        </span>
                                    }
                                        .into_any()
                                } else {
                                    view! { <span>"Runs started by this webhook are attributed to the token's user."</span> }.into_any()
                                }
                            }}
                        </Transition>
                    </p>
                    <FieldError error field="api_token" />
                </div>

                <TextInput id="webhook-image" label="Build image" bind=image error field="image" mono=true
                    placeholder="e.g. svendowideit/testhook"
                    hint="The repository pushed to. A glob (*) or re:regex matches several; empty matches any." />
                <TextInput id="webhook-tag" label="Tag" bind=tag error field="tag" mono=true placeholder="any tag"
                    hint="e.g. latest, v* or semver:^1.4 (versions in a range); empty matches any tag." />
                <div>
                    // Its errors name a line, not the field: shown here, not by the input.
                    <TextInput id="webhook-cidrs" label="Allowed sources" bind=cidrs rows=3 mono=true
                        placeholder="e.g. 203.0.113.0/24"
                        hint="Addresses (CIDR) pushes may come from, one per line; empty allows any." />
                    {move || cidr_errors().map(|message| view! {
                        <p class="mt-1 text-sm text-red-700" role="alert" data-field-error="source_cidrs">{message}</p>
                    })}
                </div>
                <TextInput id="webhook-limit" label="Deliveries a minute" bind=limit error
                    field="max_deliveries_per_minute" number=true
                    hint="Beyond this the registry is answered 429 (retry later); refused deliveries are counted in one Activity row a minute." />
                <div class="flex flex-col gap-3 pt-6">
                    <label class="flex items-center gap-2 text-sm">
                        <input type="checkbox" prop:checked=move || enabled.get() on:change=move |ev| enabled.set(event_target_checked(&ev)) />
                        "Enabled (a disabled webhook records pushes without running anything)"
                    </label>
                    <label class="flex items-center gap-2 text-sm">
                        <input id="webhook-newer-only" type="checkbox" prop:checked=move || newer_only.get()
                            on:change=move |ev| newer_only.set(event_target_checked(&ev)) />
                        "Newer only (ignore a push whose version, or push time, is not newer than the last one deployed)"
                    </label>
                </div>
                <div class="md:col-span-2">
                    <TagTester image tag newer_only webhook=id />
                </div>
                <div class="flex flex-wrap items-center gap-3 md:col-span-2">
                    <button type="submit" class="btn-primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                    <button type="button" class="btn-link" on:click=move |_| cancel()>"Cancel"</button>
                </div>
            </form>
            <ErrorBanner message=banner />
        </section>
    }
}

/// A select whose choices (value, text) come from a resource, so they are
/// read inside a Transition; its first option, value empty, stands for none
/// chosen yet.
#[component]
fn LoadedSelect(
    id: &'static str,
    chosen: RwSignal<String>,
    #[prop(into)] unchosen: String,
    choices: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    #[prop(optional)] described_by: Option<&'static str>,
) -> impl IntoView {
    view! {
        <select class="input max-w-md" id=id aria-describedby=described_by
            on:change=move |ev| chosen.set(event_target_value(&ev))>
            <option value="" prop:selected=move || chosen.get().is_empty()>{unchosen}</option>
            <Transition fallback=|| ()>
                {move || {
                    choices()
                        .into_iter()
                        .map(|(value, text)| {
                            let current = value.clone();
                            view! {
                                <option value=value prop:selected=move || chosen.get() == current>
                                    {text}
                                </option>
                            }
                        })
                        .collect_view()
                }}
            </Transition>
        </select>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_errors_name_the_line_from_one() {
        let error = AppError::Invalid {
            field: "source_cidrs[2]".into(),
            message: "not a CIDR".into(),
        };
        assert_eq!(
            allow_list_error(&error).as_deref(),
            Some("line 3: not a CIDR")
        );
        let other = AppError::Invalid {
            field: "name".into(),
            message: "required".into(),
        };
        assert_eq!(allow_list_error(&other), None);
    }

    #[test]
    fn the_delivery_limit_must_be_a_whole_number() {
        assert_eq!(delivery_limit(" 120 ").ok(), Some(120));
        // Out of range is the server's answer, with the range in it.
        assert_eq!(delivery_limit("0").ok(), Some(0));
        for typed in ["", "many", "1.5", "99999999999999999999"] {
            let error = delivery_limit(typed).unwrap_err();
            assert_eq!(
                error.for_field("max_deliveries_per_minute").as_deref(),
                Some("must be a whole number of deliveries a minute, from 1 to 100000"),
                "{typed:?}"
            );
        }
    }
}
