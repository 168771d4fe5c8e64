//! Users, sessions, API tokens, and the names refused writes carry.

use app::error::AppError;
use server::store::*;

use crate::support::*;

pub async fn users_sessions_and_tokens(store: SharedStore) {
    // Users: created once, then returned unchanged.
    let alice = store.ensure_user("alice", false, 1).await.unwrap();
    assert_eq!(store.ensure_user("alice", true, 2).await.unwrap(), alice);
    assert_eq!(
        (alice.is_admin, alice.password_hash.as_deref()),
        (false, None)
    );
    store.set_user_admin(alice.id, true).await.unwrap();
    assert!(store
        .set_password_hash_if_unset(alice.id, "$argon2id$first")
        .await
        .unwrap());
    // Only a user without a password gets one this way (the first admin, once).
    assert!(!store
        .set_password_hash_if_unset(alice.id, "$argon2id$other")
        .await
        .unwrap());
    store
        .set_password_hash(alice.id, "$argon2id$hash")
        .await
        .unwrap();
    let bob = user(&store, "bob").await;
    let found = store.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(
        (found.is_admin, found.password_hash.as_deref()),
        (true, Some("$argon2id$hash"))
    );
    assert_eq!(store.user_by_name("carol").await.unwrap(), None);
    assert!(store.user_is_admin(alice.id).await.unwrap());
    assert!(!store.user_is_admin(bob.id).await.unwrap());
    assert!(!store.user_is_admin(bob.id + 100).await.unwrap());
    assert_eq!(store.count_users_with_password().await.unwrap(), 1);
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    // Sessions: found until they expire, gone once deleted.
    store.create_session("s1", bob.id, 10, 100).await.unwrap();
    let holder = store.user_for_session("s1", 99, 0).await.unwrap();
    assert_eq!(holder.map(|user| user.id), Some(bob.id));
    assert_eq!(store.user_for_session("s1", 100, 0).await.unwrap(), None);
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.user_for_session("s1", 50, 0).await.unwrap(), None);

    // API tokens: listed newest first; a use is recorded; revoked ones open nothing.
    let ci = store
        .create_api_token(NewTokenRecord {
            user_id: bob.id,
            name: "ci",
            prefix: "slw_ab",
            token_hash: "h1",
            created_at: 10,
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (ci.name.as_str(), ci.prefix.as_str(), ci.created_at),
        ("ci", "slw_ab", 10)
    );
    assert_eq!((ci.last_used_at, ci.revoked_at), (None, None));
    let deploy = token(&store, bob.id, "h2").await;
    assert_eq!(
        store.active_api_token("h1", 20).await.unwrap(),
        Some((ci.id, bob.id))
    );
    assert!(store.api_token_by_id(ci.id, 20).await.unwrap());
    let owner = store.user_for_api_token("h1", 30).await.unwrap();
    assert_eq!(owner.map(|user| user.id), Some(bob.id));
    assert_eq!(store.user_for_api_token("nope", 30).await.unwrap(), None);
    let listed = store.list_api_tokens(bob.id).await.unwrap();
    let ids: Vec<i64> = listed.iter().map(|token| token.id).collect();
    assert_eq!(ids, [ci.id, deploy], "same time: newest id first");
    assert_eq!(listed[0].last_used_at, Some(30));
    // Use is recorded at most once a minute; an unknown token writes nothing.
    let last_use = |store: SharedStore| async move {
        let listed = store.list_api_tokens(bob.id).await.unwrap();
        listed
            .iter()
            .map(|token| (token.id, token.last_used_at))
            .collect::<Vec<_>>()
    };
    let before = last_use(store.clone()).await;
    assert_eq!(store.user_for_api_token("nope", 35).await.unwrap(), None);
    let within_a_minute = 30 + TOKEN_USE_RECORDED_EVERY;
    assert!(store
        .user_for_api_token("h1", within_a_minute)
        .await
        .unwrap()
        .is_some());
    assert_eq!(last_use(store.clone()).await, before, "one use a minute");
    store
        .user_for_api_token("h1", within_a_minute + 1)
        .await
        .unwrap();
    assert_eq!(
        last_use(store.clone()).await,
        [(ci.id, Some(within_a_minute + 1)), (deploy, None)]
    );
    assert!(store.list_api_tokens(alice.id).await.unwrap().is_empty());

    assert!(!store.revoke_api_token(alice.id, ci.id, 40).await.unwrap());
    assert!(store.revoke_api_token(bob.id, ci.id, 40).await.unwrap());
    assert!(!store.revoke_api_token(bob.id, ci.id, 41).await.unwrap());
    assert_eq!(store.user_for_api_token("h1", 50).await.unwrap(), None);
    assert_eq!(store.active_api_token("h1", 50).await.unwrap(), None);
    assert!(!store.api_token_by_id(ci.id, 50).await.unwrap());
    assert_eq!(
        store.list_api_tokens(bob.id).await.unwrap()[0].revoked_at,
        Some(40)
    );

    // A token with an expiry opens nothing from that moment on, in every lookup.
    let expiring = store
        .create_api_token(NewTokenRecord {
            user_id: bob.id,
            name: "short-lived",
            prefix: "slw_cd",
            token_hash: "h3",
            created_at: 100,
            expires_at: Some(200),
        })
        .await
        .unwrap();
    assert_eq!(expiring.expires_at, Some(200));
    assert!(store.user_for_api_token("h3", 199).await.unwrap().is_some());
    assert!(store.api_token_by_id(expiring.id, 199).await.unwrap());
    assert_eq!(store.user_for_api_token("h3", 200).await.unwrap(), None);
    assert_eq!(store.active_api_token("h3", 200).await.unwrap(), None);
    assert!(!store.api_token_by_id(expiring.id, 200).await.unwrap());
}

