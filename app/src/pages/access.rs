//! What the signed-in user may do on a page. The server checks every call
//! again; these only decide which buttons and forms a page offers.

use leptos::prelude::*;

use crate::model::{Project, ProjectRole, User};

/// Whether the signed-in user is a global admin (who may do anything anywhere).
pub fn signed_in_admin() -> bool {
    use_context::<User>().is_some_and(|user| user.is_admin)
}

/// Whether the signed-in user has at least `role` in a project.
pub fn has_role(project: Option<&Project>, is_admin: bool, role: ProjectRole) -> bool {
    is_admin || project.and_then(|project| project.my_role) >= Some(role)
}

/// Whether the signed-in user may create and change what belongs to project
/// `project_id` (endpoints, webhooks): developer or more, in `projects` as
/// listed for them.
pub fn can_edit(projects: &[Project], project_id: i64, is_admin: bool) -> bool {
    let project = projects.iter().find(|project| project.id == project_id);
    has_role(project, is_admin, ProjectRole::Developer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(id: i64, my_role: Option<ProjectRole>) -> Project {
        Project {
            id,
            name: format!("project {id}"),
            description: String::new(),
            created_at: 0,
            updated_at: 0,
            my_role,
        }
    }

    #[test]
    fn developers_and_admins_edit_a_project() {
        let projects = [
            project(1, Some(ProjectRole::Developer)),
            project(2, Some(ProjectRole::Executor)),
            project(3, None),
        ];
        assert!(can_edit(&projects, 1, false));
        assert!(!can_edit(&projects, 2, false));
        assert!(!can_edit(&projects, 3, false));
        assert!(!can_edit(&projects, 4, false));
        assert!(can_edit(&projects, 4, true));
    }
}
