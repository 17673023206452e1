//! `billsync`: the operator's command. It parses arguments, calls the `billsync` crate and
//! prints; decisions live in the crate.

use std::process::ExitCode;

use billsync::netsuite::check::{check_connection, credential_warnings, CheckCause};
use billsync::netsuite::config::env as ns_env;
use billsync::netsuite::{NetSuiteClient, NetSuiteConfig};
use billsync_cli::ops;
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
    /// Run the whole pipeline end to end against in-process NetSuite, Maxio and Chargebee
    /// simulators: a Maxio tenant and a Chargebee tenant syncing into one NetSuite
    #[command(
        after_help = "Example:\n  billsync demo                 # 240 Maxio + 40 Chargebee invoices, state in memory\n  billsync demo --invoices 500 --state demo.db   # keep the store to inspect with sqlite3\n\nExit codes: 0 every invoice accounted for and totals equal; 1 otherwise."
    )]
    Demo {
        /// Invoices to generate (segments of consolidated invoices included)
        #[arg(long, default_value_t = 240)]
        invoices: usize,
        /// Invoices of the Chargebee tenant (0 leaves it out)
        #[arg(long, default_value_t = 40)]
        chargebee_invoices: usize,
        /// Seed of the generated billing month
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Keep the embedded store in this file (reset at the start)
        #[arg(long)]
        state: Option<std::path::PathBuf>,
        /// Sync into this NetSuite (a sandbox or another compatible endpoint) instead of the
        /// in-process simulator; credentials from NETSUITE_ACCOUNT_ID, NETSUITE_CONSUMER_KEY,
        /// NETSUITE_CONSUMER_SECRET, NETSUITE_TOKEN_ID, NETSUITE_TOKEN_SECRET
        #[arg(long, requires = "netsuite_ids")]
        netsuite_base_url: Option<String>,
        /// With --netsuite-base-url: the internal ids of that account's subsidiary, accounts,
        /// currencies and items to use (see infra/demo/netsuite-sim-ids.json)
        #[arg(long)]
        netsuite_ids: Option<std::path::PathBuf>,
        /// How to log in to the embedded NetSuite simulator: tba, or m2m (OAuth 2.0 client
        /// credentials, with a key pair made for the run)
        #[arg(long, default_value = "tba", value_parser = ["tba", "m2m"])]
        netsuite_auth: String,
    },
    /// NetSuite connection tools
    #[command(subcommand)]
    Netsuite(NetsuiteCommand),
    /// Tenant settings documents
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Run the pipeline locally: webhook endpoint, worker and the two-hourly sweep (no AWS)
    #[command(
        after_help = "Example:\n  billsync serve --bind 127.0.0.1:8080 --state billsync.db --secrets secrets.json\n  # then point Maxio's webhook at http://<host>:8080/webhooks/<tenant>/maxio\n\nRuns until interrupted (Ctrl-C)."
    )]
    Serve {
        /// Address for the webhook endpoint
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Minutes between sweeps
        #[arg(long, default_value_t = 120)]
        sweep_minutes: u64,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// Sync Now: read billing events since the last sweep and sync what changed
    #[command(
        after_help = "Examples:\n  billsync sync-now --tenant acme --state billsync.db --secrets secrets.json\n  billsync sync-now --tenant acme --aws      # queues on SQS; the worker function syncs\n\nExit codes: 0 ok, 1 invoices ended in error, 2 bad input, 5 store, queue or billing unreachable, 6 unknown tenant."
    )]
    SyncNow {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// The error log: invoices whose sync stopped, with cause and fix
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  billsync errors --tenant acme --state billsync.db\n  billsync errors --tenant acme --group          # by cause, with counts\n  billsync errors --tenant acme --cause department --since 2026-11-01 --json\n  billsync errors dismiss --tenant acme --invoice inv_9qzk3w7m2x4bd --reason \"corrected by hand in NetSuite\"\n\nExit codes: 0 shown, 2 bad input, 5 unreachable, 6 unknown tenant."
    )]
    Errors {
        #[command(subcommand)]
        action: Option<ErrorsAction>,
        #[arg(long)]
        tenant: Option<String>,
        /// One line per cause, with how many invoices and which
        #[arg(long)]
        group: bool,
        /// Only entries whose cause, fix or detail contains this text (any case)
        #[arg(long)]
        cause: Option<String>,
        /// Only entries first seen on or after this day (YYYY-MM-DD)
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// Retry invoices in error (after fixing what the error log says)
    #[command(
        after_help = "Examples:\n  billsync retry --tenant acme --invoice inv_9qzk3w7m2x4bd --secrets secrets.json\n  billsync retry --tenant acme --all-failed --aws"
    )]
    Retry {
        #[arg(long)]
        tenant: String,
        /// Invoice uid to retry (repeatable)
        #[arg(long = "invoice")]
        invoices: Vec<String>,
        /// Retry every invoice in error
        #[arg(long)]
        all_failed: bool,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// Counts per flow state, the billing event cursor and the last sweep
    #[command(after_help = "Example:\n  billsync status --tenant acme --state billsync.db")]
    Status {
        #[arg(long)]
        tenant: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// Billing against NetSuite for a period: figures per currency, then every difference
    /// with what to do about it (reads only)
    #[command(
        after_help = "Examples:\n  billsync reconcile --tenant acme --from 2026-11-01 --to 2026-11-30 --secrets secrets.json\n  billsync reconcile --tenant acme --from 2026-11-01 --to 2026-11-30 --aws --json\n  billsync reconcile --tenant acme --last --aws     # the daily scheduled reconcile's report\n\nExit codes: 0 clean, 1 differences listed, 2 bad input, 3 login refused, 4 permission, 5 unreachable, 6 unknown tenant."
    )]
    Reconcile {
        #[arg(long)]
        tenant: String,
        /// First day of the period (YYYY-MM-DD), by invoice issue date
        #[arg(long, required_unless_present = "last", requires = "to")]
        from: Option<chrono::NaiveDate>,
        /// Last day of the period, included
        #[arg(long, required_unless_present = "last")]
        to: Option<chrono::NaiveDate>,
        /// Show the report the last scheduled reconcile kept instead of reconciling now
        #[arg(long, conflicts_with_all = ["from", "to"])]
        last: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// Re-read billing for a date range and queue every invoice issued in it (idempotent:
    /// what NetSuite holds already is found, not made again)
    #[command(
        after_help = "Examples:\n  billsync backfill --tenant acme --from 2026-01-01 --to 2026-06-30 --secrets secrets.json\n  billsync backfill --tenant acme --from 2026-01-01 --to 2026-06-30 --aws   # the worker function syncs them\n\nOn AWS without the CLI: invoke the sweep function with {\"backfill\": {\"tenant\": \"acme\", \"from\": \"2026-01-01\", \"to\": \"2026-06-30\"}}.\n\nExit codes: 0 ok, 1 invoices ended in error, 2 bad input, 5 unreachable, 6 unknown tenant."
    )]
    Backfill {
        #[arg(long)]
        tenant: String,
        /// First issue date of the range (YYYY-MM-DD)
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last issue date of the range, included
        #[arg(long)]
        to: chrono::NaiveDate,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// The NetSuite requests a sync of one invoice would send (method, path, body) and the
    /// records it would find by external id; sends and stores nothing
    #[command(
        after_help = "Examples:\n  billsync preview --tenant acme --invoice inv_9qzk3w7m2x4bd --secrets secrets.json\n  billsync preview --tenant acme --invoice inv_9qzk3w7m2x4bd --aws --json\n\nExit codes: 0 the flow would sync or skip it, 1 it would end in error, 2 bad input, 3 login refused, 5 unreachable, 6 unknown tenant."
    )]
    Preview {
        #[arg(long)]
        tenant: String,
        /// The billing invoice uid
        #[arg(long)]
        invoice: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// AWS stand-ins for local runs (on AWS, template.yaml creates everything)
    #[command(subcommand)]
    Aws(AwsCommand),
}

