//! Leptos server functions: the browser's door to the backend. Each one
//! resolves the signed-in user from the session cookie and delegates to
//! [`crate::backend::Backend`], so rules live in one place.
//!
//! Endpoints are fixed (`endpoint = …`) so browser tests and logs see stable URLs.

use leptos::prelude::*;

use crate::audit::{AuditEntry, AuditFilter};
use crate::endpoint::{Endpoint, EndpointInput, Validation};
use crate::error::AppError;
use crate::execution::{Execution, ExecutionFilter, ExecutionSummary, Pipeline};
use crate::model::*;
use crate::pipeline::PipelineSpec;
use crate::webhook::{
    ActivityFilter, DockerEvent, DockerWebhook, DockerWebhookInput, TagTrial, TagTrialAnswer,
};
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
mod session {
    use crate::backend::{Actor, ClientAddress, SharedBackend};
    use crate::error::AppError;
    use leptos::prelude::*;

    pub fn backend() -> Result<SharedBackend, AppError> {
        use_context::<SharedBackend>().ok_or(AppError::Internal)
    }

    /// The session token from the request's cookie header, if any.
    pub fn session_token() -> Option<String> {
        let parts = use_context::<http::request::Parts>()?;
        backend().ok()?.session_cookie().token_from(&parts.headers)
    }

    /// Where the request came from, as the server determined it.
    pub fn client_address() -> Option<std::net::IpAddr> {
        let parts = use_context::<http::request::Parts>()?;
        parts
            .extensions
            .get::<ClientAddress>()
            .map(|client| client.0)
    }

    pub async fn actor() -> Result<(SharedBackend, Actor), AppError> {
        let backend = backend()?;
        let token = session_token().ok_or(AppError::Unauthorized)?;
        let mut actor = backend
            .actor_for_session(&token)
            .await?
            .ok_or(AppError::Unauthorized)?;
        actor.client = client_address();
        Ok((backend, actor))
    }

    /// Runs `call` as the signed-in user (unauthorized without a valid
    /// session), and answers as [`respond`] does: the one way in for every
    /// server function that acts for someone.
    pub async fn as_actor<T, F, Fut>(call: F) -> Result<T, AppError>
    where
        F: FnOnce(SharedBackend, Actor) -> Fut,
        Fut: std::future::Future<Output = Result<T, AppError>>,
    {
        let result = match actor().await {
            Ok((backend, actor)) => call(backend, actor).await,
            Err(error) => Err(error),
        };
        respond(result)
    }

    /// Gives the HTTP answer of a failed server function the error's status
    /// (leptos answers 500 for every error otherwise) and, for a 429 or 503,
    /// its `Retry-After`.
    pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        if let Err(error) = &result {
            if let (Some(response), Ok(status)) = (
                use_context::<leptos_axum::ResponseOptions>(),
                http::StatusCode::from_u16(error.status_code()),
            ) {
                response.set_status(status);
                if let Some(seconds) = error.retry_after_seconds() {
                    response
                        .insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
                }
            }
        }
        result
    }

    /// Sets or clears the session cookie on the server function's response.
    pub fn set_session_cookie(backend: &SharedBackend, value: &str, max_age_seconds: i64) {
        let response = expect_context::<leptos_axum::ResponseOptions>();
        let cookie = backend.session_cookie().set_cookie(value, max_age_seconds);
        if let Ok(header) = http::HeaderValue::from_str(&cookie) {
            response.append_header(http::header::SET_COOKIE, header);
        }
    }
}

/// The signed-in user, or `None` when the visitor has to sign in.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<User>, AppError> {
    session::respond(
        async move {
            match session::actor().await {
                Ok((_, actor)) => Ok(Some(actor.user)),
                Err(AppError::Unauthorized) => Ok(None),
                Err(error) => Err(error),
            }
        }
        .await,
    )
}

/// How long the browser keeps the session cookie: the session's absolute
/// lifetime (the server also ends it after a while without use).
pub const SESSION_COOKIE_MAX_AGE_SECONDS: i64 = SESSION_LIFETIME_HOURS * 60 * 60;

