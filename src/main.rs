//! `dcpue`: the command line (CONTRACT §7). Commands only; the work lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dcpue::config::{Config, ConfigError, Role};
use dcpue::serve::start::{load_checked, LoadError};

/// Why a command failed: each layer's own error, printed as it is after `dcpue: `.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    WebConfig(#[from] dcpue::http::webconfig::WebConfigError),
    #[error(transparent)]
    Report(#[from] dcpue::report::ReportError),
    #[error(transparent)]
    Import(#[from] dcpue::import::ImportError),
    #[error(transparent)]
    Acl(#[from] dcpue::ingest::acl::AclError),
    #[error(transparent)]
    Serve(#[from] dcpue::serve::ServeError),
    #[error(transparent)]
    Demo(#[from] dcpue::demo::DemoError),
    #[error(transparent)]
    Simulate(#[from] dcpue::sim::SimError),
}

#[derive(Parser)]
#[command(
    name = "dcpue",
    version,
    about = "Data-centre PUE compliance monitor (Jiangxi 一核四副两备)"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector, engine, alerts and HTTP server.
    Serve {
        /// Config file (TOML, CONTRACT §2).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Everything on one machine: an embedded broker, the simulated Jiangxi facilities with a
    /// year of history, and the dashboard.
    Demo(dcpue::demo::DemoArgs),
    /// Publish realistic meter data for the configured facilities (live, or a past period as
    /// fast as the broker takes it).
    Simulate {
        /// Config file whose facilities and meters are simulated.
        #[arg(long, short)]
        config: PathBuf,
        /// Broker URL, e.g. mqtt://127.0.0.1:1883.
        #[arg(long)]
        broker: String,
        #[command(flatten)]
        args: dcpue::sim::SimulateArgs,
    },
    /// Validate a config file and print a summary.
    CheckConfig {
        /// Config file.
        file: PathBuf,
    },
    /// The compliance report for a period, from the stored history (or a running instance).
    Report(dcpue::report::ReportArgs),
    /// Backfill one facility's history from a CSV file (`ts,meter,power_kw,energy_kwh[,quality]`)
    /// into storage.dir, offline: refused while a `serve` runs on it. Exit status 0 once the file
    /// was read (rejected lines are reported and counted), 1 when nothing could be imported.
    Import(dcpue::import::ImportArgs),
    /// Print a Mosquitto acl_file: each facility's broker user (its facility id) may publish
    /// only into its own topics; dcpue's user may read them.
    BrokerAcl {
        /// Config file whose facilities get a broker user each.
        #[arg(long, short)]
        config: PathBuf,
        /// dcpue's own broker user (default: [mqtt] username of the config).
        #[arg(long)]
        user: Option<String>,
    },
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let chosen = std::env::var_os("DCPUE_LOG").is_some();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DCPUE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=warn,rumqttc=warn"));
    // Unless DCPUE_LOG chooses otherwise: not the demo broker's reports of a client connection
    // coming and going, which rumqttd logs as errors (a newcomer's first screen holds no false
    // alarm).
    let quiet = tracing_subscriber::filter::DynFilterFn::new(move |meta, cx| {
        chosen || !dcpue::sim::broker::is_connection_noise(meta, cx)
    })
    // Decided once per call site everywhere else (no cost on the hot paths).
    .with_callsite_filter(|meta| {
        if dcpue::sim::broker::may_be_connection_noise(meta) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Text => fmt.with_filter(quiet).with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_filter(quiet).with_filter(filter).boxed(),
    };
    tracing_subscriber::registry().with(layer).init();
}

/// The same loading and checks as `serve` (`serve::start::load_checked`), without binding or
/// connecting.
fn check_config(file: &std::path::Path) -> Result<(), CliError> {
    let cfg = load_checked(file)?;
    let warnings = dcpue::http::webconfig::check(&cfg.http)?;
    println!("{}: ok", file.display());
    for w in warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "mqtt {} (prefix {:?}, qos {}), http {}, storage {}",
        cfg.mqtt.url,
        cfg.mqtt.topic_prefix,
        cfg.mqtt.qos,
        cfg.http.listen,
        cfg.storage.dir.display()
    );
    println!(
        "windows {} (compliance {}), min_coverage {}, timezone {}",
        cfg.windows()
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.compliance_window(),
        cfg.engine.min_coverage,
        cfg.engine.timezone
    );
    println!();
    println!(
        "{:<14} {:<14} {:<12} {:<8} {:>7}  meters",
        "facility", "tier", "class", "commiss.", "ceiling"
    );
    for f in &cfg.facilities {
        let by_role = |r: Role| {
            let ids: Vec<String> = f
                .meters
                .iter()
                .filter(|m| m.has_role(r))
                .map(|m| {
                    if m.weight != 1.0 {
                        format!("{}×{}", m.id(), m.weight)
                    } else {
                        m.id().to_string()
                    }
                })
                .collect();
            format!(
                "{}: {}",
                r.as_str(),
                if ids.is_empty() {
                    "-".into()
                } else {
                    ids.join(", ")
                }
            )
        };
        println!(
            "{:<14} {:<14} {:<12} {:<8} {:>7.2}  {}; {}; {}",
            f.id(),
            f.tier.as_str(),
            f.class.as_str(),
            f.commissioned.format("%Y-%m"),
            cfg.ceiling(f),
            by_role(Role::Total),
            by_role(Role::It),
            by_role(Role::Renewable)
        );
        println!(
            "{:<14} {} ({}){}",
            "",
            f.name,
            f.city,
            f.renewable_target
                .map(|t| format!(", renewable target {:.0}%", t * 100.0))
                .unwrap_or_default()
        );
        println!(
            "{:<14} {}",
            "",
            dcpue::config::kpi::summary(f, cfg.policy.grid_emission_factor)
        );
        for m in &f.meters {
            for line in dcpue::config::replacement::summary(&m.replacements) {
                println!("{:<14} meter {} {line}", "", m.id());
            }
        }
    }
    for s in &cfg.sources {
        let mut meters: Vec<&str> = s.maps.iter().map(|m| m.meter.as_str()).collect();
        meters.sort_unstable();
        meters.dedup();
        println!(
            "source {} ({}) on {:?} → {}: {} values mapped to {}",
            s.name,
            s.format.as_str(),
            s.topic,
            s.facility,
            s.maps.len(),
            meters.join(", ")
        );
    }
    Ok(())
}

async fn shutdown_signal(token: tokio_util::sync::CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    token.cancel();
}

/// Commands that only print end quietly when their reader goes away (`dcpue check-config … |
/// head`), as other command-line tools do, instead of panicking in `println!`. Only for them:
/// the network commands keep Rust's default, where a closed socket is an error, not a signal.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called at start, before any other thread exists; it restores the default
    // action of one signal and touches no memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    if matches!(
        cli.command,
        Command::CheckConfig { .. } | Command::BrokerAcl { .. }
    ) {
        default_sigpipe();
    }
    let result: Result<(), CliError> = match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Report(args) => dcpue::report::run_report(&args).map_err(CliError::from),
        Command::Import(args) => dcpue::import::run_import(&args)
            .map(|_| ())
            .map_err(CliError::from),
        Command::BrokerAcl { config, user } => Config::load(&config)
            .map_err(CliError::from)
            .and_then(|cfg| {
                let text = dcpue::ingest::acl::acl_file(
                    &cfg,
                    user.as_deref(),
                    &config.display().to_string(),
                )?;
                print!("{text}");
                Ok(())
            }),
        cmd => {
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("dcpue: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            rt.block_on(async move {
                let token = tokio_util::sync::CancellationToken::new();
                tokio::spawn(shutdown_signal(token.clone()));
                match cmd {
                    Command::Serve { config } => {
                        let cfg = load_checked(&config)?;
                        Ok(dcpue::serve::serve(cfg, token, None).await?)
                    }
                    Command::Demo(args) => Ok(dcpue::demo::run_demo(args, token).await?),
                    Command::Simulate {
                        config,
                        broker,
                        args,
                    } => {
                        let cfg = Config::load(&config)?;
                        let stop = token.clone();
                        let summary =
                            dcpue::sim::run_simulate_until(&cfg, &broker, args, stop).await?;
                        eprintln!(
                            "published {} messages ({} readings, {} acknowledged) in {:.1} s",
                            summary.messages,
                            summary.readings,
                            summary.acked,
                            summary.elapsed.as_secs_f64()
                        );
                        for (f, t) in &summary.totals {
                            eprintln!(
                                "  {f}: model PUE {}",
                                t.pue()
                                    .map(|p| format!("{p:.4}"))
                                    .unwrap_or_else(|| "-".into())
                            );
                        }
                        Ok(())
                    }
                    _ => Ok(()),
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dcpue: {e}");
            ExitCode::FAILURE
        }
    }
}