#[derive(Subcommand)]
enum ErrorsAction {
    /// Take invoices out of the error log with a reason (kept on the invoice's flow and logged)
    Dismiss {
        #[arg(long)]
        tenant: String,
        /// Invoice uid to dismiss (repeatable)
        #[arg(long = "invoice", required = true)]
        invoices: Vec<String>,
        /// Why, for whoever reads the record later
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        backend: StoreArgs,
    },
}

#[derive(Subcommand)]
enum AwsCommand {
    /// Create billsync's DynamoDB table (named by TABLE_NAME) as template.yaml defines it
    #[command(
        after_help = "Example (a moto server on loopback):\n  AWS_ENDPOINT_URL=http://127.0.0.1:5005 TABLE_NAME=billsync-local billsync aws create-table"
    )]
    CreateTable,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Check a settings document and list every problem in it
    #[command(
        after_help = "Example:\n  billsync tenant validate infra/tenants/example.json\n\nExit codes: 0 valid, 2 problems listed or file unreadable."
    )]
    Validate {
        /// The settings document (JSON)
        file: std::path::PathBuf,
    },
    /// Validate a settings document and store it as the tenant's settings
    #[command(
        after_help = "Examples:\n  billsync tenant apply infra/tenants/example.json --state billsync.db\n  TABLE_NAME=billsync-dev billsync tenant apply acme.json --aws"
    )]
    Apply {
        /// The settings document (JSON)
        file: std::path::PathBuf,
        /// Store the settings even when the preflight finds errors
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create what billsync needs in NetSuite (the "Advanced Billing Discount" item, the
    /// "Advanced Billing Payment" method, on request the tax line's item), idempotently, and
    /// put their ids into a settings document
    #[command(
        after_help = "Examples:\n  billsync tenant setup acme.json            # prints the ids and the patch\n  billsync tenant setup acme.json --write    # writes the ids into acme.json\n  billsync tenant setup acme.json --tax-account 54 --write\n\nNetSuite credentials come from the NETSUITE_* variables, as for `billsync netsuite check`."
    )]
    Setup {
        /// The settings document (JSON); it needs `tenant` (and `transactions.subsidiary` in a
        /// OneWorld account) so far
        file: std::path::PathBuf,
        /// Write the ids into the document instead of printing the patch
        #[arg(long)]
        write: bool,
        /// Also create the tax line's item ("Advanced Billing Tax"), posting to this account
        #[arg(long)]
        tax_account: Option<String>,
        #[command(flatten)]
        connection: ConnectionArgs,
    },
    /// Preflight: check a tenant's settings against NetSuite and billing with its stored
    /// secret, and list every problem with its fix; a clean check resumes a paused tenant
    #[command(
        after_help = "Examples:\n  billsync tenant check --tenant acme --secrets secrets.json\n  billsync tenant check --tenant acme --settings acme.json --secrets secrets.json   # before applying\n  billsync tenant check --tenant acme --aws --json\n\nExit codes: 0 no errors (warnings may be listed), 1 errors listed, 2 bad input, 5 unreachable, 6 unknown tenant."
    )]
    Check {
        #[arg(long)]
        tenant: String,
        /// Check this document instead of the stored settings
        #[arg(long)]
        settings: Option<std::path::PathBuf>,
        /// The webhook endpoint's base, for the URL to register (the stack's WebhookUrl
        /// without its last two parts on AWS)
        #[arg(long, default_value = "http://<host>:8080/webhooks")]
        webhook_base: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: StoreArgs,
    },
    /// Resume a paused tenant (after fixing what paused it) and queue its held invoices
    #[command(
        after_help = "Example:\n  billsync tenant resume --tenant acme --secrets secrets.json"
    )]
    Resume {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        backend: StoreArgs,
    },
}

