//! Projects: the first full slice — list, create, edit and delete.

use leptos::prelude::*;

use super::widgets::{
    format_millis, last_error, ConfirmInPlace, EmptyState, FormError, FormInput, ListTable,
    PageHeader,
};
use crate::functions::{list_projects, CreateProject, DeleteProject, UpdateProject};
use crate::model::Project;

#[component]
pub fn ProjectsPage() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let update = ServerAction::<UpdateProject>::new();
    let delete = ServerAction::<DeleteProject>::new();
    let projects = Resource::new(
        move || {
            (
                create.version().get(),
                update.version().get(),
                delete.version().get(),
            )
        },
        |_| list_projects(),
    );
    let create_error = last_error(move || create.value().get());
    let delete_error = last_error(move || delete.value().get());
    // Redraw (and so clear) the form after a successful create only; after a
    // failure what was typed stays for the person to correct.
    let last_created = Memo::new(move |previous: Option<&i64>| match create.value().get() {
        Some(Ok(project)) => project.id,
        _ => previous.copied().unwrap_or(0),
    });

    view! {
        <PageHeader
            title="Projects"
            subtitle="A project holds endpoints, pipelines and Docker webhooks, and decides who may use them."
        />
        <section class="card mb-8" aria-labelledby="new-project-heading">
            <h2 id="new-project-heading" class="text-base font-semibold">"New project"</h2>
            {move || {
                let _ = last_created.get();
                view! {
                    <ActionForm action=create attr:class="mt-4 grid gap-4 md:grid-cols-[1fr_2fr_auto] md:items-start">
                        <FormInput id="new-project-name" label="Name" name="name" error=create_error placeholder="e.g. Demo" />
                        <FormInput
                            id="new-project-description"
                            label="Description"
                            name="description"
                            error=create_error
                            placeholder="What is deployed from here"
                        />
                        <button type="submit" class="btn-primary md:mt-6" disabled=move || create.pending().get()>
                            "Create project"
                        </button>
                    </ActionForm>
                }
            }}
            <FormError error=create_error />
        </section>
        <FormError error=delete_error />
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading projects…"</p> }>
            {move || {
                projects
                    .get()
                    .map(|answer| match answer {
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState title="No projects yet">
                                    "Create the first project above, then add a Docker registry endpoint and a pipeline to it."
                                </EmptyState>
                            }
                                .into_any()
                        }
                        Ok(list) => view! { <ProjectTable list update delete /> }.into_any(),
                        Err(error) => {
                            view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn ProjectTable(
    list: Vec<Project>,
    update: ServerAction<UpdateProject>,
    delete: ServerAction<DeleteProject>,
) -> impl IntoView {
    view! {
        <ListTable testid="projects-table" columns=&["Name", "Description", "Your role", "Created", ""]>
            {list
                .into_iter()
                .map(|project| view! { <ProjectRow project update delete /> })
                .collect_view()}
        </ListTable>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum RowMode {
    Viewing,
    Editing,
    ConfirmingDelete,
}

#[component]
fn ProjectRow(
    project: Project,
    update: ServerAction<UpdateProject>,
    delete: ServerAction<DeleteProject>,
) -> impl IntoView {
    let mode = RwSignal::new(RowMode::Viewing);
    let update_error = last_error(move || update.value().get());
    let role = project
        .my_role
        .map(|role| role.as_str().to_string())
        .unwrap_or_else(|| "admin".to_string());
    let Project {
        id,
        name,
        description,
        created_at,
        ..
    } = project;
    let edit_name_id = format!("edit-project-name-{id}");
    let edit_description_id = format!("edit-project-description-{id}");
    let row_name = name.clone();
    let row_marker = name.clone();
    view! {
        <tr data-project=row_marker>
            {move || {
                let (name, description, role, row_name) = (name.clone(), description.clone(), role.clone(), row_name.clone());
                let (edit_name_id, edit_description_id) = (edit_name_id.clone(), edit_description_id.clone());
                match mode.get() {
                RowMode::Editing => {
                    view! {
                        <td colspan="5">
                            <ActionForm action=update attr:class="grid gap-3 md:grid-cols-[1fr_2fr_auto] md:items-start">
                                <input type="hidden" name="id" value=id />
                                <FormInput id=edit_name_id.clone() label="Name" name="name" error=update_error value=name.clone() />
                                <FormInput
                                    id=edit_description_id.clone()
                                    label="Description"
                                    name="description"
                                    error=update_error
                                    value=description.clone()
                                />
                                <div class="flex gap-2 md:mt-6">
                                    <button type="submit" class="btn-primary">"Save"</button>
                                    <button type="button" class="btn-secondary" on:click=move |_| mode.set(RowMode::Viewing)>
                                        "Cancel"
                                    </button>
                                </div>
                            </ActionForm>
                            <FormError error=update_error />
                        </td>
                    }
                        .into_any()
                }
                current => {
                    let confirming = current == RowMode::ConfirmingDelete;
                    view! {
                        <td class="font-medium">{name.clone()}</td>
                        <td class="text-slate-600">{description.clone()}</td>
                        <td>
                            <span class="badge">{role.clone()}</span>
                        </td>
                        <td class="whitespace-nowrap text-slate-600">{format_millis(created_at)}</td>
                        <td class="whitespace-nowrap text-right">
                            <Show
                                when=move || confirming
                                fallback=move || {
                                    view! {
                                        <a class="btn-link" href=format!("/projects/{id}/members")>"Members"</a>
                                        <button type="button" class="btn-link" on:click=move |_| mode.set(RowMode::Editing)>
                                            "Edit"
                                        </button>
                                        <button
                                            type="button"
                                            class="btn-link text-red-700"
                                            on:click=move |_| mode.set(RowMode::ConfirmingDelete)
                                        >
                                            "Delete"
                                        </button>
                                    }
                                }
                            >
                                <ConfirmInPlace
                                    question=format!("Delete {}?", row_name)
                                    confirm="Confirm delete"
                                    on_confirm=move || { delete.dispatch(DeleteProject { id }); }
                                    on_close=move || mode.set(RowMode::Viewing)
                                />
                            </Show>
                        </td>
                    }
                        .into_any()
                }
            }}}
        </tr>
    }
}
