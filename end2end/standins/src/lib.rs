//! Local stand-ins for the two outside services Slipway talks to, so its tests run
//! without a Kubernetes cluster or Docker Hub:
//!
//! - [`kube::KubeStandin`]: a Kubernetes API server good enough for the real `kube`
//!   client (discovery, CRUD, patches, server-side apply, a Deployment controller
//!   that makes ReplicaSets and rollout status, watch streams).
//! - [`hub::HubStandin`]: the Docker Hub login and `webhook_pipeline` API, the
//!   registry's manifest API with its token endpoint (images stored per tag),
//!   and a "push" trigger that stores an image and POSTs a Docker Hub push
//!   payload to a hook URL.
//!
//! Both listen on `127.0.0.1` (port 0 by default), record every request they get,
//! and expose a small unauthenticated control API under `/_standin/` so browser
//! tests in other processes can inspect and steer them. Both also ship as binaries
//! (`kube-standin`, `hub-standin`) that print `listening on http://127.0.0.1:PORT`.

pub mod hub;
pub mod kube;

mod recording;
mod server;
mod tls;

pub use recording::unix_micros_now;
