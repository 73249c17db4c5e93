//! The file half of `authnzrv --autosetup` (PROTOCOL.md 7.4) and the admin
//! credentials file of the first start (PROTOCOL.md 7.5 step 6).
//!
//! [`prepare_basedir`] asks its questions (when interactive), then writes
//! into the base directory: the secret key and PII salt (kept if present),
//! a copy of the bundled policy (always refreshed) and a `.env` that makes
//! `authnzrv --basedir DIR` start with no other option. It returns an
//! [`AutosetupPlan`]; the caller then creates the database and its initial
//! rows, and writes the credentials with [`write_admin_credentials`].
//!
//! Decisions that differ from upstream:
//! - `AUTHNZERVER_BASEDIR` in `.env` is the chosen base directory, not the
//!   working directory (upstream quirk).
//! - A database URL typed at the prompt is used (upstream ignores it).
//! - An existing `.env` with different content is kept as
//!   `.env.backup-<unix time>` before the new one is written; an identical
//!   one is left alone. The new `.env` has mode 0600 (it is where an SMTP
//!   password goes), a directory created here mode 0700.
//! - An existing secret key that is not a valid Fernet key, or an empty
//!   salt file, stops auto-setup rather than producing a `.env` that cannot
//!   start.
//! - A password typed at the prompt is not written to the credentials file:
//!   [`AutosetupPlan::credentials_password`] gives the marker
//!   `password-was-user-generated`, as upstream does for
//!   `AUTHNZERVER_ADMIN_PASSWORD`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::cli::Cli;
use super::database::DatabaseTarget;
use super::envfile::escape_value;
use super::environment::Environment;
use super::error::AutosetupError;
use super::files;
use super::items::{self, ITEMS, ItemDefault};
use super::load::BASEDIR_ENVFILE;
use super::prompt::Prompter;
use super::random::generate_fernet_key;
use super::secret::FernetKey;

/// The bundled default policy (PROTOCOL.md 6.5), copied into every base directory.
pub use authnz_core::policy::DEFAULT_POLICY_JSON;

/// File name of the shared secret key in the base directory.
pub const SECRET_KEY_FILE: &str = ".authnzerver-secret-key";
/// File name of the PII salt in the base directory.
pub const SALT_FILE: &str = ".authnzerver-salt";
/// File name of the policy copy in the base directory.
pub const POLICY_FILE: &str = "default-permissions-model.json";
/// File name of the default SQLite database in the base directory.
pub const SQLITE_FILE: &str = ".authdb.sqlite";
/// File name of the admin credentials in the base directory.
pub const ADMIN_CREDENTIALS_FILE: &str = ".authnzerver-admin-credentials";
/// Written instead of the password when the admin chose it (PROTOCOL.md 7.5).
pub const USER_GENERATED_PASSWORD_MARKER: &str = "password-was-user-generated";
/// Bytes of randomness in a generated admin password (`token_urlsafe(16)`,
/// 22 characters).
pub const GENERATED_PASSWORD_BYTES: usize = 16;
/// Admin e-mail variable, read from the real environment only (PROTOCOL.md 7.1).
pub const ADMIN_EMAIL_ENV: &str = "AUTHNZERVER_ADMIN_EMAIL";
/// Admin password variable, read from the real environment only (PROTOCOL.md 7.1).
pub const ADMIN_PASSWORD_ENV: &str = "AUTHNZERVER_ADMIN_PASSWORD";
/// Admin e-mail used when the OS user is unknown (PROTOCOL.md 7.4).
pub const FALLBACK_ADMIN_EMAIL: &str = "serveradmin@localhost";

/// Mode of the secret key, salt and credentials files.
const SECRET_FILE_MODE: u32 = 0o400;
/// Mode of the written `.env`.
const ENV_FILE_MODE: u32 = 0o600;
/// Mode of the policy copy.
const POLICY_FILE_MODE: u32 = 0o644;
/// Attempts per question before an invalid answer stops auto-setup.
const MAX_ATTEMPTS: usize = 3;

