//! `netsuite-sim`: runs the NetSuite REST simulator until Ctrl-C.
//!
//! Prints one line with the base URL on stdout; logs go to stderr. Credentials come from flags
//! or the same environment variables the sync uses, and are never printed.

use std::{net::IpAddr, net::SocketAddr, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use netsuite_sim::{M2mMapping, NetSuiteSim, SimConfig};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "netsuite-sim",
    about = "NetSuite SuiteTalk REST simulator on loopback"
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Account id as NetSuite shows it (the OAuth realm), e.g. 1234567_SB1.
    #[arg(long, env = "NETSUITE_ACCOUNT_ID")]
    account_id: Option<String>,
    #[arg(long, env = "NETSUITE_CONSUMER_KEY", hide_env_values = true)]
    consumer_key: Option<String>,
    #[arg(long, env = "NETSUITE_CONSUMER_SECRET", hide_env_values = true)]
    consumer_secret: Option<String>,
    #[arg(long, env = "NETSUITE_TOKEN_ID", hide_env_values = true)]
    token_id: Option<String>,
    #[arg(long, env = "NETSUITE_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// OAuth 2.0 M2M: the integration's client id (with the certificate options below, the
    /// token endpoint grants tokens)
    #[arg(long, env = "NETSUITE_CLIENT_ID", hide_env_values = true)]
    client_id: Option<String>,
    /// OAuth 2.0 M2M: the certificate id of the mapping
    #[arg(long, env = "NETSUITE_CERTIFICATE_ID")]
    certificate_id: Option<String>,
    /// OAuth 2.0 M2M: the mapped certificate or public key (PEM file)
    #[arg(long)]
    m2m_public_key: Option<std::path::PathBuf>,
    /// Latency added to every REST request, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Concurrent REST requests allowed before answering 429.
    #[arg(long)]
    concurrency_limit: Option<usize>,
    /// Seed the demo reference data (subsidiary, currencies, accounts, items).
    #[arg(long, conflicts_with = "fresh")]
    seed_demo: bool,
    /// Seed a company not yet set up for billsync: its subsidiary, currencies, accounts, items
    /// and periods, but no custom fields and no discount item.
    #[arg(long)]
    fresh: bool,
    /// Deploy the custom fields of an SDF project's Objects folder (as `suitecloud
    /// project:deploy` would), e.g. infra/netsuite/src/Objects.
    #[arg(long)]
    sdf: Option<std::path::PathBuf>,
}

impl Args {
    fn config(&self) -> anyhow::Result<SimConfig> {
        let defaults = SimConfig::default();
        let m2m = match (&self.client_id, &self.certificate_id, &self.m2m_public_key) {
            (Some(client), Some(cert), Some(path)) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Some(M2mMapping::new(client, cert, &pem))
            }
            (_, _, None) => None,
            _ => anyhow::bail!(
                "an OAuth 2.0 mapping needs --client-id, --certificate-id and --m2m-public-key"
            ),
        };
        Ok(SimConfig {
            m2m,
            account_id: self.account_id.clone().unwrap_or(defaults.account_id),
            consumer_key: self.consumer_key.clone().unwrap_or(defaults.consumer_key),
            consumer_secret: self
                .consumer_secret
                .clone()
                .unwrap_or(defaults.consumer_secret),
            token_id: self.token_id.clone().unwrap_or(defaults.token_id),
            token_secret: self.token_secret.clone().unwrap_or(defaults.token_secret),
            concurrency_limit: self.concurrency_limit.unwrap_or(defaults.concurrency_limit),
            latency: self
                .latency_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.latency),
            ..defaults
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = args.config()?;
    tracing::info!(?config, "starting");
    let sim = NetSuiteSim::start_on(config, SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    if args.seed_demo {
        let data = sim.seed_demo();
        tracing::info!(?data, "seeded demo reference data");
    }
    if args.fresh {
        let data = sim.seed_fresh();
        tracing::info!(?data, "seeded a company not set up for billsync");
    }
    if let Some(dir) = &args.sdf {
        let n = sim
            .deploy_sdf(dir)
            .map_err(|e| anyhow::anyhow!("cannot deploy {}: {e}", dir.display()))?;
        println!("deployed {n} custom fields from {}", dir.display());
    }
    println!("netsuite-sim listening on {}", sim.base_url());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    tracing::info!("shutting down");
    sim.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