#[server(endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<(), AppError> {
    session::respond(
        async move {
            let backend = session::backend()?;
            let client = session::client_address();
            let token = backend.sign_in(&username, &password, client).await?;
            session::set_session_cookie(&backend, &token, SESSION_COOKIE_MAX_AGE_SECONDS);
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    session::respond(
        async move {
            let backend = session::backend()?;
            if let Some(token) = session::session_token() {
                backend.sign_out(&token).await?;
            }
            session::set_session_cookie(&backend, "", 0);
            Ok(())
        }
        .await,
    )
}

/// Ends every session of the signed-in user, this one included.
#[server(endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<u64, AppError> {
    session::as_actor(|backend, actor| async move {
        let ended = backend.sign_out_everywhere(&actor).await?;
        session::set_session_cookie(&backend, "", 0);
        Ok(ended)
    })
    .await
}

/// Changes the signed-in user's password; their other sessions end.
#[server(endpoint = "account/password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    session::as_actor(|backend, actor| async move {
        let change = PasswordChange {
            current_password,
            new_password,
        };
        let client = session::client_address();
        let this_session = session::session_token();
        backend
            .change_password(&actor, change, client, this_session.as_deref())
            .await
    })
    .await
}

#[server(endpoint = "projects/list")]
pub async fn list_projects() -> Result<Vec<Project>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_projects(&actor).await }).await
}

#[server(endpoint = "projects/create")]
pub async fn create_project(name: String, description: String) -> Result<Project, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .create_project(&actor, ProjectInput { name, description })
            .await
    })
    .await
}

#[server(endpoint = "projects/update")]
pub async fn update_project(
    id: i64,
    name: String,
    description: String,
) -> Result<Project, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .update_project(&actor, &id.to_string(), ProjectInput { name, description })
            .await
    })
    .await
}

#[server(endpoint = "projects/delete")]
pub async fn delete_project(id: i64) -> Result<(), AppError> {
    session::as_actor(|backend, actor| async move {
        backend.delete_project(&actor, &id.to_string()).await
    })
    .await
}

#[server(endpoint = "tokens/list")]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_api_tokens(&actor).await }).await
}

#[server(endpoint = "tokens/create")]
pub async fn create_api_token(name: String, expires: String) -> Result<NewApiToken, AppError> {
    // The form's choice is "never" or a number of days.
    let expires_in_days =
        match expires.trim() {
            "" | "never" => None,
            days => Some(days.parse::<u32>().map_err(|_| {
                AppError::invalid("expires", "must be a number of days or \"never\"")
            })?),
        };
    session::as_actor(|backend, actor| async move {
        backend
            .create_api_token(
                &actor,
                TokenRequest {
                    name,
                    expires_in_days,
                },
            )
            .await
    })
    .await
}

#[server(endpoint = "tokens/revoke")]
pub async fn revoke_api_token(id: i64) -> Result<(), AppError> {
    session::as_actor(|backend, actor| async move { backend.revoke_api_token(&actor, id).await })
        .await
}

#[server(endpoint = "members/list")]
pub async fn list_members(project: i64) -> Result<Vec<Member>, AppError> {
    session::as_actor(|backend, actor| async move {
        backend.list_members(&actor, &project.to_string()).await
    })
    .await
}

#[server(endpoint = "members/set")]
pub async fn set_member(project: i64, username: String, role: String) -> Result<Member, AppError> {
    session::as_actor(|backend, actor| async move {
        let role = ProjectRole::parse(&role).ok_or_else(|| {
            AppError::invalid(
                "role",
                "must be viewer, executor, developer or administrator",
            )
        })?;
        backend
            .set_member(&actor, &project.to_string(), &username, role)
            .await
    })
    .await
}

#[server(endpoint = "members/remove")]
pub async fn remove_member(project: i64, username: String) -> Result<(), AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .remove_member(&actor, &project.to_string(), &username)
            .await
    })
    .await
}

#[server(endpoint = "users/list")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_users(&actor).await }).await
}

#[server(endpoint = "users/create")]
pub async fn create_user(
    username: String,
    password: String,
    is_admin: Option<String>,
) -> Result<User, AppError> {
    session::as_actor(|backend, actor| async move {
        let input = NewUser {
            username,
            password,
            is_admin: is_admin.is_some(),
        };
        backend.create_user(&actor, input).await
    })
    .await
}

#[server(endpoint = "endpoints/list")]
pub async fn list_endpoints() -> Result<Vec<Endpoint>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_endpoints(&actor).await }).await
}