/// Values given to auto-setup before it asks anything: they become the
/// answers when not interactive and the defaults shown when interactive.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AutosetupSeed {
    /// Database URL (e.g. from `--authdb`); `None` = SQLite in the basedir.
    pub authdb: Option<String>,
    /// Policy file (e.g. from `--permissions`); `None` = the bundled copy.
    pub permissions: Option<PathBuf>,
    /// Admin e-mail (`AUTHNZERVER_ADMIN_EMAIL`).
    pub admin_email: Option<String>,
    /// Admin password (`AUTHNZERVER_ADMIN_PASSWORD`); `None` = generate.
    pub admin_password: Option<String>,
    /// The OS user, for the default admin e-mail and `emailuser`: Python's
    /// `getpass.getuser()` (`LOGNAME`, `USER`, `LNAME`, `USERNAME`, then the
    /// password-file entry of the process's user).
    pub os_user: Option<String>,
}

impl AutosetupSeed {
    /// The admin variables and the OS user from an environment snapshot.
    pub fn from_environment(env: &Environment) -> Self {
        Self {
            authdb: None,
            permissions: None,
            admin_email: env.get_nonblank(ADMIN_EMAIL_ENV).map(str::to_owned),
            admin_password: env.get_nonblank(ADMIN_PASSWORD_ENV).map(str::to_owned),
            os_user: env.os_user().map(str::to_owned).or_else(passwd_login_name),
        }
    }

    /// As [`AutosetupSeed::from_environment`], plus `--authdb` and
    /// `--permissions` from the command line.
    pub fn from_cli_and_environment(cli: &Cli, env: &Environment) -> Self {
        let nonblank = |v: Option<&str>| v.filter(|v| !v.trim().is_empty()).map(str::to_owned);
        Self {
            authdb: nonblank(cli.item(&items::AUTHDB)),
            permissions: nonblank(cli.item(&items::PERMISSIONS)).map(PathBuf::from),
            ..Self::from_environment(env)
        }
    }
}

impl fmt::Debug for AutosetupSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutosetupSeed")
            .field("authdb", &self.authdb.as_deref().map(redacted_url))
            .field("permissions", &self.permissions)
            .field("admin_email", &self.admin_email.as_ref().map(|_| "<set>"))
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("os_user", &self.os_user)
            .finish()
    }
}

/// What auto-setup wrote and what the caller still has to do.
#[derive(Clone, PartialEq, Eq)]
pub struct AutosetupPlan {
    /// The base directory, absolute.
    pub basedir: PathBuf,
    /// The database to create and fill.
    pub authdb: DatabaseTarget,
    /// The database URL as written to `.env`.
    pub authdb_url: String,
    /// True when `authdb` is the default `<basedir>/.authdb.sqlite`.
    pub authdb_is_default_sqlite: bool,
    /// The policy file `.env` points at (absolute): the copy in the basedir,
    /// or the file the user named.
    pub permissions: PathBuf,
    /// The admin e-mail for user 1.
    pub admin_email: String,
    /// The admin password; `None` means generate one with
    /// `random_urlsafe_token(GENERATED_PASSWORD_BYTES)`.
    pub admin_password: Option<String>,
    /// The `.env` written.
    pub env_path: PathBuf,
    /// Where a previous, different `.env` was moved, if there was one.
    pub env_backup: Option<PathBuf>,
    /// The secret key file.
    pub secret_key_path: PathBuf,
    /// False when an existing key file was kept.
    pub secret_key_created: bool,
    /// The PII salt file.
    pub salt_path: PathBuf,
    /// False when an existing salt file was kept.
    pub salt_created: bool,
    /// The copy of the bundled policy (always written).
    pub policy_copy_path: PathBuf,
}

impl AutosetupPlan {
    /// What goes after the e-mail in the credentials file: the generated
    /// password, or [`USER_GENERATED_PASSWORD_MARKER`] when the admin chose
    /// the password (prompt or `AUTHNZERVER_ADMIN_PASSWORD`).
    pub fn credentials_password<'a>(&self, generated: &'a str) -> &'a str {
        if self.admin_password.is_some() {
            USER_GENERATED_PASSWORD_MARKER
        } else {
            generated
        }
    }

    /// The command that starts the server on this base directory.
    pub fn start_command(&self) -> String {
        format!(
            "authnzrv --basedir={}",
            shell_quote(&self.basedir.to_string_lossy())
        )
    }
}

