//! Reading a new password for `user add` and `user set-password`: from the
//! terminal with echo off (asked twice), or from the first line of standard
//! input with `--password-stdin`. Never from the command line, where other
//! users of the machine could read it in the process list.

use std::io::{self, BufRead, IsTerminal, Write};

/// The password, or why there is none.
pub fn read_new_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        if !io::stdin().is_terminal() {
            anyhow::bail!(
                "no terminal to ask for the password on: pass --password-stdin and write the password to standard input"
            );
        }
        let first = prompt_hidden("New password: ")?;
        let second = prompt_hidden("Repeat the password: ")?;
        if first != second {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    if password.is_empty() {
        anyhow::bail!("the password is empty; nothing was changed");
    }
    Ok(password)
}

/// Ask on stderr and read one line from the terminal without echo.
fn prompt_hidden(question: &str) -> anyhow::Result<String> {
    let mut err = io::stderr().lock();
    write!(err, "{question}")?;
    err.flush()?;
    let line = {
        let _echo = EchoOff::new();
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        line
    };
    writeln!(err)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Terminal echo switched off for its lifetime (Linux; elsewhere the typed
/// password shows, which the prompt cannot avoid without a terminal crate).
struct EchoOff {
    #[cfg(target_os = "linux")]
    saved: Option<rustix::termios::Termios>,
}

impl EchoOff {
    #[cfg(target_os = "linux")]
    fn new() -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
        }
        Self { saved }
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> Self {
        Self {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

/// Ask "QUESTION [y/N]" on the terminal; `Ok(false)` unless the answer is
/// yes. Without a terminal the caller must have been given `--yes`.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !io::stdin().is_terminal() {
        anyhow::bail!("{question}: no terminal to confirm on; pass --yes to go ahead");
    }
    let mut err = io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
