//! Checks of what people type into the endpoint form. Each answers with a
//! message about the one field, and never quotes the field's content: it may
//! be a private key or a kubeconfig full of tokens.

use kube::config::{Kubeconfig, KubeconfigError};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// An `http://` or `https://` URL with a host and without `user:password@`
/// (credentials have their own fields, where they are sealed).
pub fn check_url(text: &str) -> Result<reqwest::Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("enter a URL".to_string());
    }
    if !text.contains("://") {
        return Err("start the URL with http:// or https://".to_string());
    }
    let url =
        reqwest::Url::parse(text).map_err(|error| format!("this is not a valid URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("start the URL with http:// or https://".to_string());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "leave the user name and password out of the URL: they have their own fields"
                .to_string(),
        );
    }
    Ok(url)
}

/// At least one PEM `CERTIFICATE` block, each a parseable X.509 certificate.
/// Answers how many there are.
pub fn check_pem_certificates(text: &str) -> Result<usize, String> {
    parse_certificates(text).map(|certificates| certificates.len())
}

pub(crate) fn parse_certificates(text: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certificates = Vec::new();
    for item in CertificateDer::pem_slice_iter(text.trim().as_bytes()) {
        let certificate = item.map_err(|error| describe_pem_error(&error))?;
        // Adding to a trust store parses the certificate (subject, public key),
        // which catches a block that is base64 but not a certificate.
        rustls::RootCertStore::empty()
            .add(certificate.clone())
            .map_err(|_| {
                format!(
                    "certificate {} is not a valid X.509 certificate",
                    certificates.len() + 1
                )
            })?;
        certificates.push(certificate);
    }
    if certificates.is_empty() {
        return Err(
            "no certificate found: paste the PEM text, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"
                .to_string(),
        );
    }
    Ok(certificates)
}

/// A PEM private key (PKCS#8 `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE
/// KEY`, unencrypted) that TLS can really use.
pub fn check_pem_private_key(text: &str) -> Result<(), String> {
    parse_private_key(text).map(|_| ())
}

fn parse_private_key(text: &str) -> Result<PrivateKeyDer<'static>, String> {
    if text.contains("ENCRYPTED PRIVATE KEY") {
        return Err("the private key is encrypted: paste it without a passphrase".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(text.trim().as_bytes()).map_err(|error| match error {
        pem::Error::NoItemsFound => "no private key found: paste the PEM text, from -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) to its END line".to_string(),
        other => describe_pem_error(&other),
    })?;
    rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| {
            "the private key could not be loaded (an unsupported key type, or damaged)".to_string()
        })?;
    Ok(key)
}

/// A client certificate and the private key that belongs to it.
pub fn check_client_identity(certificate_pem: &str, private_key_pem: &str) -> Result<(), String> {
    let certificates = parse_certificates(certificate_pem)?;
    let key = parse_private_key(private_key_pem)?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(certificates, key, &provider)
        .map(|_| ())
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not belong to the client certificate".to_string()
            }
            _ => "the client certificate and key could not be used together".to_string(),
        })
}

/// Our own words for PEM framing errors: the library's quote the offending line.
fn describe_pem_error(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => {
            "a PEM block has no matching -----END …----- line".to_string()
        }
        pem::Error::IllegalSectionStart { .. } => {
            "a -----BEGIN …----- line is malformed".to_string()
        }
        pem::Error::Base64Decode(_) => "a PEM block's content is not valid base64".to_string(),
        _ => "the PEM text is malformed".to_string(),
    }
}

/// The context names of a pasted kubeconfig.
pub fn kubeconfig_contexts(text: &str) -> Result<Vec<String>, String> {
    let kubeconfig = parse_kubeconfig(text)?;
    let names: Vec<String> = kubeconfig
        .contexts
        .iter()
        .map(|context| context.name.clone())
        .collect();
    if names.is_empty() {
        return Err("the kubeconfig defines no contexts".to_string());
    }
    Ok(names)
}