impl fmt::Debug for AutosetupPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutosetupPlan")
            .field("basedir", &self.basedir)
            .field("authdb", &self.authdb)
            .field("authdb_url", &redacted_url(&self.authdb_url))
            .field("authdb_is_default_sqlite", &self.authdb_is_default_sqlite)
            .field("permissions", &self.permissions)
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("env_path", &self.env_path)
            .field("env_backup", &self.env_backup)
            .field("secret_key_path", &self.secret_key_path)
            .field("secret_key_created", &self.secret_key_created)
            .field("salt_path", &self.salt_path)
            .field("salt_created", &self.salt_created)
            .field("policy_copy_path", &self.policy_copy_path)
            .finish()
    }
}

/// Prepares `basedir` with the admin variables and OS user of the real
/// process environment as the seed. See [`prepare_basedir_with`].
pub fn prepare_basedir(
    basedir: &Path,
    interactive: bool,
    prompt: &mut dyn Prompter,
) -> Result<AutosetupPlan, AutosetupError> {
    let seed = AutosetupSeed::from_environment(&Environment::from_process());
    prepare_basedir_with(basedir, &seed, interactive, prompt)
}

/// Creates `basedir` if needed, asks the questions of PROTOCOL.md 7.4 when
/// `interactive` (database URL, policy path, admin e-mail, admin password;
/// the seed supplies the defaults), and writes the secret key, salt, policy
/// copy and `.env`. Nothing is written before all answers are in.
pub fn prepare_basedir_with(
    basedir: &Path,
    seed: &AutosetupSeed,
    interactive: bool,
    prompt: &mut dyn Prompter,
) -> Result<AutosetupPlan, AutosetupError> {
    let basedir = std::path::absolute(basedir)
        .map_err(|e| AutosetupError::io("resolve the base directory", basedir, e))?;
    let answers = Asker {
        prompt,
        interactive,
    }
    .answers(&basedir, seed)?;
    write_files(basedir, answers, seed.os_user.as_deref())
}

/// The answers to the four questions of PROTOCOL.md 7.4, validated.
struct Answers {
    authdb_url: String,
    authdb: DatabaseTarget,
    permissions: PathBuf,
    admin_email: String,
    admin_password: Option<String>,
}

/// Writes the secret key, salt, policy copy and `.env` into `basedir`.
fn write_files(
    basedir: PathBuf,
    answers: Answers,
    os_user: Option<&str>,
) -> Result<AutosetupPlan, AutosetupError> {
    files::create_private_dir_all(&basedir)
        .map_err(|e| AutosetupError::io("create the directory", &basedir, e))?;

    let secret_key_path = basedir.join(SECRET_KEY_FILE);
    let secret_key_created =
        keep_or_create(&secret_key_path, |text| FernetKey::parse(text).map(|_| ()))?;
    let salt_path = basedir.join(SALT_FILE);
    let salt_created = keep_or_create(&salt_path, |text| {
        if text.trim().is_empty() {
            Err("the file is empty".to_owned())
        } else {
            Ok(())
        }
    })?;

    let policy_copy_path = basedir.join(POLICY_FILE);
    files::replace(
        &policy_copy_path,
        DEFAULT_POLICY_JSON.as_bytes(),
        POLICY_FILE_MODE,
    )
    .map_err(|e| AutosetupError::io("write", &policy_copy_path, e))?;

    let env_text = render_env(&EnvValues {
        authdb_url: &answers.authdb_url,
        basedir: utf8_path(&basedir, "the base directory")?,
        permissions: utf8_path(&answers.permissions, "the permissions policy path")?,
        secret_key: utf8_path(&secret_key_path, "the secret key path")?,
        salt: utf8_path(&salt_path, "the salt path")?,
        emailuser: os_user.unwrap_or(""),
    })?;
    let env_path = basedir.join(BASEDIR_ENVFILE);
    let env_backup = back_up_if_different(&env_path, &env_text)?;
    files::replace(&env_path, env_text.as_bytes(), ENV_FILE_MODE)
        .map_err(|e| AutosetupError::io("write", &env_path, e))?;

    let authdb_is_default_sqlite =
        answers.authdb.sqlite_path() == Some(basedir.join(SQLITE_FILE).as_path());
    Ok(AutosetupPlan {
        basedir,
        authdb: answers.authdb,
        authdb_url: answers.authdb_url,
        authdb_is_default_sqlite,
        permissions: answers.permissions,
        admin_email: answers.admin_email,
        admin_password: answers.admin_password,
        env_path,
        env_backup,
        secret_key_path,
        secret_key_created,
        salt_path,
        salt_created,
        policy_copy_path,
    })
}