/// Creates (`id` None) or updates an endpoint. JSON-encoded: the form is built
/// from signals, and its shape (optional secrets, flags) does not fit a flat form.
#[server(endpoint = "endpoints/save", input = server_fn::codec::Json)]
pub async fn save_endpoint(id: Option<i64>, input: EndpointInput) -> Result<Endpoint, AppError> {
    session::as_actor(|backend, actor| async move {
        match id {
            Some(id) => {
                backend
                    .update_endpoint(&actor, &id.to_string(), None, input)
                    .await
            }
            None => backend.create_endpoint(&actor, input).await,
        }
    })
    .await
}

#[server(endpoint = "endpoints/delete")]
pub async fn delete_endpoint(id: i64) -> Result<(), AppError> {
    session::as_actor(|backend, actor| async move {
        backend.delete_endpoint(&actor, &id.to_string(), None).await
    })
    .await
}

#[server(endpoint = "endpoints/validate")]
pub async fn validate_endpoint(id: i64) -> Result<Validation, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .validate_endpoint(&actor, &id.to_string(), None)
            .await
    })
    .await
}

#[server(endpoint = "endpoints/validate_draft", input = server_fn::codec::Json)]
pub async fn validate_endpoint_draft(
    id: Option<i64>,
    input: EndpointInput,
) -> Result<Validation, AppError> {
    session::as_actor(|backend, actor| async move {
        backend.validate_endpoint_draft(&actor, id, input).await
    })
    .await
}

#[server(endpoint = "pipelines/list")]
pub async fn list_pipelines() -> Result<Vec<Pipeline>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_pipelines(&actor).await }).await
}

#[server(endpoint = "pipelines/get")]
pub async fn get_pipeline(id: i64) -> Result<Pipeline, AppError> {
    session::as_actor(|backend, actor| async move {
        backend.get_pipeline(&actor, &id.to_string(), None).await
    })
    .await
}

/// Creates (`id` None) or updates a pipeline from the editor.
#[server(endpoint = "pipelines/save", input = server_fn::codec::Json)]
pub async fn save_pipeline(id: Option<i64>, spec: PipelineSpec) -> Result<Pipeline, AppError> {
    session::as_actor(|backend, actor| async move {
        match id {
            Some(id) => {
                backend
                    .update_pipeline(&actor, &id.to_string(), None, spec)
                    .await
            }
            None => backend.create_pipeline(&actor, spec).await,
        }
    })
    .await
}

#[server(endpoint = "pipelines/delete")]
pub async fn delete_pipeline(id: i64, delete_runs: bool) -> Result<(), AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .delete_pipeline(&actor, &id.to_string(), None, delete_runs)
            .await
    })
    .await
}

/// The editor's YAML view: the definition as YAML.
#[server(endpoint = "pipelines/to_yaml", input = server_fn::codec::Json)]
pub async fn pipeline_to_yaml(spec: PipelineSpec) -> Result<String, AppError> {
    session::as_actor(|backend, _| async move { Ok(backend.pipeline_to_yaml(&spec)) }).await
}

/// The editor's YAML view: YAML (or JSON) back to a definition.
#[server(endpoint = "pipelines/from_yaml", input = server_fn::codec::Json)]
pub async fn pipeline_from_yaml(text: String) -> Result<PipelineSpec, AppError> {
    session::as_actor(|backend, _| async move { backend.pipeline_from_text(&text) }).await
}

#[server(endpoint = "pipelines/run", input = server_fn::codec::Json)]
pub async fn run_pipeline(
    id: i64,
    inputs: BTreeMap<String, String>,
) -> Result<ExecutionSummary, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .run_pipeline(&actor, &id.to_string(), None, inputs)
            .await
    })
    .await
}

#[server(endpoint = "executions/list", input = server_fn::codec::Json)]
pub async fn list_executions(filter: ExecutionFilter) -> Result<Vec<ExecutionSummary>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_executions(&actor, filter).await })
        .await
}

#[server(endpoint = "executions/get")]
pub async fn get_execution(id: i64) -> Result<Execution, AppError> {
    session::as_actor(|backend, actor| async move { backend.get_execution(&actor, id).await }).await
}

#[server(endpoint = "executions/cancel")]
pub async fn cancel_execution(id: i64) -> Result<ExecutionSummary, AppError> {
    session::as_actor(|backend, actor| async move { backend.cancel_execution(&actor, id).await })
        .await
}

