//! Serves the Kubernetes API stand-in until killed. Prints exactly one line to
//! stdout, `listening on http://127.0.0.1:PORT` (`https://` with `--tls`), once
//! it accepts connections; logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use slipway_standins::kube::KubeStandin;

#[derive(Parser)]
#[command(about = "Kubernetes API stand-in for Slipway's tests")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Bearer token with full access (repeatable).
    #[arg(long, required = true)]
    token: Vec<String>,
    /// Bearer token of the read-only user (repeatable).
    #[arg(long)]
    readonly_token: Vec<String>,
    /// Milliseconds until a Deployment rollout becomes available.
    #[arg(long, default_value_t = 200)]
    rollout_delay_ms: u64,
    /// Extra namespace that exists from the start (repeatable).
    #[arg(long)]
    namespace: Vec<String>,
    /// Serve HTTPS with a certificate from a CA made at start.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA certificate (PEM) to this file before printing the URL.
    #[arg(long, requires = "tls")]
    ca_file: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut builder = KubeStandin::builder()
        .listen(args.listen)
        .rollout_delay(Duration::from_millis(args.rollout_delay_ms));
    for token in args.token {
        builder = builder.token(token);
    }
    for token in args.readonly_token {
        builder = builder.readonly_token(token);
    }
    for namespace in args.namespace {
        builder = builder.namespace(namespace);
    }
    let standin = builder.tls(args.tls).start().await?;
    if let (Some(path), Some(ca_pem)) = (&args.ca_file, standin.ca_pem()) {
        std::fs::write(path, ca_pem)?;
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", standin.url())?;
        stdout.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    standin.shutdown().await;
    Ok(())
}
