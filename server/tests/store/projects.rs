//! Projects, what lives in them, and their members.

use app::model::ProjectRole;
use server::store::*;

use crate::support::*;

pub async fn projects_and_their_contents(store: SharedStore) {
    let beta = store.create_project("Beta", "the b", 1).await.unwrap();
    let alpha = store.create_project("Alpha", "", 2).await.unwrap();
    assert_eq!(
        (
            beta.name.as_str(),
            beta.description.as_str(),
            beta.created_at,
            beta.updated_at
        ),
        ("Beta", "the b", 1, 1)
    );
    assert_eq!(
        store.project_by_id(beta.id).await.unwrap(),
        Some(beta.clone())
    );
    assert_eq!(
        store.project_by_name("Alpha").await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(store.project_by_name("Gamma").await.unwrap(), None);

    let renamed = store
        .update_project(beta.id, "Beta2", "new", 5)
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.id,
            renamed.name.as_str(),
            renamed.description.as_str()
        ),
        (beta.id, "Beta2", "new")
    );
    assert_eq!((renamed.created_at, renamed.updated_at), (1, 5));

    // A user sees their projects with their role; `all` adds the others, roleless.
    let viewer = user(&store, "viewer").await;
    store
        .set_membership(alpha.id, viewer.id, ProjectRole::Executor)
        .await
        .unwrap();
    let mine = store.list_projects(viewer.id, false).await.unwrap();
    assert_eq!(mine, [(alpha.clone(), Some(ProjectRole::Executor))]);
    let all = store.list_projects(viewer.id, true).await.unwrap();
    assert_eq!(
        all,
        [
            (alpha.clone(), Some(ProjectRole::Executor)),
            (renamed.clone(), None)
        ]
    );

    // Contents are counted per kind.
    let contents = store.project_contents(alpha.id).await.unwrap();
    assert_eq!(contents, ProjectContents::default());
    assert!(contents.is_empty());
    let hub = endpoint(&store, alpha.id, "hub").await;
    endpoint(&store, alpha.id, "cluster").await;
    let deploy = pipeline(&store, alpha.id, "deploy", &[]).await;
    let token_id = token(&store, viewer.id, "t").await;
    webhook(
        &store,
        webhook_write(alpha.id, "w", hub.id, deploy.id, token_id),
        "hook",
    )
    .await;
    let contents = store.project_contents(alpha.id).await.unwrap();
    assert_eq!(
        contents,
        ProjectContents {
            endpoints: 2,
            pipelines: 1,
            webhooks: 1
        }
    );
    assert!(!contents.is_empty());
    assert!(store.project_contents(beta.id).await.unwrap().is_empty());

    store.delete_project(beta.id).await.unwrap();
    assert_eq!(store.project_by_id(beta.id).await.unwrap(), None);
}

pub async fn memberships(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let zed = user(&store, "zed").await;
    let amy = user(&store, "amy").await;
    assert_eq!(store.membership(demo.id, zed.id).await.unwrap(), None);

    // Setting a role again replaces it.
    store
        .set_membership(demo.id, zed.id, ProjectRole::Viewer)
        .await
        .unwrap();
    store
        .set_membership(demo.id, zed.id, ProjectRole::Developer)
        .await
        .unwrap();
    store
        .set_membership(demo.id, amy.id, ProjectRole::Administrator)
        .await
        .unwrap();
    assert_eq!(
        store.membership(demo.id, zed.id).await.unwrap(),
        Some(ProjectRole::Developer)
    );
    let members = store.list_members(demo.id).await.unwrap();
    assert_eq!(
        members,
        [
            MemberRecord {
                user_id: amy.id,
                username: "amy".into(),
                role: ProjectRole::Administrator
            },
            MemberRecord {
                user_id: zed.id,
                username: "zed".into(),
                role: ProjectRole::Developer
            },
        ]
    );

    assert!(store.remove_membership(demo.id, zed.id).await.unwrap());
    assert!(!store.remove_membership(demo.id, zed.id).await.unwrap());
    assert_eq!(store.membership(demo.id, zed.id).await.unwrap(), None);
    assert_eq!(store.list_members(demo.id).await.unwrap().len(), 1);
}