#[derive(Args)]
struct StoreArgs {
    /// Use the DynamoDB table named by TABLE_NAME (standard AWS configuration) instead of the
    /// embedded store
    #[arg(long)]
    aws: bool,
    /// The embedded store's file
    #[arg(long, default_value = "billsync.db")]
    state: std::path::PathBuf,
    /// Local mode: a JSON file of tenant secrets, {"<tenant>": {"netsuite": {...}, "billing": {...}}}
    #[arg(long, env = "BILLSYNC_SECRETS_FILE")]
    secrets: Option<std::path::PathBuf>,
}

fn read_settings(file: &std::path::Path) -> Result<billsync::settings::TenantSettings, i32> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("cannot read {}: {e}", file.display());
        ops::exit::BAD_INPUT
    })?;
    billsync::settings::TenantSettings::from_json(&text).map_err(|e| {
        eprintln!("{}: {e}", file.display());
        ops::exit::BAD_INPUT
    })
}

async fn demo(
    invoices: usize,
    chargebee_invoices: usize,
    seed: u64,
    state: Option<std::path::PathBuf>,
    external: (Option<String>, Option<std::path::PathBuf>),
    netsuite_auth: billsync::netsuite::AuthMethod,
) -> i32 {
    let netsuite = match external {
        (Some(url), Some(ids)) => match external_netsuite(&url, &ids) {
            Ok(ext) => Some(ext),
            Err(e) => {
                eprintln!("{e}");
                return ops::exit::BAD_INPUT;
            }
        },
        _ => None,
    };
    let opts = billsync_cli::demo::DemoOptions {
        invoices,
        seed,
        state,
        progress: true,
        netsuite,
        chargebee_invoices,
        netsuite_auth,
    };
    match billsync_cli::demo::run(&opts).await {
        Ok(report) => {
            print!("{}", billsync_cli::demo::render(&report));
            if report.ok() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("the demo could not run: {e}");
            1
        }
    }
}

/// A read-only command on the embedded store reads an existing file and never creates one.
fn existing_state(args: &StoreArgs) -> Result<(), i32> {
    if args.aws || args.state.exists() {
        return Ok(());
    }
    eprintln!(
        "no state at {}: nothing was synced here yet (--state names another file, --aws a deployment)",
        args.state.display()
    );
    Err(ops::exit::BAD_INPUT)
}

/// Opens the backend, runs one operator command, and turns its failure into a message and an
/// exit code.
async fn operate<F, Fut>(args: &StoreArgs, f: F) -> i32
where
    F: FnOnce(ops::Backend) -> Fut,
    Fut: std::future::Future<Output = Result<(), ops::OpsError>>,
{
    let backend = ops::Backend::open(args.aws, &args.state, args.secrets.as_deref()).await;
    run_on(backend, f).await
}

