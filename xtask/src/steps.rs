//! Runs the steps of a task one after another, keeps going after a failure
//! so one run shows every problem, and prints a summary at the end.

use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

#[derive(Debug)]
struct Record {
    name: String,
    outcome: Outcome,
    took: Duration,
}

/// The steps run so far and how each went.
#[derive(Debug, Default)]
pub struct Steps {
    records: Vec<Record>,
}

impl Steps {
    /// Runs `f` as a named step and records its outcome.
    pub fn run(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<()>) -> bool {
        println!();
        println!("==> {name}");
        let start = Instant::now();
        let result = f();
        let took = start.elapsed();
        let ok = result.is_ok();
        let outcome = match result {
            Ok(()) => Outcome::Passed,
            Err(e) => {
                eprintln!("xtask: step '{name}' failed: {e:#}");
                Outcome::Failed(format!("{e:#}"))
            }
        };
        self.records.push(Record {
            name: name.to_string(),
            outcome,
            took,
        });
        ok
    }

    /// Records a step that was not run.
    pub fn skip(&mut self, name: &str, why: &str) {
        println!();
        println!("==> {name}: skipped ({why})");
        self.records.push(Record {
            name: name.to_string(),
            outcome: Outcome::Skipped(why.to_string()),
            took: Duration::ZERO,
        });
    }

    pub fn failed(&self) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// Prints the summary table; returns an error if any step failed.
    pub fn finish(self, task: &str) -> anyhow::Result<()> {
        println!();
        println!("== xtask {task}: summary ==");
        for r in &self.records {
            let (tag, note) = match &r.outcome {
                Outcome::Passed => ("PASS", String::new()),
                Outcome::Failed(e) => ("FAIL", format!("  {e}")),
                Outcome::Skipped(why) => ("SKIP", format!("  {why}")),
            };
            println!(
                "  {tag}  {:<44} {:>7.1}s{note}",
                r.name,
                r.took.as_secs_f64()
            );
        }
        let count = |f: fn(&Outcome) -> bool| self.records.iter().filter(|r| f(&r.outcome)).count();
        println!(
            "steps: {} passed, {} failed, {} skipped",
            count(|o| matches!(o, Outcome::Passed)),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::Skipped(_))),
        );
        if self.failed() {
            anyhow::bail!("xtask {task}: some steps failed");
        }
        Ok(())
    }
}

/// Prints and runs a command; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        anyhow::bail!("`{}` exited with {status}", show(cmd));
    }
    Ok(())
}

/// Prints and runs a command, returning its exit status.
pub fn status(cmd: &mut Command) -> anyhow::Result<std::process::ExitStatus> {
    println!("$ {}", show(cmd));
    cmd.status()
        .map_err(|e| anyhow::anyhow!("cannot start `{}`: {e}", show(cmd)))
}

/// The command line as text, for logs.
pub fn show(cmd: &Command) -> String {
    let program = std::path::Path::new(cmd.get_program());
    // `cargo run` hands us cargo's full path in $CARGO; logs read better short.
    let mut s = if program.file_name().is_some_and(|n| n == "cargo") {
        "cargo".to_string()
    } else {
        program.to_string_lossy().into_owned()
    };
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}