/// Asks one question at a time, re-asking after an invalid answer.
struct Asker<'a> {
    prompt: &'a mut dyn Prompter,
    interactive: bool,
}

impl Asker<'_> {
    fn note(&mut self, message: &str) -> Result<(), AutosetupError> {
        if self.interactive {
            self.prompt.note(message).map_err(AutosetupError::Prompt)?;
        }
        Ok(())
    }

    /// The validated answer, or the default for an empty answer (and always
    /// when not interactive).
    fn ask<T>(
        &mut self,
        what: &'static str,
        question: &str,
        default: impl Fn() -> Result<T, String>,
        validate: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, AutosetupError> {
        let invalid = |reason| AutosetupError::Invalid { what, reason };
        if !self.interactive {
            return default().map_err(invalid);
        }
        let mut last_error = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let answer = self.prompt.ask(question).map_err(AutosetupError::Prompt)?;
            let result = if answer.trim().is_empty() {
                default()
            } else {
                validate(&answer)
            };
            match result {
                Ok(value) => return Ok(value),
                Err(reason) => {
                    self.note(&format!("That is not usable: {reason}"))?;
                    last_error = reason;
                }
            }
        }
        Err(invalid(last_error))
    }
}

impl Asker<'_> {
    /// Asks the four questions in order (nothing is written yet).
    fn answers(&mut self, basedir: &Path, seed: &AutosetupSeed) -> Result<Answers, AutosetupError> {
        let authdb_url = self.database_url(basedir, seed)?;
        let authdb =
            DatabaseTarget::parse(&authdb_url).map_err(|reason| AutosetupError::Invalid {
                what: "the database URL",
                reason,
            })?;
        Ok(Answers {
            authdb_url,
            authdb,
            permissions: self.permissions(basedir, seed)?,
            admin_email: self.admin_email(seed)?,
            admin_password: self.admin_password(seed)?,
        })
    }

    fn database_url(
        &mut self,
        basedir: &Path,
        seed: &AutosetupSeed,
    ) -> Result<String, AutosetupError> {
        let default_sqlite = basedir.join(SQLITE_FILE);
        let shown_default = match seed.authdb.as_deref() {
            Some(url) => redacted_url(url),
            None => format!("SQLite database {}", default_sqlite.display()),
        };
        self.note(
            "Enter a database URL for the authentication database (SQLAlchemy or sqlx syntax).",
        )?;
        self.ask(
            "the database URL",
            &format!("Database URL [default: {shown_default}]: "),
            || match &seed.authdb {
                Some(url) => Ok(url.trim().to_owned()),
                None => Ok(format!("sqlite:///{}", default_sqlite.to_string_lossy())),
            },
            |answer| {
                DatabaseTarget::parse(answer)?;
                Ok(answer.trim().to_owned())
            },
        )
    }

    fn permissions(
        &mut self,
        basedir: &Path,
        seed: &AutosetupSeed,
    ) -> Result<PathBuf, AutosetupError> {
        let policy_copy_path = basedir.join(POLICY_FILE);
        let shown_default = match &seed.permissions {
            Some(path) => path.display().to_string(),
            None => format!(
                "the bundled policy, copied to {}",
                policy_copy_path.display()
            ),
        };
        self.ask(
            "the permissions policy path",
            &format!("Permissions policy JSON file [default: {shown_default}]: "),
            || match &seed.permissions {
                Some(path) => existing_policy(&path.to_string_lossy()),
                None => Ok(policy_copy_path.clone()),
            },
            existing_policy,
        )
    }

    fn admin_email(&mut self, seed: &AutosetupSeed) -> Result<String, AutosetupError> {
        let default_email = match (&seed.admin_email, &seed.os_user) {
            (Some(email), _) => email.clone(),
            (None, Some(user)) => format!("{user}@localhost"),
            (None, None) => FALLBACK_ADMIN_EMAIL.to_owned(),
        };
        self.ask(
            "the admin e-mail address",
            &format!("Admin e-mail address [default: {default_email}]: "),
            || valid_email(&default_email),
            valid_email,
        )
    }

    /// `None` means "generate one".
    fn admin_password(&mut self, seed: &AutosetupSeed) -> Result<Option<String>, AutosetupError> {
        let mut password = seed.admin_password.clone();
        if self.interactive {
            let answer = self
                .prompt
                .ask_secret(if seed.admin_password.is_some() {
                    "Admin password [default: from AUTHNZERVER_ADMIN_PASSWORD]: "
                } else {
                    "Admin password [default: randomly generated]: "
                })
                .map_err(AutosetupError::Prompt)?;
            if !answer.trim().is_empty() {
                password = Some(answer);
            }
        }
        if password
            .as_deref()
            .is_some_and(|p| p.contains(['\n', '\r']))
        {
            return Err(AutosetupError::Invalid {
                what: "the admin password",
                reason: "contains a line break".to_owned(),
            });
        }
        Ok(password)
    }
}