/// [`operate`] for a command that only reads (on AWS it needs no `QUEUE_URL`).
async fn inspect<F, Fut>(args: &StoreArgs, f: F) -> i32
where
    F: FnOnce(ops::Backend) -> Fut,
    Fut: std::future::Future<Output = Result<(), ops::OpsError>>,
{
    let backend =
        ops::Backend::open_read_only(args.aws, &args.state, args.secrets.as_deref()).await;
    run_on(backend, f).await
}

async fn run_on<F, Fut>(backend: Result<ops::Backend, ops::OpsError>, f: F) -> i32
where
    F: FnOnce(ops::Backend) -> Fut,
    Fut: std::future::Future<Output = Result<(), ops::OpsError>>,
{
    let failed = |e: ops::OpsError| {
        eprintln!("{e}");
        if let Some(advice) = e.advice() {
            eprintln!("{advice}");
        }
        e.exit_code()
    };
    match backend {
        Err(e) => failed(e),
        Ok(b) => match f(b).await {
            Ok(()) => ops::exit::OK,
            Err(e) => failed(e),
        },
    }
}

async fn serve(args: &StoreArgs, bind: std::net::SocketAddr, sweep_minutes: u64) -> i32 {
    if args.aws {
        eprintln!(
            "serve runs the local pipeline; on AWS the functions do this (see template.yaml)"
        );
        return ops::exit::BAD_INPUT;
    }
    let (services, queue) = match ops::local_services(&args.state, args.secrets.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let every = std::time::Duration::from_secs(sweep_minutes.max(1) * 60);
    let server = match billsync_cli::serve::start(services, queue, bind, every).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot listen on {bind}: {e}");
            return ops::exit::UNAVAILABLE;
        }
    };
    println!(
        "billsync serving webhooks on http://{}/webhooks/<tenant>/maxio; sweeping every {sweep_minutes} min (Ctrl-C stops)",
        server.addr
    );
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    ops::exit::OK
}

/// The demo's external NetSuite: credentials from the environment, ids from a file.
fn external_netsuite(
    url: &str,
    ids: &std::path::Path,
) -> Result<billsync_cli::demo::ExternalNetSuite, String> {
    let config = NetSuiteConfig::from_lookup(|name| {
        if name == ns_env::BASE_URL {
            Some(url.to_owned())
        } else {
            std::env::var(name).ok()
        }
    })
    .map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        format!("NetSuite settings are incomplete:\n{}", list.join("\n"))
    })?;
    let text =
        std::fs::read_to_string(ids).map_err(|e| format!("cannot read {}: {e}", ids.display()))?;
    let ids = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a NetSuite ids document: {e}", ids.display()))?;
    Ok(billsync_cli::demo::ExternalNetSuite { config, ids })
}

async fn create_table() -> i32 {
    let Some(table) = std::env::var(billsync::aws::TABLE_NAME_ENV)
        .ok()
        .filter(|t| !t.is_empty())
    else {
        eprintln!("set TABLE_NAME to the table to create");
        return 2;
    };
    let config = billsync::aws::load_sdk_config().await;
    match billsync::aws::create_table(&aws_sdk_dynamodb::Client::new(&config), &table).await {
        Ok(()) => {
            println!("table {table} created");
            0
        }
        Err(e) => {
            eprintln!("could not create table {table}: {e}");
            1
        }
    }
}

/// The preflight of a document about to be applied: `Err(errors)` when it found errors. A
/// tenant without a secret yet cannot be checked; that is said and the document applies.
async fn preflight_before_apply(
    backend: &ops::Backend,
    settings: &billsync::settings::TenantSettings,
) -> Result<(), usize> {
    use billsync::service::preflight::{check_tenant, CheckOptions};
    if let Err(e) = backend
        .services
        .secrets
        .tenant_secret(&settings.tenant)
        .await
    {
        eprintln!("not checked against NetSuite and billing ({e}); run `billsync tenant check` once the secret is in place");
        return Ok(());
    }
    let options = CheckOptions {
        today: chrono::Utc::now().date_naive(),
        webhook_base: "http://<host>:8080/webhooks",
        resume: false,
    };
    match check_tenant(&backend.services, settings, &options).await {
        Ok(check) => {
            print!("{}", billsync_cli::setup::render_check(&check));
            match check.errors() {
                0 => Ok(()),
                n => Err(n),
            }
        }
        Err(e) => {
            eprintln!("the preflight could not run: {e}");
            Err(1)
        }
    }
}

