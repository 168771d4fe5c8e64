//! A sign-in flood against the real `slipway` process: ATTEMPTS sign-ins
//! sent at once (each on its own connection) while a prober asks `/healthz`
//! every PROBE_MS on a kept-alive connection of its own. Goal: `/healthz`
//! p99 within 100 ms during the flood.
//!
//! `cargo bench -p server --bench sign_in_flood` (ATTEMPTS=2000, PROBE_MS=1).
//!
//! Each scenario gets a fresh server (fresh budgets) started with
//! `--trusted-proxies 127.0.0.1`, so an attempt may claim a client address
//! of its own in `X-Forwarded-For` (as clients behind a proxy would be told
//! apart):
//! 0. for reference, the same POSTs without `Origin`: refused by the Origin
//!    check before any sign-in work (what the connections alone cost);
//! 1. one address: every attempt from 127.0.0.1, each a random unknown name;
//! 2. one name, many addresses: every attempt guesses `alice`'s password,
//!    each from its own address;
//! 3. many names, many addresses: a random name from its own address each —
//!    no failure budget applies, only the bound on password checks at once.
//!
//! After each flood, `bob` signs in from an address of his own. The load
//! generator shares the machine's cores with the server.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::{millis, percentile, ServerProcess};
use tokio::sync::watch;

struct Scenario {
    name: &'static str,
    /// Sent as from a page of the server (`Origin`), or refused before sign-in.
    from_page: bool,
    /// The user name and the `X-Forwarded-For` of attempt `n`.
    attempt: fn(usize) -> (String, Option<String>),
}

fn address(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "reference: refused at the Origin check",
        from_page: false,
        attempt: |n| (format!("nobody-{n}"), None),
    },
    Scenario {
        name: "one address, random names",
        from_page: true,
        attempt: |n| (format!("nobody-{n}"), None),
    },
    Scenario {
        name: "one name (alice), many addresses",
        from_page: true,
        attempt: |n| ("alice".to_string(), Some(address(n))),
    },
    Scenario {
        name: "random names, many addresses",
        from_page: true,
        attempt: |n| (format!("nobody-{n}"), Some(address(n))),
    },
];

/// `/healthz` round trips every `every` on one connection, until told to stop.
async fn probe(base: String, every: Duration, mut stop: watch::Receiver<bool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let url = format!("{base}/healthz");
    let mut times = Vec::new();
    while !*stop.borrow() {
        let sent = Instant::now();
        if let Ok(answer) = client.get(&url).send().await {
            if answer.status().is_success() && answer.bytes().await.is_ok() {
                times.push(sent.elapsed());
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
    times
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    from_page: bool,
    (user, password): (&str, &str),
    forwarded_for: Option<String>,
) -> Result<u16, reqwest::Error> {
    let mut request = client
        .post(format!("{base}/api/sign_in"))
        .header("Accept", "application/json")
        .form(&[("username", user), ("password", password)]);
    if from_page {
        request = request.header("Origin", base);
    }
    if let Some(client_address) = forwarded_for {
        request = request.header("X-Forwarded-For", client_address);
    }
    let answer = request.send().await?;
    let status = answer.status().as_u16();
    answer.bytes().await?;
    Ok(status)
}

fn print_times(label: &str, times: &mut [Duration]) {
    if times.is_empty() {
        println!("  {label:<34} no answers");
        return;
    }
    times.sort_unstable();
    println!(
        "  {label:<34} n {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        times.len(),
        millis(percentile(times, 0.5)),
        millis(percentile(times, 0.99)),
        millis(times[times.len() - 1]),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::install_crypto_provider();
    let attempts = support::env_number("ATTEMPTS", 2000);
    let every = Duration::from_millis(support::env_number("PROBE_MS", 1) as u64);
    println!(
        "sign_in_flood: {} — {attempts} attempts at once, /healthz every {} ms",
        support::slipway_binary(),
        every.as_millis()
    );
    let mut worst_p99 = Duration::ZERO;
    for scenario in &SCENARIOS {
        let data_dir = tempfile::tempdir()?;
        let data_arg = data_dir.path().to_string_lossy().to_string();
        for (user, password) in [("alice", "alice-password-1"), ("bob", "bob-password-1")] {
            support::slipway_command(
                &[
                    "user",
                    "set-password",
                    "--user",
                    user,
                    "--data-dir",
                    &data_arg,
                ],
                &format!("{password}\n"),
            )?;
        }
        let server = ServerProcess::start(&data_arg, &["--trusted-proxies", "127.0.0.1"]).await?;
        let base = server.base.clone();

        // Idle: the prober alone.
        let (stop, stopped) = watch::channel(false);
        let prober = tokio::spawn(probe(base.clone(), every, stopped));
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.send(true)?;
        let mut idle = prober.await?;

        // The flood, all at once, the prober running throughout.
        let (stop, stopped) = watch::channel(false);
        let prober = tokio::spawn(probe(base.clone(), every, stopped));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let client = reqwest::Client::new();
        let started = Instant::now();
        let answers = futures::future::join_all((0..attempts).map(|n| {
            let (client, base) = (client.clone(), base.clone());
            let (user, forwarded_for) = (scenario.attempt)(n);
            async move {
                let sent = Instant::now();
                let guess = (user.as_str(), "a wrong guess");
                let status =
                    sign_in(&client, &base, scenario.from_page, guess, forwarded_for).await;
                (status, sent.elapsed())
            }
        }))
        .await;
        let flood = started.elapsed();
        stop.send(true)?;
        let mut during = prober.await?;
        let bob = sign_in(
            &client,
            &base,
            true,
            ("bob", "bob-password-1"),
            Some("192.0.2.200".into()),
        )
        .await?;

        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut answer_times = Vec::new();
        for (status, took) in answers {
            let key = match status {
                Ok(code) => code.to_string(),
                Err(error) => format!("error ({error})"),
            };
            *by_status.entry(key).or_default() += 1;
            answer_times.push(took);
        }
        let (_, peak) = server.memory();
        println!(
            "\n{}: flood answered in {:.0} ms",
            scenario.name,
            millis(flood)
        );
        println!("  sign-in answers by status          {by_status:?}");
        print_times("sign-in answer time", &mut answer_times);
        print_times("/healthz, idle", &mut idle);
        print_times("/healthz, during the flood", &mut during);
        println!("  bob signs in afterwards            {bob}");
        println!("  server peak RSS (VmHWM)            {peak:.1} MiB");
        anyhow::ensure!(bob == 200, "bob could not sign in after the flood: {bob}");
        if scenario.from_page && !during.is_empty() {
            worst_p99 = worst_p99.max(percentile(&during, 0.99));
        }
    }
    println!(
        "\nworst /healthz p99 during a sign-in flood: {:.2} ms (goal: within 100 ms)",
        millis(worst_p99)
    );
    Ok(())
}
