//! Endpoints: Docker registries and Kubernetes clusters, with a Validate
//! action that really checks the credentials.

use leptos::prelude::*;

use super::access::{can_edit, signed_in_admin};
use super::widgets::{
    enum_options, format_millis, loaded, project_options, Bound, ConfirmInPlace, EmptyState,
    FormError, ListTable, PageHeader, SelectInput, TextInput,
};
use crate::endpoint::*;
use crate::functions::{
    list_endpoints, list_projects, DeleteEndpoint, SaveEndpoint, ValidateEndpoint,
    ValidateEndpointDraft,
};
use crate::model::Project;

#[component]
pub fn EndpointsPage() -> impl IntoView {
    let save = ServerAction::<SaveEndpoint>::new();
    let delete = ServerAction::<DeleteEndpoint>::new();
    let validate = ServerAction::<ValidateEndpoint>::new();
    let endpoints = Resource::new(
        move || {
            (
                save.version().get(),
                delete.version().get(),
                validate.version().get(),
            )
        },
        |_| list_endpoints(),
    );
    let projects = Resource::new(|| (), |_| list_projects());
    let is_admin = signed_in_admin();
    // None: no form open; Some(None): new endpoint; Some(Some(e)): editing e.
    let editing = RwSignal::new(None::<Option<Endpoint>>);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            editing.set(None);
        }
    });
    let delete_error = move || match delete.value().get() {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };

    view! {
        <div class="flex flex-wrap items-start justify-between gap-4">
            <PageHeader
                title="Endpoints"
                subtitle="Docker registries that images come from, and Kubernetes clusters they are deployed to."
            />
            <button type="button" class="btn-primary" on:click=move |_| editing.set(Some(None))>
                "New endpoint"
            </button>
        </div>
        <Transition fallback=|| ()>
            {move || {
                let projects = loaded(projects.get());
                editing
                    .get()
                    .map(|existing| {
                        view! { <EndpointForm existing projects=projects.clone() save on_cancel=move || editing.set(None) /> }
                    })
            }}
        </Transition>
        {move || delete_error().map(|message| view! { <p class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert">{message}</p> })}
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading endpoints…"</p> }>
            {move || {
                let projects = loaded(projects.get());
                endpoints
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState title="No endpoints yet">
                                    "Add the Docker registry your images are pushed to, and the Kubernetes cluster to deploy them to."
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            let rows = list
                                .into_iter()
                                .map(|endpoint| {
                                    let editable = can_edit(&projects, endpoint.project_id, is_admin);
                                    view! { <EndpointRow endpoint editable editing delete validate /> }
                                })
                                .collect_view();
                            view! {
                                <ListTable testid="endpoints-table" columns=&["Name", "Project", "Type", "URL", "Last validation", ""]>{rows}</ListTable>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
}

fn type_label(endpoint: &Endpoint) -> String {
    match endpoint.kind {
        EndpointKind::DockerRegistry => match endpoint.settings.server_type.unwrap_or_default() {
            RegistryServerType::DockerHub => "Docker registry · Docker Hub".into(),
            RegistryServerType::Registry => "Docker registry · Registry v2".into(),
        },
        EndpointKind::Kubernetes => "Kubernetes".into(),
    }
}

#[component]
pub fn ValidationBadge(validation: Option<Validation>) -> impl IntoView {
    match validation {
        None => view! { <span class="text-sm text-slate-500">"not validated"</span> }.into_any(),
        Some(validation) => {
            let (class, mark, word) = if validation.ok {
                ("badge badge-green", "✓", "valid")
            } else {
                ("badge badge-red", "✗", "failed")
            };
            view! {
                <span class=class data-validation=word>{format!("{mark} {word}")}</span>
                <span class="ml-2 text-xs text-slate-600">{validation.message}</span>
                <span class="block text-xs text-slate-400">{format_millis(validation.checked_at)}</span>
            }
                .into_any()
        }
    }
}

#[component]
fn EndpointRow(
    endpoint: Endpoint,
    editable: bool,
    editing: RwSignal<Option<Option<Endpoint>>>,
    delete: ServerAction<DeleteEndpoint>,
    validate: ServerAction<ValidateEndpoint>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let id = endpoint.id;
    let delete_question = StoredValue::new(format!("Delete {}?", endpoint.name));
    let for_edit = StoredValue::new(endpoint.clone());
    view! {
        <tr data-endpoint=endpoint.name.clone()>
            <td class="font-medium">{endpoint.name.clone()}</td>
            <td class="text-slate-600">{endpoint.project.clone()}</td>
            <td>{type_label(&endpoint)}</td>
            <td class="max-w-64 truncate font-mono text-xs text-slate-600">{endpoint.url.clone()}</td>
            <td><ValidationBadge validation=endpoint.last_validation.clone() /></td>
            <td class="whitespace-nowrap text-right">
                <Show when=move || editable fallback=|| view! { <span class="text-xs text-slate-500">"read only"</span> }>
                    <Show
                        when=move || confirming.get()
                        fallback=move || {
                            view! {
                                <button type="button" class="btn-link" disabled=move || validate.pending().get()
                                    on:click=move |_| { validate.dispatch(ValidateEndpoint { id }); }>
                                    {move || if validate.pending().get() { "Validating…" } else { "Validate" }}
                                </button>
                                <button type="button" class="btn-link" on:click=move |_| editing.set(Some(Some(for_edit.get_value())))>"Edit"</button>
                                <button type="button" class="btn-link text-red-700" on:click=move |_| confirming.set(true)>"Delete"</button>
                            }
                        }
                    >
                        <ConfirmInPlace
                            question=delete_question.get_value()
                            confirm="Confirm delete"
                            on_confirm=move || { delete.dispatch(DeleteEndpoint { id }); }
                            on_close=move || confirming.set(false)
                        />
                    </Show>
                </Show>
            </td>
        </tr>
    }
}

/// The server type of a Docker registry endpoint, a select.
#[component]
pub fn ServerTypeSelect(id: &'static str, value: RwSignal<RegistryServerType>) -> impl IntoView {
    let options = enum_options(
        &RegistryServerType::ALL,
        RegistryServerType::as_str,
        RegistryServerType::label,
    );
    let bind = Bound::as_text(
        value,
        |kind| kind.as_str().to_string(),
        |text| RegistryServerType::parse(text).unwrap_or_default(),
    );
    view! { <SelectInput id label="Server type" bind options /> }
}

#[component]
fn EndpointForm(
    existing: Option<Endpoint>,
    projects: Vec<Project>,
    save: ServerAction<SaveEndpoint>,
    on_cancel: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let draft = ServerAction::<ValidateEndpointDraft>::new();
    let id = existing.as_ref().map(|endpoint| endpoint.id);
    let base = existing.clone().unwrap_or_else(|| Endpoint {
        id: 0,
        project: projects
            .first()
            .map(|project| project.name.clone())
            .unwrap_or_default(),
        project_id: projects
            .first()
            .map(|project| project.id)
            .unwrap_or_default(),
        name: String::new(),
        description: String::new(),
        kind: EndpointKind::DockerRegistry,
        url: String::new(),
        settings: EndpointSettings::default(),
        stored_secrets: Vec::new(),
        last_validation: None,
        created_at: 0,
        updated_at: 0,
    });
    let stored = base.stored_secrets.clone();
    let text = |value: Option<String>| RwSignal::new(value.unwrap_or_default());
    let project = RwSignal::new(base.project_id.to_string());
    let name = RwSignal::new(base.name.clone());
    let description = RwSignal::new(base.description.clone());
    let kind = RwSignal::new(base.kind);
    let url = RwSignal::new(base.url.clone());
    let server_type = RwSignal::new(base.settings.server_type.unwrap_or_default());
    let username = text(base.settings.username.clone());
    let password = RwSignal::new(String::new());
    let cloud_proxy = RwSignal::new(base.settings.cloud_proxy);
    let auth = RwSignal::new(base.settings.auth.unwrap_or_default());
    let token = RwSignal::new(String::new());
    let client_cert = text(base.settings.client_cert.clone());
    let client_key = RwSignal::new(String::new());
    let kubeconfig = RwSignal::new(String::new());
    let kubeconfig_context = text(base.settings.kubeconfig_context.clone());
    let ca_cert = text(base.settings.ca_cert.clone());
    let insecure = RwSignal::new(base.settings.insecure_skip_tls_verify);
    let namespace = text(base.settings.namespace.clone());

    let optional = |value: String| (!value.trim().is_empty()).then_some(value);
    let input = move || EndpointInput {
        project: project.get(),
        name: name.get(),
        description: description.get(),
        kind: Some(kind.get()),
        url: url.get(),
        settings: EndpointSettings {
            server_type: Some(server_type.get()),
            username: optional(username.get()),
            cloud_proxy: cloud_proxy.get(),
            auth: Some(auth.get()),
            namespace: optional(namespace.get()),
            ca_cert: optional(ca_cert.get()),
            insecure_skip_tls_verify: insecure.get(),
            client_cert: optional(client_cert.get()),
            kubeconfig_context: optional(kubeconfig_context.get()),
        },
        password: optional(password.get()),
        token: optional(token.get()),
        client_key: optional(client_key.get()),
        kubeconfig: optional(kubeconfig.get()),
    };
    let error = Signal::derive(move || match (save.value().get(), draft.value().get()) {
        (Some(Err(error)), _) | (_, Some(Err(error))) => Some(error),
        _ => None,
    });
    // "unchanged" tells the person a secret is stored and stays unless they type a new one.
    let secret_hint = move |secret: &'static str| {
        let stored = stored.iter().any(|name| name == secret);
        Signal::stored(stored.then(|| "unchanged".to_string()))
    };
    let password_hint = secret_hint("password");
    let token_hint = secret_hint("token");
    let client_key_hint = secret_hint("client_key");
    let kubeconfig_hint = secret_hint("kubeconfig");
    let editing_existing = id.is_some();
    let cancel = on_cancel.clone();

    view! {
        <section class="card mb-8" aria-labelledby="endpoint-form-heading">
            <h2 id="endpoint-form-heading" class="text-base font-semibold">
                {if editing_existing { "Edit endpoint" } else { "New endpoint" }}
            </h2>
            <form class="mt-4 grid gap-4 md:grid-cols-2" on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch(SaveEndpoint { id, input: input() });
            }>
                <SelectInput id="endpoint-project" label="Project" bind=project options=project_options(&projects)
                    error field="project" disabled=editing_existing />
                <fieldset>
                    <legend class="label">"Type"</legend>
                    <div class="flex gap-4 pt-2 text-sm">
                        <label class="flex items-center gap-2">
                            <input type="radio" name="kind" disabled=editing_existing
                                prop:checked=move || kind.get() == EndpointKind::DockerRegistry
                                on:change=move |_| kind.set(EndpointKind::DockerRegistry) />
                            "Docker registry"
                        </label>
                        <label class="flex items-center gap-2">
                            <input type="radio" name="kind" disabled=editing_existing
                                prop:checked=move || kind.get() == EndpointKind::Kubernetes
                                on:change=move |_| kind.set(EndpointKind::Kubernetes) />
                            "Kubernetes"
                        </label>
                    </div>
                </fieldset>
                <TextInput id="endpoint-name" label="Name" bind=name error field="name" />
                <TextInput id="endpoint-description" label="Description" bind=description error field="description" />
                <Show when=move || kind.get() == EndpointKind::DockerRegistry>
                    <ServerTypeSelect id="endpoint-server-type" value=server_type />
                    <TextInput id="endpoint-url" label="Repository or registry URL" bind=url error field="url" />
                    <TextInput id="endpoint-username" label="User name" bind=username error field="username" />
                    <TextInput id="endpoint-password" label="Password" bind=password error field="password"
                        secret=true placeholder=password_hint />
                    <label class="flex items-center gap-2 text-sm md:col-span-2">
                        <input type="checkbox" prop:checked=move || cloud_proxy.get() on:change=move |ev| cloud_proxy.set(event_target_checked(&ev)) />
                        "Reach this registry through the cloud proxy (for registries only reachable inside a network)"
                    </label>
                </Show>
                <Show when=move || kind.get() == EndpointKind::Kubernetes>
                    <TextInput id="endpoint-url" label="API server URL" bind=url error field="url" />
                    <TextInput id="endpoint-namespace" label="Default namespace" bind=namespace error field="namespace" />
                    <SelectInput
                        id="endpoint-auth"
                        label="Authentication"
                        bind=Bound::as_text(auth, |auth| auth.as_str().to_string(), |text| KubernetesAuth::parse(text).unwrap_or_default())
                        options=enum_options(&KubernetesAuth::ALL, KubernetesAuth::as_str, KubernetesAuth::label)
                    />
                    <Show when=move || auth.get() == KubernetesAuth::Token>
                        <TextInput id="endpoint-token" label="Bearer token" bind=token error field="token"
                            secret=true placeholder=token_hint />
                    </Show>
                    <Show when=move || auth.get() == KubernetesAuth::ClientCertificate>
                        <TextInput id="endpoint-client_cert" label="Client certificate (PEM)" bind=client_cert error
                            field="client_cert" rows=4 mono=true />
                        <TextInput id="endpoint-client_key" label="Client key (PEM)" bind=client_key error
                            field="client_key" rows=4 mono=true placeholder=client_key_hint />
                    </Show>
                    <Show when=move || auth.get() == KubernetesAuth::Kubeconfig>
                        <TextInput id="endpoint-kubeconfig" label="Kubeconfig" bind=kubeconfig error field="kubeconfig"
                            rows=4 mono=true placeholder=kubeconfig_hint />
                        <TextInput id="endpoint-kubeconfig_context" label="Context (empty: the kubeconfig's current one)"
                            bind=kubeconfig_context error field="kubeconfig_context" />
                    </Show>
                    <TextInput id="endpoint-ca_cert" label="CA certificate (PEM)" bind=ca_cert error field="ca_cert"
                        rows=4 mono=true />
                    <label class="flex items-center gap-2 text-sm">
                        <input type="checkbox" prop:checked=move || insecure.get() on:change=move |ev| insecure.set(event_target_checked(&ev)) />
                        "Skip TLS verification"
                        <span class="badge badge-red">"unsafe"</span>
                    </label>
                </Show>
                <div class="flex flex-wrap items-center gap-3 md:col-span-2">
                    <button type="submit" class="btn-primary" disabled=move || save.pending().get()>"Save"</button>
                    <button type="button" class="btn-secondary" disabled=move || draft.pending().get()
                        on:click=move |_| { draft.dispatch(ValidateEndpointDraft { id, input: input() }); }>
                        {move || if draft.pending().get() { "Validating…" } else { "Validate" }}
                    </button>
                    <button type="button" class="btn-link" on:click=move |_| cancel()>"Cancel"</button>
                    <span data-testid="draft-validation">
                        {move || match draft.value().get() {
                            Some(Ok(validation)) => view! { <ValidationBadge validation=Some(validation) /> }.into_any(),
                            _ => ().into_any(),
                        }}
                    </span>
                </div>
            </form>
            <FormError error />
        </section>
    }
}
