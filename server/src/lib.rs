#![recursion_limit = "512"]
//! The Slipway server: one axum process that serves the UI and the API,
//! receives registry webhooks and runs pipelines.

pub mod backup;
pub mod clock;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod deploy;
pub mod endpoints;
pub mod engine;
pub mod errors;
pub mod files;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod http;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod pinning;
pub mod pipeline_text;
pub mod receive;
pub mod retention;
pub mod secrets;
pub mod service;
pub mod startup;
pub mod store;
#[doc(hidden)]
pub mod test_support;
pub mod throttle;
pub mod yaml_guard;