pub async fn sessions_idle_out_and_end_together(store: SharedStore) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let minute = SESSION_USE_RECORDED_EVERY;
    let expires = 1_000 * minute;
    store
        .create_session("a1", alice.id, 0, expires)
        .await
        .unwrap();

    // Idle: a session last used at `used_after` or before opens nothing.
    assert_eq!(store.user_for_session("a1", 1, 0).await.unwrap(), None);
    // A use more than a minute after the last recorded one is recorded…
    let found = store.user_for_session("a1", minute + 1, -1).await.unwrap();
    assert_eq!(found.map(|user| user.id), Some(alice.id));
    assert!(
        store
            .user_for_session("a1", minute + 2, minute)
            .await
            .unwrap()
            .is_some(),
        "last used at minute + 1"
    );
    // …one within the minute after it is not.
    assert!(store
        .user_for_session("a1", 2 * minute, -1)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .user_for_session("a1", 2 * minute, minute + 1)
            .await
            .unwrap(),
        None,
        "still last used at minute + 1"
    );

    // A re-check the server makes by itself reads the same, and records nothing.
    let peeked = store.session_user("a1", 3 * minute, minute).await.unwrap();
    assert_eq!(peeked.map(|user| user.id), Some(alice.id));
    assert_eq!(
        store
            .session_user("a1", 3 * minute, minute + 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_for_session("a1", 3 * minute, minute + 1)
            .await
            .unwrap(),
        None,
        "still last used at minute + 1"
    );

    // Everywhere: every session of the user but the one kept, nobody else's.
    store
        .create_session("a2", alice.id, 0, expires)
        .await
        .unwrap();
    store
        .create_session("a3", alice.id, 0, expires)
        .await
        .unwrap();
    store
        .create_session("b1", bob.id, 0, expires)
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_user_sessions(alice.id, Some("a2"))
            .await
            .unwrap(),
        2
    );
    let open = |hash: &'static str| {
        let store = store.clone();
        async move { store.user_for_session(hash, 1, -1).await.unwrap().is_some() }
    };
    assert!(!open("a1").await && !open("a3").await);
    assert!(open("a2").await && open("b1").await);
    assert_eq!(store.delete_user_sessions(alice.id, None).await.unwrap(), 1);
    assert!(!open("a2").await && open("b1").await);

    // Stale: expired or idle sessions of the user are cleared out, live ones stay.
    store.create_session("old", alice.id, 0, 50).await.unwrap();
    store
        .create_session("idle", alice.id, 10, expires)
        .await
        .unwrap();
    store
        .create_session("live", alice.id, 40, expires)
        .await
        .unwrap();
    assert_eq!(
        store.delete_stale_sessions(alice.id, 60, 20).await.unwrap(),
        2
    );
    assert!(store
        .user_for_session("live", 60, 20)
        .await
        .unwrap()
        .is_some());
    assert!(open("b1").await, "another user's sessions are not touched");
}