/// Picks the context Slipway will use (`wanted`, else the kubeconfig's
/// current context, else its only one) and checks that it is self-contained.
/// Answers the context's name.
pub fn check_kubeconfig_context(text: &str, wanted: Option<&str>) -> Result<String, String> {
    chosen_context(&parse_kubeconfig(text)?, wanted)
}

pub(crate) fn parse_kubeconfig(text: &str) -> Result<Kubeconfig, String> {
    if text.trim().is_empty() {
        return Err("the kubeconfig is empty".to_string());
    }
    Kubeconfig::from_yaml(text).map_err(|error| describe_kubeconfig_error(&error))
}

/// kube's texts, except for YAML errors: those quote the text around the
/// error, which may be a token, so only the position is given.
pub(crate) fn describe_kubeconfig_error(error: &KubeconfigError) -> String {
    match error {
        KubeconfigError::Parse(parse) => match parse.location().filter(|at| at.line() > 0) {
            Some(at) => format!(
                "it is not valid kubeconfig YAML (problem at line {}, column {})",
                at.line(),
                at.column()
            ),
            None => "it is not valid kubeconfig YAML".to_string(),
        },
        other => other.to_string(),
    }
}

pub(crate) fn chosen_context(
    kubeconfig: &Kubeconfig,
    wanted: Option<&str>,
) -> Result<String, String> {
    let name = select_context(kubeconfig, wanted)?;
    check_self_contained(kubeconfig, &name)?;
    Ok(name)
}

fn select_context(kubeconfig: &Kubeconfig, wanted: Option<&str>) -> Result<String, String> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|context| context.name.as_str())
        .collect();
    if names.is_empty() {
        return Err("the kubeconfig defines no contexts".to_string());
    }
    let wanted = wanted.map(str::trim).filter(|name| !name.is_empty());
    let current = kubeconfig
        .current_context
        .as_deref()
        .filter(|name| !name.is_empty());
    match (wanted, current) {
        (Some(name), _) if names.contains(&name) => Ok(name.to_string()),
        (Some(name), _) => Err(format!(
            "the kubeconfig has no context '{name}' (it has: {})",
            names.join(", ")
        )),
        (None, Some(name)) if names.contains(&name) => Ok(name.to_string()),
        (None, Some(name)) => Err(format!(
            "the kubeconfig's current-context '{name}' is not among its contexts: choose one of {}",
            names.join(", ")
        )),
        (None, None) if names.len() == 1 => Ok(names[0].to_string()),
        (None, None) => Err(format!(
            "the kubeconfig has no current-context: choose one of {}",
            names.join(", ")
        )),
    }
}

