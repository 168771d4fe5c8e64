//! WORKTREE-ONLY compile shim; replaced by the real module on merge.
use app::endpoint::{Endpoint, EndpointSecrets, Validation};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Outbound {
    pub docker_hub_api_url: String,
    pub cloud_proxy_url: Option<String>,
    pub timeout: Duration,
}
pub async fn validate(_e: &Endpoint, _s: &EndpointSecrets, _o: &Outbound) -> Validation {
    unimplemented!()
}
pub fn check_url(_t: &str) -> Result<String, String> {
    unimplemented!()
}
pub fn check_pem_certificates(_t: &str) -> Result<(), String> {
    unimplemented!()
}
pub fn check_pem_private_key(_t: &str) -> Result<(), String> {
    unimplemented!()
}
pub fn kubeconfig_contexts(_t: &str) -> Result<Vec<String>, String> {
    unimplemented!()
}