fn existing_policy(answer: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(answer.trim());
    if !path.is_file() {
        return Err(format!("no such file: {}", path.display()));
    }
    std::path::absolute(&path).map_err(|e| format!("{}: {e}", path.display()))
}

fn valid_email(answer: &str) -> Result<String, String> {
    let email = answer.trim();
    if email.is_empty() || email.chars().any(char::is_whitespace) || !email.contains('@') {
        return Err(format!(
            "expected an e-mail address without spaces, got {email:?}"
        ));
    }
    Ok(email.to_owned())
}

fn utf8_path<'a>(path: &'a Path, what: &'static str) -> Result<&'a str, AutosetupError> {
    path.to_str().ok_or_else(|| AutosetupError::Invalid {
        what,
        reason: format!("{} is not valid UTF-8", path.display()),
    })
}

fn redacted_url(url: &str) -> String {
    DatabaseTarget::parse(url).map_or_else(|_| "<invalid URL>".to_owned(), |t| t.to_string())
}

/// Keeps an existing file that passes `check`, or creates it with a new
/// Fernet key. Returns whether it was created.
fn keep_or_create(
    path: &Path,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<bool, AutosetupError> {
    if !path.exists() {
        let key = generate_fernet_key()?;
        let created = files::create_new(path, key.as_bytes(), SECRET_FILE_MODE)
            .map_err(|e| AutosetupError::io("write", path, e))?;
        if created {
            return Ok(true);
        }
    }
    let existing = |reason: String| AutosetupError::Existing {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| existing(e.to_string()))?;
    check(text.trim_end_matches('\n')).map_err(existing)?;
    Ok(false)
}

/// Moves an existing `.env` whose content differs from `new_text` to
/// `.env.backup-<unix time>`; returns the backup's name.
fn back_up_if_different(
    env_path: &Path,
    new_text: &str,
) -> Result<Option<PathBuf>, AutosetupError> {
    match std::fs::read(env_path) {
        Ok(old) if old == new_text.as_bytes() => return Ok(None),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AutosetupError::io("read", env_path, e)),
    }
    let now = unix_now();
    for n in 0..100u32 {
        let suffix = if n == 0 {
            format!(".backup-{now}")
        } else {
            format!(".backup-{now}-{n}")
        };
        let backup = env_path.with_file_name(format!("{BASEDIR_ENVFILE}{suffix}"));
        if backup.exists() {
            continue;
        }
        std::fs::rename(env_path, &backup)
            .map_err(|e| AutosetupError::io("back up", env_path, e))?;
        return Ok(Some(backup));
    }
    Err(AutosetupError::Invalid {
        what: "the .env backup name",
        reason: "too many backups with the same time stamp".to_owned(),
    })
}

struct EnvValues<'a> {
    authdb_url: &'a str,
    basedir: &'a str,
    permissions: &'a str,
    secret_key: &'a str,
    salt: &'a str,
    emailuser: &'a str,
}