/// Approves or rejects a waiting approval task (`task` is `<stage>.<task>`).
#[server(endpoint = "executions/decide", input = server_fn::codec::Json)]
pub async fn decide_approval(
    id: i64,
    decision: crate::approval::Decision,
    request: crate::approval::DecisionRequest,
) -> Result<Execution, AppError> {
    session::as_actor(|backend, actor| async move {
        backend.decide_approval(&actor, id, decision, request).await
    })
    .await
}

/// The approvals waiting that the signed-in user may decide.
#[server(endpoint = "approvals/waiting")]
pub async fn waiting_approvals() -> Result<Vec<crate::approval::WaitingApproval>, AppError> {
    session::as_actor(|backend, actor| async move { backend.waiting_approvals(&actor).await }).await
}

#[server(endpoint = "webhooks/list")]
pub async fn list_webhooks() -> Result<Vec<DockerWebhook>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_webhooks(&actor).await }).await
}

/// Creates (`id` None) or updates a Docker webhook; a create's answer carries the hook URL, once.
#[server(endpoint = "webhooks/save", input = server_fn::codec::Json)]
pub async fn save_webhook(
    id: Option<i64>,
    input: DockerWebhookInput,
) -> Result<DockerWebhook, AppError> {
    session::as_actor(|backend, actor| async move {
        match id {
            Some(id) => {
                backend
                    .update_webhook(&actor, &id.to_string(), None, input)
                    .await
            }
            None => backend.create_webhook(&actor, input).await,
        }
    })
    .await
}

/// The form's "Try a tag": the patterns as typed, before they are saved.
#[server(endpoint = "webhooks/try", input = server_fn::codec::Json)]
pub async fn try_tag(trial: TagTrial) -> Result<TagTrialAnswer, AppError> {
    session::as_actor(|backend, actor| async move { backend.try_tag(&actor, trial).await }).await
}

#[server(endpoint = "webhooks/toggle")]
pub async fn toggle_webhook(id: i64, enabled: bool) -> Result<DockerWebhook, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .set_webhook_enabled(&actor, &id.to_string(), None, enabled)
            .await
    })
    .await
}

/// Deletes the webhook; answers why the Docker Hub side could not be removed, if so.
#[server(endpoint = "webhooks/delete")]
pub async fn delete_webhook(id: i64) -> Result<Option<String>, AppError> {
    session::as_actor(|backend, actor| async move {
        backend.delete_webhook(&actor, &id.to_string(), None).await
    })
    .await
}

#[server(endpoint = "webhooks/regenerate")]
pub async fn regenerate_webhook_token(id: i64) -> Result<DockerWebhook, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .regenerate_webhook_token(&actor, &id.to_string(), None)
            .await
    })
    .await
}

#[server(endpoint = "webhooks/sync")]
pub async fn retry_webhook_sync(id: i64) -> Result<DockerWebhook, AppError> {
    session::as_actor(|backend, actor| async move {
        backend
            .retry_webhook_sync(&actor, &id.to_string(), None)
            .await
    })
    .await
}

#[server(endpoint = "activity/list", input = server_fn::codec::Json)]
pub async fn list_activity(filter: ActivityFilter) -> Result<Vec<DockerEvent>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_activity(&actor, filter).await })
        .await
}

#[server(endpoint = "activity/rerun")]
pub async fn rerun_event(id: i64) -> Result<DockerEvent, AppError> {
    session::as_actor(|backend, actor| async move { backend.rerun_event(&actor, id).await }).await
}

#[server(endpoint = "audit/list", input = server_fn::codec::Json)]
pub async fn list_audit(filter: AuditFilter) -> Result<Vec<AuditEntry>, AppError> {
    session::as_actor(|backend, actor| async move { backend.list_audit(&actor, filter).await })
        .await
}

/// How the server stands (the status page; global admins only).
#[server(endpoint = "status")]
pub async fn server_status() -> Result<crate::status::ServerStatus, AppError> {
    session::as_actor(|backend, actor| async move { backend.server_status(&actor).await }).await
}

/// Whether the signed-in user may read the audit trail (the navigation's link).
#[server(endpoint = "audit/allowed")]
pub async fn may_read_audit() -> Result<bool, AppError> {
    session::as_actor(|backend, actor| async move { backend.may_read_audit(&actor).await }).await
}
