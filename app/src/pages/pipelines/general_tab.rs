//! The General tab: project, name, description, concurrency, enabled, and
//! the notifications.

use leptos::prelude::*;

use super::notifications_form::NotificationsSection;
use super::places::{set_number, spec_field};
use crate::error::AppError;
use crate::model::{Project, ProjectRole};
use crate::pages::access::has_role;
use crate::pages::widgets::{CheckInput, SelectInput, TextInput};
use crate::pipeline::PipelineSpec;

#[component]
pub fn GeneralTab(
    spec: RwSignal<PipelineSpec>,
    projects: StoredValue<Vec<Project>>,
    is_admin: bool,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let project_options = Memo::new(move |_| {
        let current = spec.with(|spec| spec.project.clone());
        let mut options: Vec<(String, String)> = projects.with_value(|projects| {
            projects
                .iter()
                .filter(|project| {
                    project.name == current
                        || has_role(Some(project), is_admin, ProjectRole::Developer)
                })
                .map(|project| (project.name.clone(), project.name.clone()))
                .collect()
        });
        if current.is_empty() {
            options.insert(0, (String::new(), "Choose a project".to_string()));
        } else if !options.iter().any(|(name, _)| *name == current) {
            options.insert(0, (current.clone(), current));
        }
        options
    });
    view! {
        <div class="card grid gap-5 md:grid-cols-2">
            <SelectInput
                id="pipeline-project"
                label="Project"
                bind=spec_field(spec, |spec| spec.project.clone(), |spec, project| spec.project = project)
                options=project_options
                error
                field="project"
                hint="Endpoints and runs of the pipeline belong to this project."
            />
            <TextInput
                id="pipeline-name"
                label="Name"
                bind=spec_field(spec, |spec| spec.name.clone(), |spec, name| spec.name = name)
                error
                field="name"
                placeholder="e.g. deploy-web"
            />
            <div class="md:col-span-2">
                <TextInput
                    id="pipeline-description"
                    label="Description"
                    bind=spec_field(spec, |spec| spec.description.clone(), |spec, text| spec.description = text)
                    error
                    field="description"
                    rows=2
                    placeholder="What this pipeline deploys, and where"
                />
            </div>
            <TextInput
                id="pipeline-concurrency"
                label="Concurrent runs"
                bind=spec_field(spec, |spec| spec.concurrency.to_string(), |spec, text: String| set_number(&mut spec.concurrency, &text))
                error
                field="concurrency"
                number=true
                hint="How many runs may be active at once; later ones wait in the queue."
            />
            <div class="md:pt-7">
                <CheckInput
                    id="pipeline-enabled"
                    label="Enabled"
                    bind=spec_field(spec, |spec| spec.enabled, |spec, enabled| spec.enabled = enabled)
                    hint="A disabled pipeline is kept but starts no runs, by hand or from a trigger."
                />
            </div>
        </div>
        <NotificationsSection spec error />
    }
}
