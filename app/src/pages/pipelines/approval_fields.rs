//! The fields of an approval task, in its card on the Workspace tab.

use leptos::prelude::*;

use super::places::{set_number, TaskAt};
use crate::error::AppError;
use crate::model::ProjectRole;
use crate::pages::widgets::{CheckInput, SelectInput, TextInput};

/// Approvers are written as names separated by commas; the project role is
/// one choice, because a role admits the roles above it too.
#[component]
pub fn ApprovalFields(at: TaskAt, id: String, error: Signal<Option<AppError>>) -> impl IntoView {
    let prefix = at.path();
    let field = move |name: &str| format!("{prefix}.{name}");
    let mut roles = vec![(String::new(), "No role: only the users named".to_string())];
    roles.extend(ProjectRole::ALL.iter().map(|role| {
        (
            role.as_str().to_string(),
            format!("Project {}s and above", role.as_str()),
        )
    }));
    view! {
        <TextInput
            id=format!("{id}-approvers")
            label="Approvers"
            bind=at.approval(|a| a.approvers.join(", "), |a, text: String| a.approvers = names_in(&text))
            error
            field=field("approvers")
            placeholder="alice, bob"
            hint="User names, separated by commas."
        />
        <SelectInput
            id=format!("{id}-approver-role")
            label="Or anyone with the role"
            bind=at.approval(
                |a| a.approver_roles.first().cloned().unwrap_or_default(),
                |a, role: String| a.approver_roles = (!role.is_empty()).then_some(role).into_iter().collect(),
            )
            options=Signal::stored(roles)
            error
            field=field("approver_roles")
        />
        <div class="md:col-span-2">
            <TextInput
                id=format!("{id}-summary")
                label="Summary"
                bind=at.approval(|a| a.summary.clone(), |a, summary| a.summary = summary)
                error
                field=field("summary")
                rows=3
                placeholder="Deploy ${input.DOCKER_IMAGE_REF} to production?"
                hint="What the approver is asked; bindings are filled in when the task runs."
            />
        </div>
        <TextInput
            id=format!("{id}-expires")
            label="Expires after (seconds)"
            bind=at.approval(
                |a| a.expires_after_seconds.to_string(),
                |a, text: String| set_number(&mut a.expires_after_seconds, &text),
            )
            error
            field=field("expires_after_seconds")
            number=true
            hint="86400 is a day. An approval nobody decides in time fails the run."
        />
        <CheckInput
            id=format!("{id}-self-approval")
            label="Allow self-approval"
            bind=at.approval(|a| a.allow_self_approval, |a, on| a.allow_self_approval = on)
            hint="Lets the person who started the run (or whom it runs as) approve it."
        />
    }
}

/// Names separated by commas, trimmed; empty pieces (being typed) left out.
fn names_in(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn approvers_are_read_between_commas() {
        assert_eq!(super::names_in(" alice, ,bob ,"), ["alice", "bob"]);
        assert!(super::names_in("").is_empty());
    }
}
