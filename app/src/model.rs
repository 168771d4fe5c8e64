//! Domain types shared by the browser and the server: what pages show and what
//! the JSON API returns. Secrets never appear in these types.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. One representation for both
/// database backends and for the browser. (The OpenAPI derives cannot see
/// through an alias, so `Millis` fields say `schema(value_type = i64)`.)
pub type Millis = i64;

/// A user as others may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub id: i64,
    pub username: String,
    /// Global administrator: may do everything in every project.
    pub is_admin: bool,
}

/// The signed-in user a page request came from, found by the server's session
/// check before the page renders (a context of the server render only).
#[derive(Clone, Debug)]
pub struct PageRequestUser(pub User);

/// A project groups endpoints, pipelines and webhooks; membership roles are per project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub updated_at: Millis,
    /// The caller's own role here; `None` for a global admin without membership.
    pub my_role: Option<ProjectRole>,
}

/// What a create or an edit of a project carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProjectInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Roles inside one project, from the least to the most powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ProjectRole {
    /// Reads everything in the project.
    Viewer,
    /// Also runs pipelines.
    Executor,
    /// Also edits endpoints, pipelines and webhooks.
    Developer,
    /// Also manages the project's members.
    Administrator,
}

impl ProjectRole {
    pub const ALL: [ProjectRole; 4] = [
        ProjectRole::Viewer,
        ProjectRole::Executor,
        ProjectRole::Developer,
        ProjectRole::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Viewer => "viewer",
            ProjectRole::Executor => "executor",
            ProjectRole::Developer => "developer",
            ProjectRole::Administrator => "administrator",
        }
    }

    pub fn parse(text: &str) -> Option<ProjectRole> {
        ProjectRole::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

/// A member of a project and their role there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub role: ProjectRole,
}

/// A user created by an administrator.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
}

/// An API token as listed: the secret itself is shown once, at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, enough to recognise it.
    pub prefix: String,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub last_used_at: Option<Millis>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub revoked_at: Option<Millis>,
    /// `None`: the token never expires.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub expires_at: Option<Millis>,
}

impl ApiTokenInfo {
    /// Usable for the API: neither revoked nor past its expiry.
    pub fn is_active_at(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| expiry > now)
    }
}

/// What a new API token is created with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    pub name: String,
    /// Days until the token stops working, 1 to [`MAX_TOKEN_LIFETIME_DAYS`];
    /// `None`: it never expires.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl TokenRequest {
    pub fn never_expiring(name: impl Into<String>) -> Self {
        TokenRequest {
            name: name.into(),
            expires_in_days: None,
        }
    }
}

/// The longest expiry a token may be given (ten years); longer is "never".
pub const MAX_TOKEN_LIFETIME_DAYS: u32 = 3650;

/// The answer to a token creation: the only time the secret leaves the server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewApiToken {
    pub info: ApiTokenInfo,
    pub token: String,
}

/// A user changing their own password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

crate::redacted_debug!(NewUser { username, is_admin } secret { password });
crate::redacted_debug!(PasswordChange {} secret { current_password, new_password });
crate::redacted_debug!(NewApiToken { info } secret { token });

/// Rules for names of projects (and later of every named object): they are
/// used to refer to objects in the API, so an all-digit name would read as an id.
pub fn validate_name(field: &str, name: &str) -> Result<(), crate::error::AppError> {
    let invalid = |message: &str| Err(crate::error::AppError::invalid(field, message));
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return invalid("is required");
    }
    if trimmed != name {
        return invalid("must not start or end with spaces");
    }
    if name.chars().count() > 64 {
        return invalid("must be at most 64 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
    {
        return invalid("may contain only letters, digits, spaces, '-', '_' and '.'");
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return invalid("must not be only digits (those refer to ids)");
    }
    Ok(())
}

/// A session ends this many hours after sign-in, however much it is used.
pub const SESSION_LIFETIME_HOURS: i64 = 14 * 24;
/// A session ends after this many hours without a request.
pub const SESSION_IDLE_HOURS: i64 = 12;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Rules for a new password: long enough to resist the guessing that
/// sign-in throttling still lets through.
pub fn validate_new_password(field: &str, password: &str) -> Result<(), crate::error::AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(crate::error::AppError::invalid(
            field,
            &format!("must be at least {MIN_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

/// Descriptions are free text, bounded so a page stays readable.
pub fn validate_description(field: &str, text: &str) -> Result<(), crate::error::AppError> {
    if text.chars().count() > 1000 {
        return Err(crate::error::AppError::invalid(
            field,
            "must be at most 1000 characters long",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_field_by_field() {
        assert!(validate_name("name", "Demo project").is_ok());
        assert!(validate_name("name", "").is_err());
        assert!(validate_name("name", " padded").is_err());
        assert!(validate_name("name", "123").is_err());
        assert!(validate_name("name", "a/b").is_err());
        assert!(validate_name("name", &"x".repeat(65)).is_err());
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(ProjectRole::Viewer < ProjectRole::Executor);
        assert!(ProjectRole::Developer < ProjectRole::Administrator);
        assert_eq!(
            ProjectRole::parse("developer"),
            Some(ProjectRole::Developer)
        );
        assert_eq!(ProjectRole::parse("owner"), None);
    }
}
