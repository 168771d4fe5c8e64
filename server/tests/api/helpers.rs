use std::fmt::Display;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use app::model::TokenRequest;
use server::clock::now_millis;
use server::config::{ServeArgs, StorageArgs};
use server::live::LiveBus;
use server::secrets::hash_password;
use server::service::issue_api_token;
use server::service::refusals::RefusalCounter;
use server::startup::Application;
use server::store::SharedStore;
use tokio::sync::oneshot;

/// The one wait of these tests: polls until the closure answers `Some`, and
/// panics naming what was awaited when the time is up.
pub use server::test_support::eventually;

/// The longest a run may take to reach an awaited state.
const RUN_WAIT: Duration = Duration::from_secs(20);

pub struct TestApp {
    pub address: String,
    pub data_dir: tempfile::TempDir,
    /// The server's database (`sqlite:…` in the data directory, or `postgres://…`).
    pub database_url: String,
    pub store: SharedStore,
    /// The live streams' bus, to shorten its limits.
    pub live: LiveBus,
    /// The counts of refused deliveries, to shorten their window.
    pub refusals: RefusalCounter,
    pub client: reqwest::Client,
    /// An API token of a global admin.
    pub admin_token: String,
    /// What throttles password checks (to occupy its hashing slots).
    pub sign_in_guard: std::sync::Arc<server::service::SignInGuard>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn serve_args(data_dir: &Path) -> ServeArgs {
    ServeArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        storage: StorageArgs {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
        },
        public_url: None,
        docker_hub_api_url: "http://127.0.0.1:9".into(),
        docker_hub_registry_url: "http://127.0.0.1:9".into(),
        cloud_proxy_url: None,
        docker_hub_callback_hosts: Vec::new(),
        deny_private_egress: false,
        log_json: false,
        site_root: ServeArgs::site_root_from_env(),
        access: Default::default(),
        replica: Default::default(),
        notifications: Default::default(),
        retention: Default::default(),
    }
}

/// Whether this pass runs the servers on PostgreSQL (`SLIPWAY_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("SLIPWAY_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// With `SLIPWAY_TEST_BACKEND=postgres` the server of a data directory keeps
/// its data in a PostgreSQL database of its own (created at the first start,
/// found again at a restart); otherwise in SQLite, in the data directory.
pub async fn postgres_database_of(data_dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let remembered = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    let url = server::test_support::fresh_postgres_database().await;
    std::fs::write(&remembered, &url).expect("the test database is remembered");
    Some(url)
}

/// The longest any one request of these tests may take, answer and body
/// (live streams included): a server that stops answering fails its test
/// instead of holding up the whole suite.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("a reqwest client builds")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("a temporary directory")).await
}

pub async fn spawn_app_in(data_dir: tempfile::TempDir) -> TestApp {
    spawn_app_with(data_dir, |_| {}).await
}