async fn tenant(cmd: &TenantCommand) -> i32 {
    match cmd {
        TenantCommand::Setup {
            file,
            write,
            tax_account,
            connection,
        } => tenant_setup(file, *write, tax_account.clone(), connection).await,
        TenantCommand::Check {
            tenant,
            settings,
            webhook_base,
            json,
            backend,
        } => {
            let given = match settings.as_deref().map(read_settings) {
                Some(Ok(s)) => Some(s),
                Some(Err(code)) => return code,
                None => None,
            };
            let (tenant, webhook_base, json) = (tenant.clone(), webhook_base.clone(), *json);
            operate(backend, |mut b| async move {
                use billsync::service::preflight::{check_tenant, CheckOptions};
                let settings = match given {
                    Some(s) if s.tenant != tenant => {
                        return Err(ops::OpsError::BadInput(format!(
                            "the document is for tenant {}, not {tenant}",
                            s.tenant
                        )))
                    }
                    Some(s) => s,
                    None => b.services.settings(&tenant).await?,
                };
                let options = CheckOptions {
                    today: chrono::Utc::now().date_naive(),
                    webhook_base: &webhook_base,
                    resume: true,
                };
                let check = check_tenant(&b.services, &settings, &options).await?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&check).expect("a report serializes")
                    );
                } else {
                    print!("{}", billsync_cli::setup::render_check(&check));
                }
                if check.resumed.is_some() {
                    if let Some((done, again)) = b.settle().await {
                        eprintln!("worked {done} messages locally; {again} will be retried by the next sweep");
                    }
                }
                match check.errors() {
                    0 => Ok(()),
                    n => Err(ops::OpsError::Failed(format!("{n} error(s) found"))),
                }
            })
            .await
        }
        TenantCommand::Resume { tenant, backend } => {
            let tenant = tenant.clone();
            operate(backend, |mut b| async move {
                let r = b.services.resume_tenant(&tenant).await?;
                match &r.was_paused {
                    Some(p) => println!(
                        "tenant {tenant} resumed (paused since {}: {})",
                        p.since.format("%Y-%m-%d %H:%M UTC"),
                        p.error.cause
                    ),
                    None => println!("tenant {tenant} was not paused"),
                }
                println!("{} held invoice(s) queued again", r.queued);
                if let Some((done, again)) = b.settle().await {
                    println!(
                        "worked {done} messages locally; {again} will be retried by the next sweep"
                    );
                }
                Ok(())
            })
            .await
        }
        TenantCommand::Validate { file } => match read_settings(file) {
            Ok(s) => {
                println!(
                    "{}: valid settings for tenant {} ({} source, site {})",
                    file.display(),
                    s.tenant,
                    s.source,
                    s.site
                );
                0
            }
            Err(code) => code,
        },
        TenantCommand::Apply { file, force, store } => {
            let settings = match read_settings(file) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let backend =
                match ops::Backend::open(store.aws, &store.state, store.secrets.as_deref()).await {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("{e}");
                        return e.exit_code();
                    }
                };
            // Not even with --force: overlapping external ids would mix two tenants' books.
            match billsync::service::preflight::external_id_clash(&backend.services, &settings)
                .await
            {
                Ok(None) => {}
                Ok(Some(clash)) => {
                    eprintln!("not applied: {clash}");
                    return ops::exit::FAILED;
                }
                Err(e) => {
                    eprintln!("could not read the other tenants' settings: {e}");
                    return 1;
                }
            }
            match preflight_before_apply(&backend, &settings).await {
                Ok(()) => {}
                Err(errors) if *force => eprintln!("applying despite {errors} error(s) (--force)"),
                Err(errors) => {
                    eprintln!("not applied: the preflight found {errors} error(s); fix them or apply with --force");
                    return ops::exit::FAILED;
                }
            }
            match backend.services.store.put_settings(&settings).await {
                Ok(()) => {
                    println!("settings of tenant {} applied", settings.tenant);
                    0
                }
                Err(e) => {
                    eprintln!("could not store the settings: {e}");
                    1
                }
            }
        }
    }
}

