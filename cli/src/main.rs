//! `billsync`: the operator's command. It parses arguments, calls the `billsync` crate and
//! prints; decisions live in the crate.

use std::process::ExitCode;

use billsync::netsuite::check::{check_connection, exit};
use billsync::netsuite::config::env as ns_env;
use billsync::netsuite::{NetSuiteClient, NetSuiteConfig};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "billsync",
    version,
    about = "Keeps NetSuite in step with your billing system",
    long_about = "billsync syncs customers, invoices, payments, refunds and credit notes from a \
                  billing system (Maxio Advanced Billing, Chargebee) into Oracle NetSuite, \
                  exactly once and to the cent."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// NetSuite connection tools
    #[command(subcommand)]
    Netsuite(NetsuiteCommand),
}

#[derive(Subcommand)]
enum NetsuiteCommand {
    /// Validate NetSuite credentials with one cheap authenticated call
    #[command(
        after_help = "Example:\n  NETSUITE_ACCOUNT_ID=1234567_SB1 NETSUITE_CONSUMER_KEY=... \\\n  NETSUITE_CONSUMER_SECRET=... NETSUITE_TOKEN_ID=... NETSUITE_TOKEN_SECRET=... \\\n  billsync netsuite check\n\nExit codes: 0 ok, 2 missing or invalid settings, 3 login refused, 4 permission missing, 5 unreachable, 1 other.\nPrefer the environment variables for secrets: flags show up in the process list."
    )]
    Check(ConnectionArgs),
}

#[derive(Args)]
struct ConnectionArgs {
    /// NetSuite account id as shown at Setup > Company > Company Information (e.g. 1234567_SB1)
    #[arg(long, env = ns_env::ACCOUNT_ID)]
    account_id: Option<String>,
    /// Consumer key of the integration record
    #[arg(long, env = ns_env::CONSUMER_KEY, hide_env_values = true)]
    consumer_key: Option<String>,
    /// Consumer secret of the integration record
    #[arg(long, env = ns_env::CONSUMER_SECRET, hide_env_values = true)]
    consumer_secret: Option<String>,
    /// Token id of the access token
    #[arg(long, env = ns_env::TOKEN_ID, hide_env_values = true)]
    token_id: Option<String>,
    /// Token secret of the access token
    #[arg(long, env = ns_env::TOKEN_SECRET, hide_env_values = true)]
    token_secret: Option<String>,
    /// Use this REST base URL instead of the one derived from the account id
    #[arg(long, env = ns_env::BASE_URL)]
    base_url: Option<String>,
}

impl ConnectionArgs {
    fn lookup(&self, name: &str) -> Option<String> {
        match name {
            ns_env::ACCOUNT_ID => self.account_id.clone(),
            ns_env::CONSUMER_KEY => self.consumer_key.clone(),
            ns_env::CONSUMER_SECRET => self.consumer_secret.clone(),
            ns_env::TOKEN_ID => self.token_id.clone(),
            ns_env::TOKEN_SECRET => self.token_secret.clone(),
            ns_env::BASE_URL => self.base_url.clone(),
            _ => None,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BILLSYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let code = match cli.command {
        Command::Netsuite(NetsuiteCommand::Check(args)) => netsuite_check(&args).await,
    };
    ExitCode::from(code as u8)
}

async fn netsuite_check(args: &ConnectionArgs) -> i32 {
    let mut config = match NetSuiteConfig::from_lookup(|name| args.lookup(name)) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("NetSuite settings are incomplete:");
            for p in problems {
                eprintln!("  - {p}");
            }
            eprintln!(
                "Set them as environment variables or flags; see `billsync netsuite check --help`."
            );
            return exit::CONFIG;
        }
    };
    // A check reports what it sees at once rather than sitting through a retry schedule.
    config.retry.max_attempts = 1;
    config.request_timeout = std::time::Duration::from_secs(30);
    let endpoint = config.root_url().to_string();
    let client = match NetSuiteClient::new(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return exit::CONFIG;
        }
    };
    match check_connection(&client, &endpoint).await {
        Ok(report) => {
            println!("{report}");
            exit::OK
        }
        Err(failure) => {
            eprint!("{failure}");
            failure.exit_code
        }
    }
}