/// The `.env` text: one `KEY=VALUE` line per item in PROTOCOL.md 7.1 table order,
/// `PORT` just before `AUTHNZERVER_PORT`.
fn render_env(values: &EnvValues<'_>) -> Result<String, AutosetupError> {
    let mut out = String::from(
        "# authnzrv settings, written by `authnzrv --autosetup`.\n\
         # Read automatically by `authnzrv --basedir=<this directory>` (or name it\n\
         # with --envfile). INI syntax: KEY=VALUE, write a literal % as %%.\n\
         # Variables in the real environment and command-line options override\n\
         # these values; empty values mean the built-in default.\n",
    );
    for item in ITEMS {
        let value = match item.key {
            k if k == items::AUTHDB.key => values.authdb_url,
            k if k == items::BASEDIR.key => values.basedir,
            k if k == items::PERMISSIONS.key => values.permissions,
            k if k == items::SECRET.key => values.secret_key,
            k if k == items::PIISALT.key => values.salt,
            k if k == items::EMAILUSER.key => values.emailuser,
            _ => match item.default {
                ItemDefault::Literal(value) => value,
                _ => "",
            },
        };
        let escaped = escape_value(value).map_err(|reason| AutosetupError::Invalid {
            what: "a value for .env",
            reason: format!("{}: {reason}", item.env),
        })?;
        if let Some(var) = item.env_override {
            out.push_str(var);
            out.push('=');
            out.push_str(&escaped);
            out.push('\n');
        }
        out.push_str(item.env);
        out.push('=');
        out.push_str(&escaped);
        out.push('\n');
    }
    Ok(out)
}

/// Writes the admin credentials file (PROTOCOL.md 7.5 step 6):
/// `<basedir>/.authnzerver-admin-credentials`, mode 0400, content
/// `<email> <password>\n`; if that file exists,
/// `…-credentials-<unix time>` (then `…-<unix time>-2`, … if needed).
/// Never overwrites a file. Pass [`AutosetupPlan::credentials_password`] or
/// [`USER_GENERATED_PASSWORD_MARKER`] as `password` for a chosen password.
pub fn write_admin_credentials(
    basedir: &Path,
    email: &str,
    password: &str,
) -> Result<PathBuf, AutosetupError> {
    write_admin_credentials_at(basedir, email, password, unix_now())
}

/// [`write_admin_credentials`] with the time stamp given (for tests).
pub fn write_admin_credentials_at(
    basedir: &Path,
    email: &str,
    password: &str,
    unix_time: u64,
) -> Result<PathBuf, AutosetupError> {
    if email.is_empty() || email.chars().any(char::is_whitespace) {
        return Err(AutosetupError::Invalid {
            what: "the admin e-mail address",
            reason: "is empty or contains whitespace".to_owned(),
        });
    }
    if password.contains(['\n', '\r']) {
        return Err(AutosetupError::Invalid {
            what: "the admin password",
            reason: "contains a line break".to_owned(),
        });
    }
    let contents = format!("{email} {password}\n");
    let base = basedir.join(ADMIN_CREDENTIALS_FILE);
    let mut candidates = vec![base.clone()];
    candidates.push(basedir.join(format!("{ADMIN_CREDENTIALS_FILE}-{unix_time}")));
    candidates.extend(
        (2..100).map(|n| basedir.join(format!("{ADMIN_CREDENTIALS_FILE}-{unix_time}-{n}"))),
    );
    for path in candidates {
        if files::create_new(&path, contents.as_bytes(), SECRET_FILE_MODE)
            .map_err(|e| AutosetupError::io("write", &path, e))?
        {
            return Ok(path);
        }
    }
    Err(AutosetupError::Invalid {
        what: "the admin credentials file name",
        reason: format!("{} and its numbered variants all exist", base.display()),
    })
}

/// The login name of the process's real user from the password file, as
/// `getpass.getuser()` falls back to `pwd.getpwuid(os.getuid())` when no
/// login variable is set. The uid comes from `/proc/self/status`; names
/// served only by other NSS sources (LDAP, ...) are not found, and the
/// default admin e-mail is then `serveradmin@localhost`, as upstream's when
/// the lookup fails.
pub fn passwd_login_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    login_name_for_uid(&passwd, &uid)
}

/// The name of the first `/etc/passwd` entry whose uid is `uid`.
fn login_name_for_uid(passwd: &str, uid: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()? == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

fn unix_now() -> u64 {
    // Only names a file; a clock before 1970 gives 0 rather than failing.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Quotes `text` for a POSIX shell when it contains anything unusual.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