/// The server must not act on a kubeconfig's references to its own disk
/// (`tokenFile: /var/run/secrets/…` would hand the server's service account
/// token to whoever the kubeconfig points at) nor run its commands (`exec`).
fn check_self_contained(kubeconfig: &Kubeconfig, context_name: &str) -> Result<(), String> {
    let context = kubeconfig
        .contexts
        .iter()
        .find(|context| context.name == context_name)
        .and_then(|context| context.context.as_ref())
        .ok_or_else(|| format!("the context '{context_name}' is empty"))?;

    let cluster_name = &context.cluster;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|cluster| &cluster.name == cluster_name)
        .and_then(|cluster| cluster.cluster.as_ref())
        .ok_or_else(|| {
            format!("the context '{context_name}' names the cluster '{cluster_name}', which the kubeconfig does not define")
        })?;
    if cluster
        .server
        .as_deref()
        .is_none_or(|server| server.trim().is_empty())
    {
        return Err(format!("the cluster '{cluster_name}' has no server URL"));
    }
    if cluster.certificate_authority.is_some() {
        return Err(refers_to_file(
            "cluster",
            cluster_name,
            "certificate-authority",
            "certificate-authority-data",
        ));
    }
    if cluster.proxy_url.is_some() {
        return Err(format!(
            "the cluster '{cluster_name}' uses proxy-url, which Slipway does not support"
        ));
    }

    let Some(user_name) = context.user.as_deref() else {
        return Ok(());
    };
    let user = kubeconfig
        .auth_infos
        .iter()
        .find(|user| user.name == user_name)
        .and_then(|user| user.auth_info.as_ref())
        .ok_or_else(|| {
            format!("the context '{context_name}' names the user '{user_name}', which the kubeconfig does not define")
        })?;
    let plugin = if user.exec.is_some() {
        Some("runs a command (exec)")
    } else if user.auth_provider.is_some() {
        Some("uses an auth-provider plugin")
    } else {
        None
    };
    if let Some(plugin) = plugin {
        return Err(format!(
            "the user '{user_name}' {plugin} to get credentials, which Slipway does not do: use a token or client-certificate-data and client-key-data"
        ));
    }
    let files = [
        (user.token_file.is_some(), "tokenFile", "token"),
        (
            user.client_certificate.is_some(),
            "client-certificate",
            "client-certificate-data",
        ),
        (user.client_key.is_some(), "client-key", "client-key-data"),
    ];
    if let Some((_, field, instead)) = files.iter().find(|(present, _, _)| *present) {
        return Err(refers_to_file("user", user_name, field, instead));
    }
    Ok(())
}

fn refers_to_file(what: &str, name: &str, field: &str, instead: &str) -> String {
    format!("the {what} '{name}' refers to a file ({field}), which the server will not read: use {instead} instead")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::test_support::{CLIENT_CERT_PEM, CLIENT_KEY_PEM, OTHER_KEY_PEM};

    #[test]
    fn urls_need_http_or_https_a_host_and_no_credentials() {
        assert_eq!(
            check_url(" https://registry.example.com:5000/v2/ ").map(|url| url.to_string()),
            Ok("https://registry.example.com:5000/v2/".to_string())
        );
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert_eq!(check_url(""), Err("enter a URL".to_string()));
        assert_eq!(
            check_url("registry.example.com"),
            Err("start the URL with http:// or https://".to_string())
        );
        assert_eq!(
            check_url("ftp://example.com"),
            Err("start the URL with http:// or https://".to_string())
        );
        assert!(check_url("http://exa mple.com").is_err());
        let with_password = check_url("https://bob:hunter2@example.com").unwrap_err();
        assert!(with_password.contains("their own fields"));
        assert!(!with_password.contains("hunter2"));
    }

    #[test]
    fn certificates_must_be_pem_x509() {
        assert_eq!(check_pem_certificates(CLIENT_CERT_PEM), Ok(1));
        let two = format!("{CLIENT_CERT_PEM}\n{CLIENT_CERT_PEM}");
        assert_eq!(check_pem_certificates(&two), Ok(2));
        assert!(check_pem_certificates("hello")
            .unwrap_err()
            .starts_with("no certificate found"));
        // A key is PEM, but not a certificate.
        assert!(check_pem_certificates(CLIENT_KEY_PEM)
            .unwrap_err()
            .starts_with("no certificate found"));
        let not_x509 = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            check_pem_certificates(not_x509),
            Err("certificate 1 is not a valid X.509 certificate".to_string())
        );
        let cut = &CLIENT_CERT_PEM[..CLIENT_CERT_PEM.len() / 2];
        assert_eq!(
            check_pem_certificates(cut),
            Err("a PEM block has no matching -----END …----- line".to_string())
        );
    }

    #[test]
    fn private_keys_must_load_and_match_their_certificate() {
        assert_eq!(check_pem_private_key(CLIENT_KEY_PEM), Ok(()));
        assert!(check_pem_private_key(CLIENT_CERT_PEM)
            .unwrap_err()
            .starts_with("no private key found"));
        let damaged = "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n";
        let error = check_pem_private_key(damaged).unwrap_err();
        assert!(error.contains("could not be loaded"), "{error}");
        assert!(!error.contains("aGVsbG8"));
        assert_eq!(
            check_client_identity(CLIENT_CERT_PEM, CLIENT_KEY_PEM),
            Ok(())
        );
        assert_eq!(
            check_client_identity(CLIENT_CERT_PEM, OTHER_KEY_PEM),
            Err("the private key does not belong to the client certificate".to_string())
        );
    }

    const TWO_CONTEXTS: &str = r#"
apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: dev-cluster
  cluster: {server: "https://dev.example.com:6443"}
- name: staging-cluster
  cluster: {server: "https://staging.example.com:6443"}
users:
- name: dev-user
  user: {token: dev-token-value}
- name: staging-user
  user: {token: staging-token-value}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: apps}
- name: staging
  context: {cluster: staging-cluster, user: staging-user}
"#;

    #[test]
    fn kubeconfig_contexts_are_listed_and_chosen() {
        assert_eq!(
            kubeconfig_contexts(TWO_CONTEXTS),
            Ok(vec!["dev".to_string(), "staging".to_string()])
        );
        assert_eq!(
            check_kubeconfig_context(TWO_CONTEXTS, None),
            Ok("staging".to_string())
        );
        assert_eq!(
            check_kubeconfig_context(TWO_CONTEXTS, Some("dev")),
            Ok("dev".to_string())
        );
        assert_eq!(
            check_kubeconfig_context(TWO_CONTEXTS, Some("prod")),
            Err("the kubeconfig has no context 'prod' (it has: dev, staging)".to_string())
        );
        let without_current = TWO_CONTEXTS.replace("current-context: staging", "");
        assert_eq!(
            check_kubeconfig_context(&without_current, None),
            Err("the kubeconfig has no current-context: choose one of dev, staging".to_string())
        );
    }

    #[test]
    fn kubeconfig_errors_never_quote_the_text() {
        let broken = "users:\n- name: u\n  user: {token: \"super-secret-token\n";
        let error = kubeconfig_contexts(broken).unwrap_err();
        assert!(
            error.starts_with("it is not valid kubeconfig YAML"),
            "{error}"
        );
        assert!(!error.contains("super-secret"), "{error}");
        let wrong_type = "contexts: super-secret-token\n";
        let error = kubeconfig_contexts(wrong_type).unwrap_err();
        assert!(!error.contains("super-secret"), "{error}");
        assert_eq!(
            kubeconfig_contexts("  \n"),
            Err("the kubeconfig is empty".to_string())
        );
        assert_eq!(
            kubeconfig_contexts("apiVersion: v1\nkind: Config\n"),
            Err("the kubeconfig defines no contexts".to_string())
        );
    }

    #[test]
    fn kubeconfigs_may_not_run_commands_or_read_server_files() {
        let exec = TWO_CONTEXTS.replace(
            "user: {token: staging-token-value}",
            "user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, id]}}",
        );
        let error = check_kubeconfig_context(&exec, None).unwrap_err();
        assert!(error.contains("runs a command (exec)"), "{error}");
        // The other context does not use the exec user and stays usable.
        assert_eq!(
            check_kubeconfig_context(&exec, Some("dev")),
            Ok("dev".to_string())
        );

        let token_file = TWO_CONTEXTS.replace(
            "user: {token: staging-token-value}",
            "user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}",
        );
        assert_eq!(
            check_kubeconfig_context(&token_file, None),
            Err("the user 'staging-user' refers to a file (tokenFile), which the server will not read: use token instead".to_string())
        );
        let ca_file = TWO_CONTEXTS.replace(
            "cluster: {server: \"https://staging.example.com:6443\"}",
            "cluster: {server: \"https://staging.example.com:6443\", certificate-authority: /etc/ssl/ca.pem}",
        );
        assert!(check_kubeconfig_context(&ca_file, None)
            .unwrap_err()
            .contains("(certificate-authority)"));
    }
}
