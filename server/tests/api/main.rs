//! One test binary for the whole HTTP surface (zero-to-production style):
//! every test starts the real server on port 0 with its own data directory.

mod approvals;
mod audit;
mod auth;
mod backups;
mod deploy_files;
mod digests;
mod endpoints;
mod helpers;
mod ingest_kill;
mod live;
mod live_replicas;
mod metrics;
mod notifications;
mod openapi;
mod pages;
mod pipelines;
mod processes;
mod projects;
mod recovery;
mod registries;
mod registry;
mod replicas;
mod retention;
mod roles;
mod rollouts;
mod sessions;
mod sign_in_limits;
mod site_files;
mod startup;
mod status;
mod webhook_limits;
mod webhooks;
mod webhooks_bad_data;