#[derive(Subcommand)]
enum NetsuiteCommand {
    /// Validate NetSuite credentials with one cheap authenticated call
    #[command(
        after_help = "Example:\n  NETSUITE_ACCOUNT_ID=1234567_SB1 NETSUITE_CONSUMER_KEY=... \\\n  NETSUITE_CONSUMER_SECRET=... NETSUITE_TOKEN_ID=... NETSUITE_TOKEN_SECRET=... \\\n  billsync netsuite check\n\nExit codes: 0 ok, 2 missing or invalid settings, 3 login refused, 4 permission missing, 5 unreachable, 1 other.\nPrefer the environment variables for secrets: flags show up in the process list."
    )]
    Check(ConnectionArgs),
    /// List what a settings document refers to (subsidiaries, currencies, accounts, items with
    /// their real types, departments, classes, locations, terms, payment methods), by SuiteQL
    #[command(
        after_help = "Example:\n  billsync netsuite ids            # credentials from the NETSUITE_* variables\n  billsync netsuite ids --json > ids.json\n\nExit codes: 0 listed, 2 missing settings, 3 login refused, 5 unreachable, 1 other."
    )]
    Ids {
        #[command(flatten)]
        connection: ConnectionArgs,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
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
    /// OAuth 2.0 M2M: Client ID of the integration record (instead of the four TBA values)
    #[arg(long, env = ns_env::CLIENT_ID, hide_env_values = true)]
    client_id: Option<String>,
    /// OAuth 2.0 M2M: Certificate ID of the certificate mapping
    #[arg(long, env = ns_env::CERTIFICATE_ID)]
    certificate_id: Option<String>,
    /// OAuth 2.0 M2M: the certificate's private key, PEM text
    #[arg(long, env = ns_env::PRIVATE_KEY, hide_env_values = true)]
    private_key: Option<String>,
    /// OAuth 2.0 M2M: a file holding the certificate's private key (PEM)
    #[arg(long, env = ns_env::PRIVATE_KEY_FILE)]
    private_key_file: Option<String>,
    /// OAuth 2.0 M2M, optional: the certificate (PEM file), to warn before it expires
    #[arg(long, env = ns_env::CERTIFICATE_FILE)]
    certificate_file: Option<String>,
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
            ns_env::CLIENT_ID => self.client_id.clone(),
            ns_env::CERTIFICATE_ID => self.certificate_id.clone(),
            ns_env::PRIVATE_KEY => self.private_key.clone(),
            ns_env::PRIVATE_KEY_FILE => self.private_key_file.clone(),
            ns_env::CERTIFICATE_FILE => self.certificate_file.clone(),
            ns_env::CERTIFICATE => std::env::var(ns_env::CERTIFICATE).ok(),
            ns_env::BASE_URL => self.base_url.clone(),
            _ => None,
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`billsync errors | head`) would panic;
/// the default action ends the process quietly, as every Unix tool does.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL is valid at any time, from any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    #[cfg(unix)]
    restore_sigpipe();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BILLSYNC_LOG")
                // The SDK's own warnings (a region not found on the instance metadata service)
                // repeat what the command then says plainly, with debug dumps.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error")),
        )
        // Field values may come from a signed payload: no terminal control reaches the screen.
        .with_ansi(false)
        .with_writer(billsync_cli::logging::SafeStderr)
        .init();

    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo {
            invoices,
            chargebee_invoices,
            seed,
            state,
            netsuite_base_url,
            netsuite_ids,
            netsuite_auth,
        } => {
            let auth = if netsuite_auth == "m2m" {
                billsync::netsuite::AuthMethod::M2m
            } else {
                billsync::netsuite::AuthMethod::Tba
            };
            demo(
                invoices,
                chargebee_invoices,
                seed,
                state,
                (netsuite_base_url, netsuite_ids),
                auth,
            )
            .await
        }
        Command::Netsuite(NetsuiteCommand::Check(args)) => netsuite_check(&args).await,
        Command::Tenant(cmd) => tenant(&cmd).await,
        Command::Netsuite(NetsuiteCommand::Ids { connection, json }) => {
            netsuite_ids(&connection, json).await
        }
        Command::Aws(AwsCommand::CreateTable) => create_table().await,
        Command::SyncNow { tenant, backend } => operate(&backend, |mut b| async move {
            let started = chrono::Utc::now();
            let (report, worked) = ops::sync_now(&mut b, &tenant).await?;
            println!(
                "sync now for {tenant}: {} billing events read, {} invoices queued, {} waiting flows re-queued (cursor {} -> {})",
                report.events_read,
                report.invoices_queued,
                report.waiting_queued,
                report.cursor_before.as_deref().unwrap_or("start"),
                report.cursor_after.as_deref().unwrap_or("start")
            );
            ops::report_worked(&b, &tenant, started, worked).await
        })
        .await,
        Command::Errors { action: Some(ErrorsAction::Dismiss { tenant, invoices, reason, backend }), .. } => {
            operate(&backend, |b| async move {
                let mut missing = Vec::new();
                for uid in &invoices {
                    match billsync::service::retry::dismiss(&b.services, &tenant, uid, &reason).await? {
                        Some(e) => println!("dismissed {uid} ({}: {})", e.step, e.cause),
                        None => missing.push(uid.clone()),
                    }
                }
                match missing.is_empty() {
                    true => Ok(()),
                    false => Err(ops::OpsError::BadInput(format!("not in the error log: {}", missing.join(", ")))),
                }
            })
            .await
        }
        Command::Errors { action: None, tenant, group, cause, since, json, backend } => {
            let Some(tenant) = tenant else {
                eprintln!("name the tenant with --tenant");
                return ExitCode::from(ops::exit::BAD_INPUT as u8);
            };
            if let Err(code) = existing_state(&backend) {
                return ExitCode::from(code as u8);
            }
            inspect(&backend, |b| async move {
                let filter = ops::ErrorFilter { cause, since };
                let entries: Vec<_> = ops::errors(&b, &tenant)
                    .await?
                    .into_iter()
                    .filter(|e| filter.keeps(e))
                    .collect();
                if json {
                    println!("{}", serde_json::to_string_pretty(&entries).expect("entries serialize"));
                } else if group {
                    print!("{}", ops::error_groups(&entries));
                } else {
                    print!("{}", ops::error_report(&entries));
                }
                Ok(())
            })
            .await
        }
        Command::Retry { tenant, invoices, all_failed, backend } => operate(&backend, |mut b| async move {
            let started = chrono::Utc::now();
            let (r, worked) = ops::retry(&mut b, &tenant, invoices, all_failed).await?;
            println!("queued {} invoice(s): {}", r.queued.len(), r.queued.join(", "));
            if worked.is_none() {
                return Ok(());
            }
            let summary = ops::summarize(&b, &tenant, started).await?;
            println!("invoices: {}", summary.line());
            let left = ops::errors(&b, &tenant).await?;
            println!("{} invoice(s) in the error log", left.len());
            match summary.errors.len() {
                0 => Ok(()),
                n => Err(ops::OpsError::Failed(format!("{n} retried invoice(s) ended in error again"))),
            }
        })
        .await,
        Command::Reconcile { tenant, from, to, last, json, backend } => match existing_state(&backend) {
            Err(code) => code,
            Ok(()) => inspect(&backend, |b| async move {
                use billsync::service::reconcile::{last_report, reconcile};
                let report = match (last, from, to) {
                    (true, _, _) => match last_report(&b.services, &tenant).await? {
                        Some(r) => r,
                        None => {
                            return Err(ops::OpsError::BadInput(format!(
                                "no reconcile of {tenant} was kept yet: the daily schedule keeps one (or run reconcile with --from and --to)"
                            )))
                        }
                    },
                    (false, Some(from), Some(to)) if from <= to => {
                        let settings = b.services.settings(&tenant).await?;
                        reconcile(&b.services, &settings, from, to).await?
                    }
                    _ => return Err(ops::OpsError::BadInput("--from must be on or before --to".into())),
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&report).expect("reports serialize"));
                } else {
                    print!("{}", billsync_cli::reconcile::render(&report, billsync_cli::progress::colours()));
                }
                match report.difference_count {
                    0 => Ok(()),
                    n => Err(ops::OpsError::Failed(format!("{n} difference(s) between billing and NetSuite"))),
                }
            })
            .await,
        },
        Command::Backfill { tenant, from, to, backend } => operate(&backend, |mut b| async move {
            if from > to {
                return Err(ops::OpsError::BadInput("--from must be on or before --to".into()));
            }
            let started = chrono::Utc::now();
            let report = billsync::service::backfill::backfill(&b.services, &tenant, from, to).await?;
            println!("{}", billsync_cli::reconcile::backfill_line(&report));
            let worked = b.settle().await;
            ops::report_worked(&b, &tenant, started, worked).await
        })
        .await,
        Command::Preview { tenant, invoice, json, backend } => match existing_state(&backend) {
            Err(code) => code,
            Ok(()) => inspect(&backend, |b| async move {
                let p = billsync::service::preview::preview(&b.services, &tenant, &invoice).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&p).expect("previews serialize"));
                } else {
                    print!("{}", billsync_cli::reconcile::preview_text(&p));
                }
                match p.error {
                    Some(e) => Err(ops::OpsError::Failed(format!("the sync would stop at {}: {}", e.step, e.cause))),
                    None => Ok(()),
                }
            })
            .await,
        },
        Command::Serve { bind, sweep_minutes, backend } => serve(&backend, bind, sweep_minutes).await,
        Command::Status { tenant, json, backend } => match existing_state(&backend) {
            Err(code) => code,
            Ok(()) => inspect(&backend, |b| async move {
            let s = ops::status(&b, &tenant).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s).expect("status serializes"));
            } else {
                print!("{}", s.render(billsync_cli::progress::colours()));
            }
            Ok(())
        })
        .await,
        },
    };
    ExitCode::from(code as u8)
}

