//! Endpoints and what uses them.

use app::endpoint::EndpointKind;
use app::model::ProjectRole;
use server::store::*;

use crate::support::*;

pub async fn endpoints_and_their_users(store: SharedStore) {
    let demo = project(&store, "Demo").await;
    let other = project(&store, "Other").await;
    let hub = store
        .create_endpoint(EndpointWrite {
            project_id: demo.id,
            name: "hub",
            description: "the registry",
            kind: EndpointKind::DockerRegistry,
            url: "https://index.docker.io/v1/",
            settings: r#"{"server_type":"docker-hub"}"#,
            sealed_secrets: Some("sealed"),
            now: 3,
        })
        .await
        .unwrap();
    assert_eq!(
        (
            hub.project_name.as_str(),
            hub.name.as_str(),
            hub.description.as_str()
        ),
        ("Demo", "hub", "the registry")
    );
    assert_eq!(
        (hub.kind, hub.url.as_str(), hub.settings.as_str()),
        (
            EndpointKind::DockerRegistry,
            "https://index.docker.io/v1/",
            r#"{"server_type":"docker-hub"}"#
        )
    );
    assert_eq!(
        (
            hub.sealed_secrets.as_deref(),
            hub.last_validation.as_deref()
        ),
        (Some("sealed"), None)
    );
    assert_eq!((hub.created_at, hub.updated_at), (3, 3));

    // A validation is kept until the endpoint changes.
    store
        .set_endpoint_validation(hub.id, r#"{"ok":true}"#)
        .await
        .unwrap();
    let validated = store.endpoint_by_id(hub.id).await.unwrap().unwrap();
    assert_eq!(validated.last_validation.as_deref(), Some(r#"{"ok":true}"#));
    let changed = store
        .update_endpoint(
            hub.id,
            EndpointWrite {
                url: "https://registry.example",
                now: 5,
                ..endpoint_write(demo.id, "hub")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            changed.url.as_str(),
            changed.last_validation,
            changed.sealed_secrets
        ),
        ("https://registry.example", None, None)
    );
    assert_eq!((changed.created_at, changed.updated_at), (3, 5));
    assert_eq!(store.endpoint_by_id(hub.id + 100).await.unwrap(), None);

    // Names are unique per project; lists are by project, then name.
    let other_hub = endpoint(&store, other.id, "hub").await;
    let cluster = endpoint(&store, demo.id, "cluster").await;
    assert_eq!(store.endpoints_by_name("hub").await.unwrap().len(), 2);
    let listed: Vec<i64> = store
        .list_endpoints(None)
        .await
        .unwrap()
        .iter()
        .map(|endpoint| endpoint.id)
        .collect();
    assert_eq!(listed, [cluster.id, hub.id, other_hub.id]);
    let member = user(&store, "member").await;
    assert!(store
        .list_endpoints(Some(member.id))
        .await
        .unwrap()
        .is_empty());
    store
        .set_membership(other.id, member.id, ProjectRole::Viewer)
        .await
        .unwrap();
    let visible = store.list_endpoints(Some(member.id)).await.unwrap();
    assert_eq!(visible, [other_hub]);

    // Users: its pipelines by name, then its webhooks by name.
    assert!(store.endpoint_users(hub.id).await.unwrap().is_empty());
    let zeta = pipeline(&store, demo.id, "zeta", &[hub.id, cluster.id]).await;
    pipeline(&store, demo.id, "alpha", &[hub.id]).await;
    let token_id = token(&store, member.id, "t").await;
    let write = webhook_write(demo.id, "on-push", hub.id, zeta.id, token_id);
    webhook(&store, write, "hook").await;
    let user_of = |kind, name: &str| EndpointUser {
        kind,
        name: name.into(),
    };
    assert_eq!(
        store.endpoint_users(hub.id).await.unwrap(),
        [
            user_of(EndpointUserKind::Pipeline, "alpha"),
            user_of(EndpointUserKind::Pipeline, "zeta"),
            user_of(EndpointUserKind::Webhook, "on-push"),
        ]
    );
    assert_eq!(
        store.endpoint_users(cluster.id).await.unwrap(),
        [user_of(EndpointUserKind::Pipeline, "zeta")]
    );

    let unused = endpoint(&store, demo.id, "unused").await;
    store.delete_endpoint(unused.id).await.unwrap();
    assert_eq!(store.endpoint_by_id(unused.id).await.unwrap(), None);
}
