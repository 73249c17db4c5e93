//! `authnzrv`: the authnz server binary.
//!
//! `authnzrv --autosetup --basedir DIR` prepares a base directory (secret,
//! salt, SQLite database, admin credentials, policy copy, `.env`) and exits;
//! `authnzrv --basedir DIR` then serves with no other option. The
//! subcommands are tools for the operator: `policy check FILE` validates a
//! permission policy, `user`, `session` and `apikey` manage the database
//! with the server's configuration ([`admin`]), `argon2 calibrate` sizes
//! password hashing for this machine. See `authnzrv --help` for every
//! configuration item.

mod admin;
mod launch;

use std::process::ExitCode;

use authnz_core::policy::Policy;
use authnz_server::config::{Cli, Command, Environment, PolicyCommand};
use clap::Parser as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Policy(PolicyCommand::Check { file })) => return policy_check(file),
        Some(Command::Argon2(command)) => return report(admin::argon2::run(&cli, command)),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("authnzrv: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    report(runtime.block_on(run(cli)))
}

/// Success, or the error (with its causes) on stderr and a failing status.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authnzrv: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `authnzrv policy check FILE`: the review table on stdout, or the error on
/// stderr and a failing exit status.
fn policy_check(file: &std::path::Path) -> ExitCode {
    match Policy::load(Some(file)) {
        Ok(policy) => {
            println!("{}: valid permissions policy\n", file.display());
            print!("{}", policy.report());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authnzrv: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Environment::from_process();
    if let Some(command) = &cli.command {
        return admin::run(&cli, &env, command).await;
    }
    if cli.autosetup {
        launch::init_logging("info", authnz_server::config::LogFormat::Text);
        return launch::autosetup(&cli, &env).await;
    }
    let config = launch::load_config(&cli, &env)?;
    let level = if config.debugmode { "debug" } else { "info" };
    launch::init_logging(level, config.logformat);
    launch::serve(config, &env).await
}
