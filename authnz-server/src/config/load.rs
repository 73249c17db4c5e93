//! Loading: collects each layer's raw item values, merges them with figment
//! and validates the result into a [`Config`].
//!
//! Layers, lowest precedence first:
//!
//! 1. built-in defaults (spec 7.1);
//! 2. the TOML file named by `--config` (keys are item names);
//! 3. the envfile: `--envfile PATH`, else `<basedir>/.env` if that file
//!    exists, where `basedir` is taken from the layers other than the
//!    envfile (command line, environment, TOML file, current directory);
//! 4. the process environment (`AUTHNZERVER_*`, and `PORT`, which wins over
//!    `AUTHNZERVER_PORT` in the same layer; the envfile follows the same
//!    rule);
//! 5. the command line.
//!
//! This deliberately differs from upstream, where the environment (or the
//! envfile, which *replaces* the environment there) beats the command line:
//! here an option typed on the command line always wins, and an envfile only
//! fills in what the real environment leaves unset. An empty or
//! whitespace-only value in any layer counts as unset, so the next lower
//! layer shows through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::cli::Cli;
use super::database::DatabaseTarget;
use super::envfile::Envfile;
use super::environment::Environment;
use super::error::ConfigError;
use super::items::{self, ITEMS, Item, ItemDefault};
use super::secret::{FernetKey, resolve_file_readable};
use super::settings::{Config, MailerKind, SessionStoreKind, SmtpSecurity};
use super::values;
use crate::serving::HttpLimits;

/// Name of the envfile looked for in `basedir` when `--envfile` is not given.
pub const BASEDIR_ENVFILE: &str = ".env";

/// Longest `sessionexpiry` accepted (days): 100 years keeps date arithmetic
/// far from overflow.
const MAX_SESSIONEXPIRY_DAYS: i64 = 36_500;
/// Longest `userlocktime` accepted (seconds): 100 years.
const MAX_USERLOCKTIME_SECS: u64 = 3_153_600_000;
/// Largest worker pool accepted.
const MAX_WORKERS: u32 = 1024;
/// Longest `redistimeoutms` accepted.
const MAX_REDISTIMEOUT_MS: u64 = 60_000;
/// Longest `dbacquiretimeoutms` and `dbstatementtimeoutms` accepted.
const MAX_DBTIMEOUT_MS: u64 = 600_000;
/// Longest `requestttl` accepted (seconds): a day.
const MAX_REQUESTTTL_SECS: u64 = 86_400;
/// Longest `headertimeout` and `bodytimeout` accepted (seconds).
const MAX_REQUEST_TIMEOUT_SECS: u64 = 3600;
/// Longest `idletimeout` accepted (seconds).
const MAX_IDLETIMEOUT_SECS: u64 = 86_400;
/// Largest `maxconnections` accepted.
const MAX_MAXCONNECTIONS: u32 = 1_000_000;
/// Longest `shutdowntimeout` accepted (seconds).
const MAX_SHUTDOWNTIMEOUT_SECS: u64 = 3600;
/// Longest `emailtimeout` accepted (seconds).
const MAX_EMAILTIMEOUT_SECS: u64 = 600;

/// The mail backends compiled into this binary (Cargo features `file`,
/// `smtp`, `ses`, passed through to `authnz-mail`, which keeps the list).
pub const COMPILED_MAILERS: &[MailerKind] = authnz_mail::COMPILED_BACKENDS;

fn parse_mailer(text: &str) -> Result<MailerKind, String> {
    let kind = MailerKind::parse(text)
        .ok_or_else(|| format!("expected file, smtp or ses, got {text:?}"))?;
    if COMPILED_MAILERS.contains(&kind) {
        return Ok(kind);
    }
    let built: Vec<&str> = COMPILED_MAILERS.iter().map(|k| k.as_str()).collect();
    Err(format!(
        "the {} mailer is not compiled into this authnzrv (built with: {}); \
         rebuild with `cargo build --features {}` or choose another mailer",
        kind.as_str(),
        if built.is_empty() {
            "none".to_owned()
        } else {
            built.join(", ")
        },
        kind.as_str()
    ))
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    let t = text.trim();
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .ok_or_else(|| format!("expected an http:// or https:// URL, got {text:?}"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!(
            "expected an http:// or https:// URL with a host, got {text:?}"
        ));
    }
    Ok(t.to_owned())
}