/// The NetSuite client of a command that takes its credentials from the environment or flags.
fn connect(args: &ConnectionArgs) -> Result<NetSuiteClient, i32> {
    let mut config = NetSuiteConfig::from_lookup(|name| args.lookup(name)).map_err(|problems| {
        eprintln!("NetSuite settings are incomplete:");
        for p in problems {
            eprintln!("  - {p}");
        }
        check_exit::CONFIG
    })?;
    config.retry.max_attempts = 2;
    config.request_timeout = std::time::Duration::from_secs(30);
    NetSuiteClient::new(config).map_err(|e| {
        eprintln!("{e}");
        check_exit::CONFIG
    })
}

/// The exit code for a NetSuite failure of a command other than `netsuite check`.
fn netsuite_failed(e: &billsync::netsuite::NetSuiteError) -> i32 {
    use billsync::netsuite::ErrorKind;
    eprintln!("{e}");
    match e.kind() {
        ErrorKind::Login => check_exit::LOGIN_REFUSED,
        ErrorKind::Permission => check_exit::PERMISSION,
        ErrorKind::Transport => check_exit::UNREACHABLE,
        _ => check_exit::OTHER,
    }
}

async fn netsuite_ids(args: &ConnectionArgs, json: bool) -> i32 {
    let client = match connect(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match billsync_cli::setup::netsuite_ids(&client).await {
        Ok(sections) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&sections).expect("lists serialize")
            );
            check_exit::OK
        }
        Ok(sections) => {
            print!("{}", billsync_cli::setup::render_ids(&sections));
            check_exit::OK
        }
        Err(e) => netsuite_failed(&e),
    }
}

