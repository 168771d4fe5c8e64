//! Project members (for project administrators) and users (for global admins).

use leptos::prelude::*;

use super::widgets::{
    last_error, route_id, EmptyState, FormError, FormInput, ListTable, PageHeader,
};
use crate::functions::{list_members, list_users, CreateUser, RemoveMember, SetMember};
use crate::model::ProjectRole;

fn role_options() -> impl IntoView {
    ProjectRole::ALL
        .into_iter()
        .map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> })
        .collect_view()
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let id = route_id();
    let project = move || id.get().unwrap_or_default();
    let set = ServerAction::<SetMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let members = Resource::new(
        move || (project(), set.version().get(), remove.version().get()),
        |(project, _, _)| list_members(project),
    );
    let set_error = last_error(move || set.value().get());
    let remove_error = last_error(move || remove.value().get());
    view! {
        <PageHeader title="Members" subtitle="Who may read, run and edit in this project. Viewers read; executors also run pipelines; developers also edit endpoints, pipelines and webhooks; administrators also manage members." />
        <section class="card mb-8">
            <h2 class="text-base font-semibold">"Add a member or change a role"</h2>
            <ActionForm action=set attr:class="mt-4 grid gap-4 md:grid-cols-[2fr_1fr_auto] md:items-start">
                <input type="hidden" name="project" value=project />
                <FormInput id="member-username" label="User name" name="username" error=set_error />
                <div>
                    <label class="label" for="member-role">"Role"</label>
                    <select class="input" id="member-role" name="role">{role_options()}</select>
                </div>
                <button type="submit" class="btn-primary md:mt-6">"Save member"</button>
            </ActionForm>
            <FormError error=set_error />
        </section>
        <FormError error=remove_error />
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading members…"</p> }>
            {move || members.get().map(|answer| match answer {
                Ok(list) if list.is_empty() => view! {
                    <EmptyState title="No members">"Add people above; global admins can always see every project."</EmptyState>
                }.into_any(),
                Ok(list) => view! {
                    <ListTable testid="members-table" columns=&["User", "Role", ""]>
                        {list.into_iter().map(|member| {
                            let username = member.username.clone();
                            view! {
                                <tr data-member=member.username.clone()>
                                    <td class="font-medium">{member.username.clone()}</td>
                                    <td><span class="badge">{member.role.as_str()}</span></td>
                                    <td class="text-right">
                                        <button type="button" class="btn-link text-red-700" on:click=move |_| {
                                            remove.dispatch(RemoveMember { project: project(), username: username.clone() });
                                        }>"Remove"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </ListTable>
                }.into_any(),
                Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let users = Resource::new(move || create.version().get(), |_| list_users());
    let create_error = last_error(move || create.value().get());
    view! {
        <PageHeader title="Users" subtitle="Everyone who can sign in. Give them roles on the Members page of each project." />
        <section class="card mb-8">
            <h2 class="text-base font-semibold">"New user"</h2>
            <ActionForm action=create attr:class="mt-4 grid gap-4 md:grid-cols-[1fr_1fr_auto_auto] md:items-start">
                <FormInput id="user-name" label="User name" name="username" error=create_error />
                <FormInput
                    id="user-password"
                    label="Password"
                    name="password"
                    error=create_error
                    kind="password"
                    autocomplete="new-password"
                />
                <label class="flex items-center gap-2 text-sm md:mt-8">
                    <input type="checkbox" name="is_admin" value="on" />
                    "Global admin"
                </label>
                <button type="submit" class="btn-primary md:mt-6">"Create user"</button>
            </ActionForm>
            <FormError error=create_error />
        </section>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading users…"</p> }>
            {move || users.get().map(|answer| match answer {
                Ok(list) => view! {
                    <ListTable testid="users-table" columns=&["User", "Role"]>
                        {list.into_iter().map(|user| view! {
                            <tr data-user=user.username.clone()>
                                <td class="font-medium">{user.username.clone()}</td>
                                <td>{if user.is_admin { "global admin" } else { "member" }}</td>
                            </tr>
                        }).collect_view()}
                    </ListTable>
                }.into_any(),
                Err(error) => view! { <p class="text-red-700" role="alert">{error.to_string()}</p> }.into_any(),
            })}
        </Transition>
    }
}
