use std::io::BufRead;

use app::audit::{AuditAction, AuditTargetKind};
use app::model::TokenRequest;
use clap::Parser;
use server::clock::now_millis;
use server::config::{Cli, Command, GlobalRole, ServeArgs, StorageArgs, TokenCommand, UserCommand};
use server::service::audit::record as audit;
use server::service::{issue_api_token, token_event, AuditActor, AuditEvent};
use server::startup::Application;
use server::{backup, secrets, store};

/// Stack of each runtime thread. Rendering a page on the server nests one
/// future inside another per component; a debug build needs more than the
/// 2 MiB default for the deepest pages (a release build far less).
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    // kube and reqwest both use rustls; pick ring once for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::Token {
            command:
                TokenCommand::Create {
                    user,
                    role,
                    name,
                    expires_in_days,
                    storage,
                },
        }) => {
            init_tracing(false);
            let request = TokenRequest {
                name,
                expires_in_days,
            };
            create_token(&storage, &user, role, &request).await
        }
        Some(Command::User {
            command:
                UserCommand::SetPassword {
                    user,
                    role,
                    storage,
                },
        }) => {
            init_tracing(false);
            set_password(&storage, &user, role).await
        }
        Some(Command::Backup { to, storage }) => {
            init_tracing(false);
            let copied = backup::backup(&storage, &to).await?;
            println!("backed up {copied}");
            println!(
                "keep the key that opens its secrets with it, stored apart: {} (or SLIPWAY_SECRET_KEY)",
                storage.data_dir.join(server::crypto::KEY_FILE).display()
            );
            Ok(())
        }
        Some(Command::Restore { from, storage }) => {
            init_tracing(false);
            let copied = backup::restore(&storage, &from).await?;
            println!("restored {copied}");
            Ok(())
        }
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let application = Application::build(&args).await?;
    let address = format!("http://{}:{}", args.listen.ip(), application.port());
    tracing::info!(%address, data_dir = %args.storage.data_dir.display(), "Slipway is listening");
    println!("Slipway is listening on {address}");
    application.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM, so in-flight requests finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn ensure_user(
    store: &store::SharedStore,
    user: &str,
    role: Option<GlobalRole>,
) -> anyhow::Result<store::UserRecord> {
    app::model::validate_name("user", user).map_err(|error| anyhow::anyhow!("{error}"))?;
    let existing = store.user_by_name(user).await?;
    let record = store
        .ensure_user(user, role == Some(GlobalRole::Admin), now_millis())
        .await?;
    let user_event = |action| {
        AuditEvent::new(AuditActor::CommandLine, action).target(
            AuditTargetKind::User,
            record.id,
            &record.username,
        )
    };
    if existing.is_none() {
        audit(
            store,
            user_event(AuditAction::UserCreated).detail("is_admin", record.is_admin),
        )
        .await;
    }
    if let Some(role) = role {
        let is_admin = role == GlobalRole::Admin;
        store.set_user_admin(record.id, is_admin).await?;
        if existing.is_some_and(|before| before.is_admin != is_admin) {
            audit(
                store,
                user_event(AuditAction::UserRoleChanged).detail("is_admin", is_admin),
            )
            .await;
        }
    }
    Ok(record)
}

async fn create_token(
    storage: &StorageArgs,
    user: &str,
    role: Option<GlobalRole>,
    request: &TokenRequest,
) -> anyhow::Result<()> {
    let store = server::startup::open_store(storage).await?;
    let record = ensure_user(&store, user, role).await?;
    let created = issue_api_token(&store, record.id, request)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    audit(
        &store,
        token_event(
            AuditActor::CommandLine,
            AuditAction::TokenCreated,
            &created.info,
        )
        .detail("user", record.username.as_str()),
    )
    .await;
    eprintln!(
        "Created API token '{}' for user '{}'.",
        created.info.name, record.username
    );
    println!("{}", created.token);
    Ok(())
}

async fn set_password(
    storage: &StorageArgs,
    user: &str,
    role: Option<GlobalRole>,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    app::model::validate_new_password("password", password)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let store = server::startup::open_store(storage).await?;
    let record = ensure_user(&store, user, role).await?;
    store
        .set_password_hash(record.id, &secrets::hash_password(password)?)
        .await?;
    // Whoever signed in with the old password (or stole a session) is out.
    let ended = store.delete_user_sessions(record.id, None).await?;
    audit(
        &store,
        AuditEvent::new(AuditActor::CommandLine, AuditAction::UserPasswordSet)
            .target(AuditTargetKind::User, record.id, &record.username)
            .detail("sessions_ended", ended),
    )
    .await;
    eprintln!("Password set for user '{user}'; {ended} session(s) signed out.");
    Ok(())
}