async fn tenant_setup(
    file: &std::path::Path,
    write: bool,
    tax_account: Option<String>,
    args: &ConnectionArgs,
) -> i32 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", file.display());
            return ops::exit::BAD_INPUT;
        }
    };
    let mut doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{} is not JSON: {e}", file.display());
            return ops::exit::BAD_INPUT;
        }
    };
    let before = doc.clone();
    let client = match connect(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let made = match billsync_cli::setup::tenant_setup(&client, &mut doc, tax_account).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return ops::exit::FAILED;
        }
    };
    for m in &made {
        println!(
            "{} {:<26} {} id {:<6} (external id {}) -> {}",
            if m.existed { "found  " } else { "created" },
            m.name,
            m.record_type,
            m.id,
            m.external_id,
            m.setting
        );
    }
    if doc == before {
        println!("{} already holds these ids", file.display());
        return ops::exit::OK;
    }
    if write {
        let text = serde_json::to_string_pretty(&doc).expect("JSON serializes") + "\n";
        if let Err(e) = std::fs::write(file, text) {
            eprintln!("cannot write {}: {e}", file.display());
            return ops::exit::FAILED;
        }
        println!("wrote the ids into {}", file.display());
    } else {
        let patch: serde_json::Map<String, serde_json::Value> = made
            .iter()
            .map(|m| {
                (
                    m.setting.to_owned(),
                    doc.pointer(&format!("/{}", m.setting.replace('.', "/")))
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect();
        println!(
            "patch (or run again with --write):\n{}",
            serde_json::to_string_pretty(&patch).expect("JSON serializes")
        );
    }
    ops::exit::OK
}

/// Exit codes of `billsync netsuite check`, for scripts.
mod check_exit {
    pub use billsync_cli::ops::exit::{
        BAD_INPUT as CONFIG, FAILED as OTHER, LOGIN_REFUSED, OK, PERMISSION,
        UNAVAILABLE as UNREACHABLE,
    };
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
            return check_exit::CONFIG;
        }
    };
    // A check reports what it sees at once rather than sitting through a retry schedule.
    config.retry.max_attempts = 1;
    config.request_timeout = std::time::Duration::from_secs(30);
    let endpoint = config.root_url().to_string();
    for warning in credential_warnings(&config.auth, chrono::Utc::now()) {
        eprintln!("warning: {warning}");
    }
    let client = match NetSuiteClient::new(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return check_exit::CONFIG;
        }
    };
    match check_connection(&client, &endpoint).await {
        Ok(report) => {
            println!("{report}");
            // A login that works says nothing of what the role may do: prove each permission.
            let permissions = billsync::netsuite::preflight::check_permissions(&client).await;
            if permissions.findings.is_empty() {
                println!(
                    "The role has the {} permissions billsync proves this way (see docs/netsuite-setup.md#3-the-role-and-its-permissions)",
                    permissions.passed
                );
                return check_exit::OK;
            }
            for f in &permissions.findings {
                eprintln!("{}\n  - {}", f.problem, f.fix);
            }
            if permissions
                .findings
                .iter()
                .any(|f| f.severity == billsync::netsuite::preflight::Severity::Error)
            {
                check_exit::PERMISSION
            } else {
                check_exit::OK
            }
        }
        Err(failure) => {
            eprint!("{failure}");
            match failure.cause {
                CheckCause::LoginRefused => check_exit::LOGIN_REFUSED,
                CheckCause::Permission => check_exit::PERMISSION,
                CheckCause::Unreachable => check_exit::UNREACHABLE,
                CheckCause::Other => check_exit::OTHER,
            }
        }
    }
}
