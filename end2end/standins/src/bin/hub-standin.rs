//! Serves the Docker Hub API stand-in until killed. Prints exactly one line to
//! stdout, `listening on http://127.0.0.1:PORT`, once it accepts connections;
//! logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use slipway_standins::hub::HubStandin;

#[derive(Parser)]
#[command(about = "Docker Hub API stand-in for Slipway's tests")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The account that can log in; also the namespace it owns.
    #[arg(long)]
    username: String,
    #[arg(long)]
    password: String,
    /// Another namespace (organisation) the user may manage (repeatable).
    #[arg(long)]
    namespace: Vec<String>,
    /// Start with every Hub web API call (login, webhook pipelines) failing
    /// with this HTTP status; the registry keeps answering.
    #[arg(long)]
    fail_with: Option<u16>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut builder = HubStandin::builder()
        .listen(args.listen)
        .credentials(args.username, args.password);
    for namespace in args.namespace {
        builder = builder.namespace(namespace);
    }
    if let Some(status) = args.fail_with {
        builder = builder.fail_with(status);
    }
    let standin = builder.start().await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", standin.url())?;
        stdout.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    standin.shutdown().await;
    Ok(())
}
