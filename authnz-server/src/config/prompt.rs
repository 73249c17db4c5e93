//! How auto-setup asks its questions. [`Prompter`] abstracts the terminal so
//! tests can script the answers; [`StdioPrompter`] is the real one.
//!
//! The admin password is read like any other answer: without a terminal
//! crate there is no portable way to switch echo off, so the prompt says the
//! input will be visible. (Leaving the password empty generates one, which
//! is the recommended path.)

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};

/// Asks questions and returns answers. An answer is one line without its
/// line ending; an empty answer (or end of input) means "use the default".
pub trait Prompter {
    /// Shows an informational line.
    fn note(&mut self, message: &str) -> io::Result<()>;
    /// Asks a question and returns the answer.
    fn ask(&mut self, question: &str) -> io::Result<String>;
    /// Asks for a secret (the admin password) and returns the answer.
    fn ask_secret(&mut self, question: &str) -> io::Result<String>;
}

/// Prompts on standard output and reads answers from standard input.
#[derive(Debug, Default)]
pub struct StdioPrompter;

impl StdioPrompter {
    fn read_line(question: &str) -> io::Result<String> {
        let mut out = io::stdout().lock();
        write!(out, "{question}")?;
        out.flush()?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

impl Prompter for StdioPrompter {
    fn note(&mut self, message: &str) -> io::Result<()> {
        writeln!(io::stdout().lock(), "{message}")
    }

    fn ask(&mut self, question: &str) -> io::Result<String> {
        Self::read_line(question)
    }

    fn ask_secret(&mut self, question: &str) -> io::Result<String> {
        self.note("(The password is shown as you type it. Leave it empty to generate one.)")?;
        Self::read_line(question)
    }
}

/// Answers from a list, for tests and scripted set-ups. Once the list is
/// exhausted every answer is empty (take the default). Everything asked and
/// shown is recorded in `transcript`.
#[derive(Debug, Default)]
pub struct ScriptedPrompter {
    answers: VecDeque<String>,
    /// Questions and notes, in order.
    pub transcript: Vec<String>,
}

impl ScriptedPrompter {
    /// A prompter that gives `answers` in order.
    pub fn new<I, S>(answers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            answers: answers.into_iter().map(Into::into).collect(),
            transcript: Vec::new(),
        }
    }
}

impl Prompter for ScriptedPrompter {
    fn note(&mut self, message: &str) -> io::Result<()> {
        self.transcript.push(message.to_owned());
        Ok(())
    }

    fn ask(&mut self, question: &str) -> io::Result<String> {
        self.transcript.push(question.to_owned());
        Ok(self.answers.pop_front().unwrap_or_default())
    }

    fn ask_secret(&mut self, question: &str) -> io::Result<String> {
        self.ask(question)
    }
}
