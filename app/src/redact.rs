//! `Debug` for types that hold a secret (a password, a token, a hash of one,
//! a sealed value): the secret fields print as `<redacted>`, so a debug print
//! or a `?value` in a log line never carries them.

/// Implements `Debug` for a struct, printing the `secret` fields as
/// `<redacted>`. Every field must be named, public or secret: a field added
/// later fails to compile until it is sorted into one list.
#[macro_export]
macro_rules! redacted_debug {
    ($name:ident { $($field:ident),* $(,)? } secret { $($secret:ident),+ $(,)? }) => {
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, formatter: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let $name { $($field,)* $($secret: _,)+ } = self;
                formatter
                    .debug_struct(stringify!($name))
                    $(.field(stringify!($field), $field))*
                    $(.field(stringify!($secret), &format_args!("<redacted>")))+
                    .finish()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::endpoint::EndpointSecrets;
    use crate::model::{ApiTokenInfo, NewApiToken, NewUser, PasswordChange};

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let user = NewUser {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            is_admin: false,
        };
        let token = NewApiToken {
            info: ApiTokenInfo {
                id: 1,
                name: "ci".into(),
                prefix: "slw_ab".into(),
                created_at: 0,
                last_used_at: None,
                revoked_at: None,
                expires_at: None,
            },
            token: "slw_abcdef-secret".into(),
        };
        let secrets = EndpointSecrets {
            password: Some("p-secret".into()),
            token: Some("t-secret".into()),
            client_key: Some("k-secret".into()),
            kubeconfig: Some("kube-secret".into()),
        };

        let input = crate::endpoint::EndpointInput {
            name: "cluster".into(),
            kubeconfig: Some("kube-secret".into()),
            ..Default::default()
        };

        let webhook_input = crate::webhook::DockerWebhookInput {
            name: "on-push".into(),
            api_token: "slw_token-secret".into(),
            ..Default::default()
        };
        let change = PasswordChange {
            current_password: "old-secret".into(),
            new_password: "new-secret".into(),
        };

        let printed =
            format!("{user:?} {token:?} {secrets:?} {input:?} {webhook_input:?} {change:?}");

        assert!(!printed.contains("secret"), "{printed}");
        assert!(
            printed.contains("alice") && printed.contains("slw_ab"),
            "{printed}"
        );
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