/// Starts the server with adjusted arguments (e.g. the Docker Hub API pointed at a stand-in).
pub async fn spawn_app_with(
    data_dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut ServeArgs),
) -> TestApp {
    let mut args = serve_args(data_dir.path());
    args.storage.database_url = postgres_database_of(data_dir.path())
        .await
        .map(|url| url.as_str().into());
    adjust(&mut args);
    let database_url = args.storage.database_url();
    let application = Application::build(&args).await.expect("the server builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let store = application.store.clone();
    let live = application.live().clone();
    let refusals = application.refusals().clone();
    let sign_in_guard = application.sign_in_guard();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let admin_token = create_token(&store, "test-admin", true).await;
    TestApp {
        address,
        data_dir,
        database_url,
        store,
        live,
        refusals,
        client: http_client(),
        admin_token,
        sign_in_guard,
        stop: Some(stop),
        server: Some(server),
    }
}

/// Waits until the run satisfies `done` (`what` says how, for the message on
/// timeout), polling `GET /api/v1/executions/{id}`, and answers it.
pub async fn run_when(
    app: &TestApp,
    id: impl Display,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let path = format!("/api/v1/executions/{id}");
    eventually(&format!("run {id} {what}"), RUN_WAIT, || async {
        let execution: serde_json::Value = app
            .get(&path, &app.admin_token)
            .await
            .json()
            .await
            .expect("the run is JSON");
        done(&execution).then_some(execution)
    })
    .await
}

/// Waits until the run is in a final state, and answers it.
pub async fn finished(app: &TestApp, id: impl Display) -> serde_json::Value {
    run_when(app, id, "to end", |execution| {
        ["COMPLETED", "FAILED", "CANCELED"]
            .contains(&execution["status"].as_str().unwrap_or_default())
    })
    .await
}

/// The test server's own database (SQLite or PostgreSQL), for rows the API
/// cannot reach: to corrupt one behind its back, to age a session.
pub enum Database {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

pub async fn database(app: &TestApp) -> Database {
    let url = &app.database_url;
    let opened = if url.starts_with("sqlite:") {
        sqlx::SqlitePool::connect(url).await.map(Database::Sqlite)
    } else {
        sqlx::PgPool::connect(url).await.map(Database::Postgres)
    };
    opened.expect("the test server's database opens")
}

impl Database {
    pub async fn set_text(&self, statement: &str, value: &str, id: i64) -> u64 {
        let done = match self {
            Database::Sqlite(pool) => sqlx::query(statement)
                .bind(value)
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            Database::Postgres(pool) => sqlx::query(statement)
                .bind(value)
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
        };
        done.expect("the row is updated")
    }

    pub async fn text(&self, statement: &str, id: i64) -> String {
        let found = match self {
            Database::Sqlite(pool) => sqlx::query_scalar(statement).bind(id).fetch_one(pool).await,
            Database::Postgres(pool) => {
                sqlx::query_scalar(statement).bind(id).fetch_one(pool).await
            }
        };
        found.expect("the row is read")
    }

    /// Runs a statement without parameters; answers the rows it changed.
    pub async fn execute(&self, statement: &str) -> u64 {
        let done = match self {
            Database::Sqlite(pool) => sqlx::query(statement)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            Database::Postgres(pool) => sqlx::query(statement)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
        };
        match done {
            Ok(rows) => rows,
            Err(error) => panic!("{statement}: {error}"),
        }
    }

    /// The one integer the statement selects.
    pub async fn number(&self, statement: &str) -> i64 {
        let found = match self {
            Database::Sqlite(pool) => sqlx::query_scalar(statement).fetch_one(pool).await,
            Database::Postgres(pool) => sqlx::query_scalar(statement).fetch_one(pool).await,
        };
        found.expect("the row is read")
    }
}

/// Moves the last use of `user`'s sessions `millis` into the past.
pub async fn age_sessions(app: &TestApp, user: &str, millis: i64) {
    const AGE: &str = "UPDATE sessions SET last_seen_at = last_seen_at - $1 \
         WHERE user_id = (SELECT id FROM users WHERE username = $2)";
    let aged = match database(app).await {
        Database::Sqlite(pool) => sqlx::query(AGE)
            .bind(millis)
            .bind(user)
            .execute(&pool)
            .await
            .map(|done| done.rows_affected()),
        Database::Postgres(pool) => sqlx::query(AGE)
            .bind(millis)
            .bind(user)
            .execute(&pool)
            .await
            .map(|done| done.rows_affected()),
    };
    aged.expect("the sessions are aged");
}

/// Creates (or reuses) a user and returns a fresh API token for it.
pub async fn create_token(store: &SharedStore, username: &str, is_admin: bool) -> String {
    let user = store
        .ensure_user(username, is_admin, now_millis())
        .await
        .expect("the user is stored");
    issue_api_token(store, user.id, &TokenRequest::never_expiring("test"))
        .await
        .expect("a token is created")
        .token
}
/// Gives a user (created if needed) a password to sign in with.
pub async fn set_password(app: &TestApp, user: &str, password: &str) {
    let record = app
        .store
        .ensure_user(user, false, now_millis())
        .await
        .unwrap();
    app.store
        .set_password_hash(record.id, &hash_password(password).unwrap())
        .await
        .unwrap();
}

/// Signs in through the sign-in server function, as the sign-in page does
/// (from a page of the server: `Origin` is its address); the answer carries
/// the session cookie.
pub async fn sign_in(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    app.server_function("sign_in")
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Signs the user in and answers the `Cookie` header value of their session.
pub async fn session_cookie(app: &TestApp, user: &str, password: &str) -> String {
    set_password(app, user, password).await;
    let signed_in = sign_in(app, user, password).await;
    assert!(signed_in.status().is_success(), "{user} signs in");
    cookie_from(&signed_in)
}

/// The `name=value` of the cookie an answer sets, as a `Cookie` header sends it back.
pub fn cookie_from(answer: &reqwest::Response) -> String {
    answer.headers()["set-cookie"]
        .to_str()
        .expect("the cookie is text")
        .split(';')
        .next()
        .expect("a cookie")
        .to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A POST to the server function at `/api/{endpoint}` as a page of this
    /// server sends it: `Origin` is the server's address, the answer JSON.
    pub fn server_function(&self, endpoint: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(&format!("/api/{endpoint}")))
            .header("Origin", &self.address)
            .header("Accept", "application/json")
    }

    /// The newest Activity rows the admin sees, newest first (`GET /api/v1/activity`).
    pub async fn activity(&self, limit: u32) -> Vec<serde_json::Value> {
        self.get(
            &format!("/api/v1/activity?limit={limit}"),
            &self.admin_token,
        )
        .await
        .json()
        .await
        .expect("the Activity rows are JSON")
    }

    /// Every run the admin sees, newest first (`GET /api/v1/executions`).
    pub async fn executions(&self) -> Vec<serde_json::Value> {
        self.get("/api/v1/executions", &self.admin_token)
            .await
            .json()
            .await
            .expect("the runs are JSON")
    }

    /// A GET with neither token nor cookie, as a browser's first visit.
    pub async fn get_signed_out(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn put_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn patch_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the request is sent")
    }

    /// Creates a project as the admin and returns its name.
    pub async fn create_project(&self, name: &str) -> String {
        let response = self
            .post_json(
                "/api/v1/projects",
                &self.admin_token,
                &serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(response.status(), 201, "project {name} is created");
        name.to_string()
    }

    /// A user with a role in a project, and an API token for them.
    pub async fn member_token(&self, project: &str, username: &str, role: &str) -> String {
        let token = create_token(&self.store, username, false).await;
        let response = self
            .put_json(
                &format!("/api/v1/projects/{project}/members/{username}"),
                &self.admin_token,
                &serde_json::json!({ "role": role }),
            )
            .await;
        assert_eq!(response.status(), 200, "{username} becomes {role}");
        token
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("the request is sent")
    }

    /// Stops the server gracefully and hands back its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
        self.data_dir
    }
}
