//! `billing-sim`: runs the Maxio Advanced Billing simulator with a generated site until Ctrl-C.
//!
//! Prints one line with the base URL and what the site holds on stdout; logs go to stderr. Keys
//! come from flags or the environment and are never printed.

use std::{net::IpAddr, net::SocketAddr, time::Duration};

use anyhow::Context as _;
use billing_sim::{BillingSim, DatasetSpec, SimConfig};
use chrono::NaiveDate;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "billing-sim",
    about = "Maxio Advanced Billing API simulator on loopback"
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The API key clients must send as the HTTP Basic user name.
    #[arg(long, env = "MAXIO_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The site's webhook shared key.
    #[arg(long, env = "MAXIO_WEBHOOK_SHARED_KEY", hide_env_values = true)]
    shared_key: Option<String>,
    /// Site subdomain.
    #[arg(long)]
    subdomain: Option<String>,
    /// Seed of the generated dataset.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Invoice records to generate (segments included).
    #[arg(long, default_value_t = 200)]
    invoices: usize,
    /// Days the invoices are spread over.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// First day of the dataset (YYYY-MM-DD); 30 days before the end of today by default.
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Currencies, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "USD,EUR")]
    currencies: Vec<String>,
    /// Latency added to every API request, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Concurrent API requests allowed before answering 429.
    #[arg(long)]
    concurrency_limit: Option<usize>,
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
    let defaults = SimConfig::default();
    let config = SimConfig {
        subdomain: args.subdomain.clone().unwrap_or(defaults.subdomain),
        api_key: args.api_key.clone().unwrap_or(defaults.api_key),
        shared_key: args.shared_key.clone().unwrap_or(defaults.shared_key),
        concurrency_limit: args.concurrency_limit.unwrap_or(defaults.concurrency_limit),
        latency: args
            .latency_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.latency),
        site_id: defaults.site_id,
    };
    let start = args.start.unwrap_or_else(|| {
        chrono::Local::now().date_naive() - chrono::Duration::days(i64::from(args.days))
    });
    let spec = DatasetSpec {
        seed: args.seed,
        start,
        days: args.days,
        invoices: args.invoices,
        currencies: args.currencies.clone(),
    };
    tracing::info!(?config, ?spec, "starting");
    let sim = BillingSim::start_on(config, Some(&spec), SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    println!(
        "billing-sim listening on {} ({} customers, {} invoices, {} credit notes, {} invoice events)",
        sim.base_url(),
        sim.customer_ids().len(),
        sim.invoice_uids().len(),
        sim.credit_note_uids().len(),
        sim.event_count()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}
