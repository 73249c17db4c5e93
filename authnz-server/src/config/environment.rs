//! A snapshot of environment variables, passed to the loader as a value so
//! tests never touch (or race on) the real process environment. Start-up
//! takes one snapshot with [`Environment::from_process`].

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Environment variables by name (case-sensitive, as on Unix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The real process environment. Values that are not valid UTF-8 are
    /// converted lossily (such a value in an item then fails validation
    /// visibly instead of vanishing); names that are not UTF-8 are skipped,
    /// as no item has one.
    pub fn from_process() -> Self {
        std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                Some((name, value.to_string_lossy().into_owned()))
            })
            .collect()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// All variables, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `name` if it is set and not blank.
    pub fn get_nonblank(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Sets `name` (builder style, for tests and tools).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The OS user name, as Python's `getpass.getuser()` finds it: the first
    /// non-blank of `LOGNAME`, `USER`, `LNAME`, `USERNAME`.
    pub fn os_user(&self) -> Option<&str> {
        ["LOGNAME", "USER", "LNAME", "USERNAME"]
            .into_iter()
            .find_map(|name| self.get_nonblank(name))
    }

    /// The home directory (`HOME`), the value of `[[homedir]]`.
    pub fn home_dir(&self) -> Option<PathBuf> {
        self.get_nonblank("HOME").map(PathBuf::from)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<'a> From<&'a [(String, String)]> for Environment {
    fn from(pairs: &'a [(String, String)]) -> Self {
        pairs.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