pub async fn refused_writes_name_their_constraint(store: SharedStore) {
    let Seed {
        user,
        project,
        endpoint,
        pipeline,
        token_id,
        webhook,
    } = seed(&store).await;
    let other = crate::support::project(&store, "Other").await;

    // The four names the service reacts to, on create and on update.
    assert_constraint(
        store.create_project("Demo", "", 2).await,
        constraint::PROJECT_NAME,
    );
    assert_constraint(
        store.update_project(other.id, "Demo", "", 2).await,
        constraint::PROJECT_NAME,
    );
    assert_constraint(
        store
            .create_endpoint(endpoint_write(project.id, "hub"))
            .await,
        constraint::ENDPOINT_NAME,
    );
    let cluster = crate::support::endpoint(&store, project.id, "cluster").await;
    assert_constraint(
        store
            .update_endpoint(cluster.id, endpoint_write(project.id, "hub"))
            .await,
        constraint::ENDPOINT_NAME,
    );
    assert_constraint(
        store
            .create_pipeline(pipeline_write(project.id, "deploy", &[]))
            .await,
        constraint::PIPELINE_NAME,
    );
    let hooked =
        |name: &'static str| webhook_write(project.id, name, endpoint.id, pipeline.id, token_id);
    assert_constraint(
        store.create_webhook(hooked("on-push"), "h-1", "s").await,
        constraint::WEBHOOK_NAME,
    );
    let second = store
        .create_webhook(hooked("second"), "h-2", "s")
        .await
        .unwrap();
    assert_constraint(
        store.update_webhook(second.id, hooked("on-push")).await,
        constraint::WEBHOOK_NAME,
    );
    // Names are unique per project only.
    crate::support::endpoint(&store, other.id, "hub").await;
    crate::support::pipeline(&store, other.id, "deploy", &[]).await;

    // The other unique constraints carry the PostgreSQL names as well.
    store.create_session("s", user.id, 1, 2).await.unwrap();
    assert_constraint(
        store.create_session("s", user.id, 1, 2).await,
        "sessions_pkey",
    );
    assert_constraint(
        store
            .create_api_token(NewTokenRecord {
                user_id: user.id,
                name: "again",
                prefix: "slw_",
                token_hash: "seed-token",
                created_at: 2,
                expires_at: None,
            })
            .await,
        "api_tokens_token_hash_key",
    );
    assert_constraint(
        store
            .create_webhook(hooked("third"), "seed-hook", "s")
            .await,
        "docker_webhooks_secure_token_hash_key",
    );
    assert_eq!(
        store.webhook_by_id(webhook.id).await.unwrap(),
        Some(webhook)
    );

    // on_constraint: the named refusal becomes the caller's error; any other
    // store error converts as usual (an internal error).
    let named = store
        .create_project("Demo", "", 3)
        .await
        .on_constraint(constraint::PROJECT_NAME, |_| AppError::conflict("taken"));
    assert!(matches!(named, Err(AppError::Conflict { .. })), "{named:?}");
    let other_name = store
        .create_project("Demo", "", 3)
        .await
        .on_constraint(constraint::ENDPOINT_NAME, |_| AppError::conflict("taken"));
    assert!(
        matches!(other_name, Err(AppError::Internal)),
        "{other_name:?}"
    );
    let fine = store
        .create_project("Fresh", "", 3)
        .await
        .on_constraint(constraint::PROJECT_NAME, |_| AppError::conflict("taken"));
    assert_eq!(fine.unwrap().name, "Fresh");
}