/// One layer: raw, non-blank values by item key, with a name for messages.
#[derive(Debug, Clone)]
struct Layer {
    name: String,
    values: BTreeMap<&'static str, String>,
}

impl Layer {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            values: BTreeMap::new(),
        }
    }

    /// Records `value` unless it is blank (blank counts as unset).
    fn set(&mut self, item: &Item, value: impl Into<String>) {
        let value = value.into();
        if !value.trim().is_empty() {
            self.values.insert(item.key, value);
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = self
            .values
            .iter()
            .map(|(key, value)| ((*key).to_owned(), Value::from(value.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// The layers other than the envfile, before merging.
#[derive(Debug, Clone)]
struct BaseLayers {
    defaults: Layer,
    toml: Option<Layer>,
    env: [Layer; 2],
    cli: Layer,
}

impl BaseLayers {
    fn collect(cli: &Cli, env: &Environment) -> Result<Self, ConfigError> {
        let toml = cli.config.as_deref().map(toml_layer).transpose()?;
        let env_layers = variables_layers("the environment", |name| {
            Ok(env.get(name).map(str::to_owned))
        })?;
        let mut cli_layer = Layer::new("the command line");
        cli_layer.values.extend(cli.item_values());
        Ok(Self {
            defaults: defaults_layer(env),
            toml,
            env: env_layers,
            cli: cli_layer,
        })
    }

    /// All layers merged, with the envfile's (if any) in its place.
    fn merge(self, envfile: Option<[Layer; 2]>) -> Figment {
        let mut figment = Figment::new().merge(self.defaults);
        if let Some(toml) = self.toml {
            figment = figment.merge(toml);
        }
        if let Some(envfile) = envfile {
            figment = merge_all(figment, envfile);
        }
        merge_all(figment, self.env).merge(self.cli)
    }

    /// `basedir` from every layer but the envfile, else the current directory.
    fn basedir(&self) -> Result<PathBuf, ConfigError> {
        let without_envfile = self.clone().merge(None);
        match string_value(&without_envfile, &items::BASEDIR) {
            Some((dir, _)) if !dir.trim().is_empty() => Ok(PathBuf::from(dir)),
            _ => current_dir(),
        }
    }
}

impl Config {
    /// Loads and validates the configuration from the command line and the
    /// given environment snapshot (see the module doc for the layering).
    pub fn load(cli: &Cli, env: &Environment) -> Result<Self, ConfigError> {
        let layers = BaseLayers::collect(cli, env)?;
        let envfile = match &cli.envfile {
            Some(path) => Some(path.clone()),
            None => {
                let candidate = layers.basedir()?.join(BASEDIR_ENVFILE);
                candidate.is_file().then_some(candidate)
            }
        };
        let envfile_layers = match &envfile {
            Some(path) => {
                let file = Envfile::read(path)?;
                Some(variables_layers(
                    &format!("envfile {}", path.display()),
                    |name| file.get(name),
                )?)
            }
            None => None,
        };
        let merged = layers.merge(envfile_layers);
        Validator {
            figment: &merged,
            env,
        }
        .build(cli.config.clone(), envfile)
    }

    /// The base directory as the loader finds it before reading an envfile:
    /// `--basedir`, else `AUTHNZERVER_BASEDIR`, else `basedir` in the
    /// `--config` file, else the current directory. This is the directory
    /// `--autosetup` prepares and where `.env` is looked for.
    pub fn resolve_basedir(cli: &Cli, env: &Environment) -> Result<PathBuf, ConfigError> {
        BaseLayers::collect(cli, env)?.basedir()
    }

    /// [`Config::load`] with the real process environment.
    pub fn from_process(cli: &Cli) -> Result<Self, ConfigError> {
        Self::load(cli, &Environment::from_process())
    }
}

fn merge_all(figment: Figment, layers: [Layer; 2]) -> Figment {
    layers.into_iter().fold(figment, Figment::merge)
}

fn current_dir() -> Result<PathBuf, ConfigError> {
    std::env::current_dir().map_err(ConfigError::CurrentDir)
}

/// The literal defaults, plus `emailuser` from the OS user. `basedir`
/// (current directory) is filled in only when needed, and `permissions`,
/// `tls_*` stay unset.
fn defaults_layer(env: &Environment) -> Layer {
    let mut layer = Layer::new("the built-in defaults");
    for item in &ITEMS {
        match item.default {
            ItemDefault::Literal(value) => layer.set(item, value),
            ItemDefault::OsUser => {
                if let Some(user) = env.os_user() {
                    layer.set(item, user);
                }
            }
            ItemDefault::Required
            | ItemDefault::CurrentDir
            | ItemDefault::BundledPolicy
            | ItemDefault::Unset => {}
        }
    }
    layer
}

/// A layer of variables (environment or envfile): each item from its
/// `AUTHNZERVER_*` variable. A non-blank override variable (`PORT`) wins; its
/// values go into a second layer named after it, merged just above the
/// first, so that error messages say which variable to fix.
fn variables_layers(
    name: &str,
    mut lookup: impl FnMut(&str) -> Result<Option<String>, ConfigError>,
) -> Result<[Layer; 2], ConfigError> {
    let mut main = Layer::new(name);
    let mut overrides = Layer::new(name);
    for item in &ITEMS {
        if let Some(var) = item.env_override
            && let Some(value) = lookup(var)?.filter(|v| !v.trim().is_empty())
        {
            overrides.name = format!("{name}, variable {var}");
            overrides.set(item, value);
            continue;
        }
        if let Some(value) = lookup(item.env)? {
            main.set(item, value);
        }
    }
    Ok([main, overrides])
}

/// Reads the TOML config file into a layer. Every key must be an item name;
/// values may be strings, integers, floats or booleans (converted to text and
/// validated like any other layer's), and `allowedhosts` may also be an
/// array of host names.
fn toml_layer(path: &Path) -> Result<Layer, ConfigError> {
    use figment::providers::{Format as _, Toml};

    if let Err(source) = std::fs::metadata(path) {
        return Err(ConfigError::Read {
            what: "config file",
            path: path.to_path_buf(),
            source,
        });
    }
    let file_error = |reason: String| ConfigError::ConfigFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut data = Toml::file_exact(path)
        .data()
        .map_err(|e| file_error(e.to_string()))?;
    let dict = data.remove(&Profile::Default).unwrap_or_default();
    let mut layer = Layer::new(format!("config file {}", path.display()));
    for (key, value) in dict {
        let Some(item) = ITEMS.iter().find(|item| item.key == key) else {
            let known: Vec<&str> = ITEMS.iter().map(|item| item.key).collect();
            return Err(file_error(format!(
                "unknown key {key:?}; the keys are the item names: {}",
                known.join(", ")
            )));
        };
        let text = toml_value_text(item, &value).map_err(|reason| ConfigError::Invalid {
            env: item.env,
            reason,
            origin: Some(layer.name.clone()),
        })?;
        layer.set(item, text);
    }
    Ok(layer)
}

fn toml_value_text(item: &Item, value: &Value) -> Result<String, String> {
    match value {
        Value::String(_, s) => Ok(s.clone()),
        Value::Char(_, c) => Ok(c.to_string()),
        Value::Bool(_, b) => Ok(b.to_string()),
        Value::Num(..) => match value.to_i128() {
            Some(n) => Ok(n.to_string()),
            None => Ok(value.to_f64().map(|f| f.to_string()).unwrap_or_default()),
        },
        Value::Array(_, hosts) if item.key == items::ALLOWEDHOSTS.key => hosts
            .iter()
            .map(|host| {
                host.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected an array of host name strings".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|hosts| hosts.join(";")),
        _ => Err("expected a string or a number in the config file".to_owned()),
    }
}

/// The merged string value of `item` and the name of the layer it came from.
fn string_value(figment: &Figment, item: &Item) -> Option<(String, Option<String>)> {
    let value = figment.find_value(item.key).ok()?.into_string()?;
    let origin = figment
        .find_metadata(item.key)
        .map(|metadata| metadata.name.to_string());
    Some((value, origin))
}

/// A raw value of one item together with where it came from.
struct Raw {
    item: &'static Item,
    value: String,
    origin: Option<String>,
}

impl Raw {
    fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            env: self.item.env,
            reason: reason.into(),
            origin: self.origin.clone(),
        }
    }

    fn parse<T>(&self, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        parse(&self.value).map_err(|reason| self.invalid(reason))
    }

    fn int<T>(&self, min: T, max: T) -> Result<T, ConfigError>
    where
        T: Copy + Into<i128> + TryFrom<i128> + std::fmt::Display,
    {
        self.parse(|text| values::parse_int_in(text, min, max))
    }

    fn existing_file(&self) -> Result<PathBuf, ConfigError> {
        let path = PathBuf::from(&self.value);
        if path.is_file() {
            Ok(path)
        } else {
            Err(self.invalid(format!("no such file: {}", path.display())))
        }
    }
}

/// Turns the merged layers into a [`Config`].
struct Validator<'a> {
    figment: &'a Figment,
    env: &'a Environment,
}

impl Validator<'_> {
    fn optional(&self, item: &'static Item) -> Option<Raw> {
        string_value(self.figment, item)
            .filter(|(value, _)| !value.trim().is_empty())
            .map(|(value, origin)| Raw {
                item,
                value,
                origin,
            })
    }

    fn required(&self, item: &'static Item) -> Result<Raw, ConfigError> {
        self.optional(item)
            .ok_or(ConfigError::Missing { env: item.env })
    }

    /// Resolves a file-readable item (spec 7.2) to its final text.
    fn file_readable(
        &self,
        item: &'static Item,
        basedir: &Path,
    ) -> Result<(Raw, String), ConfigError> {
        let raw = self.required(item)?;
        let home = self.env.home_dir();
        let resolved = raw.parse(|value| resolve_file_readable(value, basedir, home.as_deref()))?;
        let text = resolved.value.clone();
        let raw = Raw {
            origin: match (&resolved.file, &raw.origin) {
                (Some(file), Some(origin)) => {
                    Some(format!("file {} named by {origin}", file.display()))
                }
                (Some(file), None) => Some(format!("file {}", file.display())),
                (None, _) => raw.origin.clone(),
            },
            ..raw
        };
        Ok((raw, text))
    }

    fn build(
        &self,
        config_file: Option<PathBuf>,
        envfile: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let allowedhosts = self
            .required(&items::ALLOWEDHOSTS)?
            .parse(values::parse_allowedhosts)?;
        let authdb = self
            .required(&items::AUTHDB)?
            .parse(DatabaseTarget::parse)?;
        let basedir = match self.optional(&items::BASEDIR) {
            Some(raw) => PathBuf::from(raw.value),
            None => current_dir()?,
        };
        let debugmode = self
            .required(&items::DEBUGMODE)?
            .parse(values::parse_debugmode)?;
        let listen = self.required(&items::LISTEN)?.parse(values::parse_listen)?;
        let permissions = self
            .optional(&items::PERMISSIONS)
            .map(|raw| raw.existing_file())
            .transpose()?;
        let port = self.required(&items::PORT)?.int(0u16, u16::MAX)?;

        let (secret_raw, secret_text) = self.file_readable(&items::SECRET, &basedir)?;
        let secret = secret_raw.parse(|_| FernetKey::parse(&secret_text))?;
        let (piisalt_raw, piisalt) = self.file_readable(&items::PIISALT, &basedir)?;
        if piisalt.trim().is_empty() {
            return Err(piisalt_raw.invalid("the salt is empty"));
        }

        let sessionexpiry = self
            .required(&items::SESSIONEXPIRY)?
            .int(0i64, MAX_SESSIONEXPIRY_DAYS)?;
        let userlocktries = self.required(&items::USERLOCKTRIES)?.int(1u32, u32::MAX)?;
        let userlocktime = self
            .required(&items::USERLOCKTIME)?
            .int(0u64, MAX_USERLOCKTIME_SECS)?;
        let passpolicy = self.required(&items::PASSPOLICY)?.value;
        let ratelimits = self.required(&items::RATELIMITS)?.value;
        let workers_raw = self.required(&items::WORKERS)?;
        let workers = usize::try_from(workers_raw.int(1u32, MAX_WORKERS)?)
            .map_err(|_| workers_raw.invalid("too many workers for this platform"))?;
        let emailserver = self.required(&items::EMAILSERVER)?.value;
        let emailport = self.required(&items::EMAILPORT)?.int(1u16, u16::MAX)?;
        let emailuser = self
            .optional(&items::EMAILUSER)
            .map(|raw| raw.value)
            .unwrap_or_default();
        let emailpass = self
            .optional(&items::EMAILPASS)
            .map(|raw| raw.value)
            .unwrap_or_default();
        let emailsender = self.required(&items::EMAILSENDER)?.value;
        let mailer = self.required(&items::MAILER)?.parse(parse_mailer)?;
        let emailtls = self.required(&items::EMAILTLS)?.parse(|text| {
            SmtpSecurity::parse(text)
                .ok_or_else(|| format!("expected starttls, tls or none, got {text:?}"))
        })?;
        let emailcafile = self
            .optional(&items::EMAILCAFILE)
            .map(|raw| raw.existing_file())
            .transpose()?;
        let emailtimeout = Duration::from_secs(
            self.required(&items::EMAILTIMEOUT)?
                .int(1u64, MAX_EMAILTIMEOUT_SECS)?,
        );
        let emailfiledir = basedir.join(
            self.optional(&items::EMAILFILEDIR)
                .map(|raw| PathBuf::from(raw.value.trim()))
                .unwrap_or_else(|| PathBuf::from(items::DEFAULT_EMAILFILEDIR)),
        );
        let sesregion = self
            .optional(&items::SESREGION)
            .map(|raw| raw.value.trim().to_owned());
        let sesendpoint = self
            .optional(&items::SESENDPOINT)
            .map(|raw| raw.parse(parse_endpoint))
            .transpose()?;
        let emailbodyoverrides = self
            .required(&items::EMAILBODYOVERRIDES)?
            .parse(values::parse_debugmode)?;

        let breachcheck = self
            .required(&items::BREACHCHECK)?
            .parse(values::parse_debugmode)?;
        let breachcheckurl_raw = self.required(&items::BREACHCHECKURL)?;
        let breachcheckurl = breachcheckurl_raw.value.trim().to_owned();
        if !(breachcheckurl.starts_with("http://") || breachcheckurl.starts_with("https://")) {
            return Err(breachcheckurl_raw.invalid("not an http:// or https:// URL"));
        }

        let (tls_cert_file, tls_cert_key) = match (
            self.optional(&items::TLS_CERT_FILE),
            self.optional(&items::TLS_CERT_KEY),
        ) {
            (Some(file), Some(key)) => (Some(file.existing_file()?), Some(key.existing_file()?)),
            (None, None) => (None, None),
            (Some(set), None) | (None, Some(set)) => {
                let (missing, present) = if set.item.key == items::TLS_CERT_FILE.key {
                    (&items::TLS_CERT_KEY, &items::TLS_CERT_FILE)
                } else {
                    (&items::TLS_CERT_FILE, &items::TLS_CERT_KEY)
                };
                return Err(ConfigError::Invalid {
                    env: missing.env,
                    reason: format!(
                        "TLS needs both {} and {}, but only {} is set",
                        items::TLS_CERT_FILE.env,
                        items::TLS_CERT_KEY.env,
                        present.env
                    ),
                    origin: set.origin,
                });
            }
        };

        let redis_url = self
            .optional(&items::REDIS_URL)
            .map(|raw| {
                let url = raw.value.trim().to_owned();
                if url.starts_with("redis://")
                    || url.starts_with("rediss://")
                    || url.starts_with("redis+unix://")
                    || url.starts_with("unix://")
                {
                    Ok(url)
                } else {
                    Err(raw.invalid("not a redis://, rediss:// or unix:// URL"))
                }
            })
            .transpose()?;
        let rediscafile = self
            .optional(&items::REDISCAFILE)
            .map(|raw| raw.existing_file())
            .transpose()?;
        let redisprefix = self.required(&items::REDISPREFIX)?.value;
        let redistimeout = Duration::from_millis(
            self.required(&items::REDISTIMEOUTMS)?
                .int(10u64, MAX_REDISTIMEOUT_MS)?,
        );
        let dbacquiretimeout = Duration::from_millis(
            self.required(&items::DBACQUIRETIMEOUTMS)?
                .int(10u64, MAX_DBTIMEOUT_MS)?,
        );
        let dbstatementtimeout = Duration::from_millis(
            self.required(&items::DBSTATEMENTTIMEOUTMS)?
                .int(10u64, MAX_DBTIMEOUT_MS)?,
        );
        let sessionstore_raw = self.required(&items::SESSIONSTORE)?;
        let sessionstore = sessionstore_raw.parse(|text| {
            SessionStoreKind::parse(text)
                .ok_or_else(|| format!("expected sql or redis, got {text:?}"))
        })?;
        if sessionstore == SessionStoreKind::Redis && redis_url.is_none() {
            return Err(sessionstore_raw.invalid(format!(
                "sessions in Redis need {} (--redis-url)",
                items::REDIS_URL.env
            )));
        }
        let requestttl = match self
            .required(&items::REQUESTTTL)?
            .int(0u64, MAX_REQUESTTTL_SECS)?
        {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        };
        let seconds = |item: &'static Item, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(self.required(item)?.int(min, max)?))
        };
        let http_limits = HttpLimits {
            header_timeout: seconds(&items::HEADERTIMEOUT, 1, MAX_REQUEST_TIMEOUT_SECS)?,
            body_timeout: seconds(&items::BODYTIMEOUT, 1, MAX_REQUEST_TIMEOUT_SECS)?,
            idle_timeout: seconds(&items::IDLETIMEOUT, 1, MAX_IDLETIMEOUT_SECS)?,
            max_connections: self
                .required(&items::MAXCONNECTIONS)?
                .int(1u32, MAX_MAXCONNECTIONS)? as usize,
            shutdown_timeout: seconds(&items::SHUTDOWNTIMEOUT, 0, MAX_SHUTDOWNTIMEOUT_SECS)?,
        };

        Ok(Config {
            allowedhosts,
            authdb,
            basedir,
            debugmode,
            listen,
            permissions,
            port,
            secret,
            piisalt,
            sessionexpiry,
            userlocktries,
            userlocktime,
            passpolicy,
            ratelimits,
            workers,
            emailserver,
            emailport,
            emailuser,
            emailpass,
            emailsender,
            mailer,
            emailtls,
            emailcafile,
            emailtimeout,
            emailfiledir,
            sesregion,
            sesendpoint,
            emailbodyoverrides,
            tls_cert_file,
            tls_cert_key,
            breachcheck,
            breachcheckurl,
            redis_url,
            rediscafile,
            redisprefix,
            redistimeout,
            sessionstore,
            dbacquiretimeout,
            dbstatementtimeout,
            requestttl,
            http_limits,
            config_file,
            envfile,
        })
    }
}
