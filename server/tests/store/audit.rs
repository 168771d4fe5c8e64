//! The audit trail: entries read back as written (names as they were, empty
//! parts as none), newest first, filtered and paged by id; a project
//! administrator's scope holds only the projects they administer.

use app::audit::{AuditAction, AuditOutcome, AuditTargetKind};
use app::model::ProjectRole;
use server::store::*;

use crate::support::*;

/// An entry of `action` by `actor` in `project` (none for a global one).
fn entry<'a>(
    at: i64,
    actor: Option<&'a UserRecord>,
    action: AuditAction,
    project: Option<&'a ProjectRecord>,
) -> NewAuditRecord<'a> {
    NewAuditRecord {
        at,
        actor_id: actor.map(|user| user.id),
        actor_name: actor.map_or("command line", |user| user.username.as_str()),
        action,
        project_id: project.map(|project| project.id),
        project_name: project.map(|project| project.name.as_str()),
        target_kind: None,
        target_id: None,
        target_name: None,
        outcome: AuditOutcome::Success,
        detail: "{}",
        client: None,
    }
}

fn query(limit: i64) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

/// The actions of the entries, in the order listed.
fn actions(entries: &[AuditRecord]) -> Vec<AuditAction> {
    entries.iter().map(|entry| entry.action).collect()
}

pub async fn entries_read_back_newest_first_filtered_and_paged(store: SharedStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let shop = project(&store, "shop").await;
    let blog = project(&store, "blog").await;

    // Arrange: one entry with every part, then a few plain ones.
    let full = NewAuditRecord {
        target_kind: Some(AuditTargetKind::Endpoint),
        target_id: Some(42),
        target_name: Some("registry"),
        outcome: AuditOutcome::Failure,
        detail: r#"{"draft":true}"#,
        client: Some("192.0.2.1"),
        ..entry(
            10,
            Some(&alice),
            AuditAction::EndpointValidated,
            Some(&shop),
        )
    };
    let first = store.record_audit(full).await.unwrap();
    let second = store
        .record_audit(entry(11, Some(&bob), AuditAction::MemberAdded, Some(&shop)))
        .await
        .unwrap();
    let third = store
        .record_audit(entry(12, Some(&alice), AuditAction::SessionSignIn, None))
        .await
        .unwrap();
    let fourth = store
        .record_audit(entry(13, None, AuditAction::TokenCreated, None))
        .await
        .unwrap();
    let fifth = store
        .record_audit(entry(
            14,
            Some(&alice),
            AuditAction::MemberAdded,
            Some(&blog),
        ))
        .await
        .unwrap();
    assert!(first < second && second < third && third < fourth && fourth < fifth);

    // Every part reads back as written; a missing one is none.
    let all = store.list_audit(&query(50)).await.unwrap();
    assert_eq!(
        all.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        vec![fifth, fourth, third, second, first],
        "newest first"
    );
    assert_eq!(
        all[4],
        AuditRecord {
            id: first,
            at: 10,
            actor_id: Some(alice.id),
            actor_name: "alice".into(),
            action: AuditAction::EndpointValidated,
            project_id: Some(shop.id),
            project_name: Some("shop".into()),
            target_kind: Some(AuditTargetKind::Endpoint),
            target_id: Some(42),
            target_name: Some("registry".into()),
            outcome: AuditOutcome::Failure,
            detail: r#"{"draft":true}"#.into(),
            client: Some("192.0.2.1".into()),
        }
    );
    assert_eq!(
        (
            all[1].actor_id,
            all[1].actor_name.as_str(),
            all[1].project_id
        ),
        (None, "command line", None)
    );
    assert_eq!(
        (all[1].target_kind, all[1].target_id, &all[1].client),
        (None, None, &None)
    );

    // Each filter alone, then together.
    let by = |change: fn(&mut AuditQuery)| {
        let mut filtered = query(50);
        change(&mut filtered);
        filtered
    };
    let shop_id = shop.id;
    let in_shop = AuditQuery {
        project_id: Some(shop_id),
        ..query(50)
    };
    assert_eq!(
        actions(&store.list_audit(&in_shop).await.unwrap()),
        vec![AuditAction::MemberAdded, AuditAction::EndpointValidated]
    );
    let by_alice = AuditQuery {
        actor_id: Some(alice.id),
        ..query(50)
    };
    assert_eq!(
        actions(&store.list_audit(&by_alice).await.unwrap()),
        vec![
            AuditAction::MemberAdded,
            AuditAction::SessionSignIn,
            AuditAction::EndpointValidated
        ]
    );
    let by_name = by(|filter| filter.actor_name = Some("command line".into()));
    assert_eq!(
        actions(&store.list_audit(&by_name).await.unwrap()),
        vec![AuditAction::TokenCreated]
    );
    let added = by(|filter| filter.action = Some(AuditAction::MemberAdded));
    assert_eq!(
        store
            .list_audit(&added)
            .await
            .unwrap()
            .iter()
            .map(|entry| entry.id)
            .collect::<Vec<_>>(),
        vec![fifth, second]
    );
    let alice_added_in_shop = AuditQuery {
        project_id: Some(shop_id),
        actor_id: Some(alice.id),
        action: Some(AuditAction::MemberAdded),
        ..query(50)
    };
    assert!(store
        .list_audit(&alice_added_in_shop)
        .await
        .unwrap()
        .is_empty());

    // Paging: `limit` entries, then the ones below the last id.
    let page = store.list_audit(&query(2)).await.unwrap();
    assert_eq!(
        page.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        vec![fifth, fourth]
    );
    let older = AuditQuery {
        before_id: Some(fourth),
        ..query(2)
    };
    assert_eq!(
        store
            .list_audit(&older)
            .await
            .unwrap()
            .iter()
            .map(|entry| entry.id)
            .collect::<Vec<_>>(),
        vec![third, second]
    );
}

pub async fn a_project_administrator_sees_only_the_projects_they_administer(store: SharedStore) {
    let carol = user(&store, "carol").await;
    let shop = project(&store, "shop").await;
    let blog = project(&store, "blog").await;
    let wiki = project(&store, "wiki").await;
    store
        .set_membership(shop.id, carol.id, ProjectRole::Administrator)
        .await
        .unwrap();
    store
        .set_membership(blog.id, carol.id, ProjectRole::Developer)
        .await
        .unwrap();
    for (at, project) in [
        (1, Some(&shop)),
        (2, Some(&blog)),
        (3, Some(&wiki)),
        (4, None),
    ] {
        store
            .record_audit(entry(at, None, AuditAction::PipelineCreated, project))
            .await
            .unwrap();
    }

    let scoped = AuditQuery {
        administered_by: Some(carol.id),
        ..query(50)
    };
    let seen = store.list_audit(&scoped).await.unwrap();
    assert_eq!(
        seen.iter()
            .map(|entry| entry.project_name.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("shop")],
        "not a project where carol is a developer, not another project, not a global entry"
    );

    // Made administrator of blog: its entries join, older ones included.
    store
        .set_membership(blog.id, carol.id, ProjectRole::Administrator)
        .await
        .unwrap();
    assert_eq!(store.list_audit(&scoped).await.unwrap().len(), 2);
    // A project filter outside the scope finds nothing.
    let outside = AuditQuery {
        project_id: Some(wiki.id),
        ..scoped
    };
    assert!(store.list_audit(&outside).await.unwrap().is_empty());
}
