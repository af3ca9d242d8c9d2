//! The command line: `serve` (default), `migrate`, `token create`, `seed`, `tallies`, `openapi`.

use crate::config;
use crate::domain::kinds::Role;
use crate::store::tallies;
use crate::{app, db, http, seed};
use clap::{Parser, Subcommand, ValueEnum};
use migration::{Migrator, MigratorTrait};
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "climate-tracker",
    version,
    about = "Tracks China–Pacific climate-cooperation projects and the fund that pays for them"
)]
struct Cli {
    #[command(flatten)]
    database: config::Database,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, load the reference data into an empty database, and serve.
    Serve(config::Serve),
    /// Run schema migrations.
    Migrate {
        #[arg(value_enum, default_value = "up")]
        direction: Direction,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load data: `reference` (REFERENCE.md) or `demo` (reference plus marked samples).
    Seed {
        #[arg(value_enum)]
        set: SeedSet,
        /// For `synthetic`: 1 ≈ 1k institutions, 10k projects, 50k milestones, 20k grants, 60k disbursements.
        #[arg(long, default_value_t = 1)]
        scale: u32,
    },
    /// The dashboards' aggregates: `check` compares them with a fresh count
    /// (exit 1 when they differ), `rebuild` counts them afresh.
    Tallies {
        #[arg(value_enum)]
        action: TalliesAction,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Clone, Copy, ValueEnum)]
enum TalliesAction {
    Check,
    Rebuild,
}

#[derive(Clone, Copy, ValueEnum)]
enum Direction {
    Up,
    Down,
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeedSet {
    Reference,
    /// The reference data plus sample projects, grants and payments (codes `sample-…`).
    Demo,
    /// Deterministic data for benchmarks (see `--scale`).
    Synthetic,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Required for, and only for, partner tokens.
        #[arg(long)]
        institution: Option<Uuid>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|_| "admin, viewer or partner".to_owned())
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "climate_tracker=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

async fn execute(cli: Cli) -> CliResult {
    let url = cli.database.database_url;
    match cli.command {
        Some(Command::Openapi) => {
            println!("{}", http::openapi().to_pretty_json()?);
            Ok(())
        }
        Some(Command::Migrate { direction }) => {
            let db = db::connect(&url).await?;
            match direction {
                Direction::Up => db::migrate_up(&db).await?,
                Direction::Down => Migrator::down(&db, None).await?,
                Direction::Status => Migrator::status(&db).await?,
            }
            Ok(())
        }
        Some(Command::Token {
            command:
                TokenCommand::Create {
                    name,
                    role,
                    institution,
                },
        }) => {
            let db = db::connect(&url).await?;
            db::migrate_up(&db).await?;
            let new = app::tokens::New {
                name: name.clone(),
                role,
                institution_id: institution,
            };
            let created = app::tokens::create_as_system(&db, "system:cli", new).await?;
            println!("{}", created.secret);
            eprintln!(
                "token {} ({}, {}) created; the secret above is shown only once",
                created.token.id,
                name,
                role.as_str()
            );
            Ok(())
        }
        Some(Command::Seed {
            set: SeedSet::Synthetic,
            scale,
        }) => {
            let db = db::connect(&url).await?;
            db::migrate_up(&db).await?;
            seed::reference(&db).await?;
            let started = std::time::Instant::now();
            let n = crate::synthetic::load(&db, scale).await?;
            eprintln!(
                "synthetic scale {scale}: {} institutions, {} projects, {} milestones, {} grants, {} disbursements in {:.1}s",
                n.institutions,
                n.projects,
                n.milestones,
                n.grants,
                n.disbursements,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Some(Command::Seed {
            set: SeedSet::Reference,
            ..
        }) => {
            let db = db::connect(&url).await?;
            db::migrate_up(&db).await?;
            let added = seed::reference(&db).await?;
            eprintln!("reference data loaded ({added} records added)");
            Ok(())
        }
        Some(Command::Seed { set: SeedSet::Demo, .. }) => {
            let db = db::connect(&url).await?;
            db::migrate_up(&db).await?;
            let added = seed::demo(&db).await?;
            eprintln!(
                "demo data loaded ({} reference records, {} contributions and {} sample projects added)",
                added.reference, added.contributions, added.projects
            );
            Ok(())
        }
        Some(Command::Tallies { action }) => {
            let db = db::connect(&url).await?;
            db::migrate_up(&db).await?;
            match action {
                TalliesAction::Check => {
                    let off = tallies::differences(&db).await?;
                    for line in &off {
                        println!("{line}");
                    }
                    if !off.is_empty() {
                        return Err(format!("{} figures differ from a fresh count", off.len()).into());
                    }
                    eprintln!("the tallies equal a fresh count");
                }
                TalliesAction::Rebuild => {
                    tallies::mark_stale(&db).await?;
                    tallies::rebuild_stale(&db).await?;
                    eprintln!("the tallies were counted afresh");
                }
            }
            Ok(())
        }
        Some(Command::Serve(settings)) => crate::server::serve(&url, settings).await,
        None => crate::server::serve(&url, config::Serve::from_env()?).await,
    }
}
