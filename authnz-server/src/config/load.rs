//! Loading: collects each layer's raw item values, merges them with figment
//! and validates the result into a [`Config`].
//!
//! Layers, lowest precedence first:
//!
//! 1. built-in defaults (PROTOCOL.md 7.1);
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
use super::envfile::Envfile;
use super::environment::Environment;
use super::error::ConfigError;
use super::items::{self, ITEMS, Item, ItemDefault, Kind};
use super::secret::{FernetKey, resolve_file_readable};
use super::settings::{Config, LogFormat, MailerKind, SessionStoreKind, SmtpSecurity};
use super::values::{self, ItemValue, ItemValues};
use crate::serving::HttpLimits;
use authnz_core::passwords::HashParams;

/// Name of the envfile looked for in `basedir` when `--envfile` is not given.
pub const BASEDIR_ENVFILE: &str = ".env";

/// The mail backends compiled into this binary (Cargo features `file`,
/// `smtp`, `ses`, passed through to `authnz-mail`, which keeps the list).
pub const COMPILED_MAILERS: &[MailerKind] = authnz_mail::COMPILED_BACKENDS;

/// The `mailer` choice must be compiled in.
fn check_mailer_compiled(word: &str) -> Result<MailerKind, String> {
    let kind = MailerKind::parse(word)
        .ok_or_else(|| format!("expected file, smtp or ses, got {word:?}"))?;
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

    /// What to tell someone who started `authnzrv` with nothing configured:
    /// when loading failed for a missing item and there is no `--config`
    /// file, no `--envfile` and no `.env` in the base directory, the advice
    /// to run `authnzrv --autosetup` (with the same `--basedir`). `None`
    /// otherwise (the error alone says what to fix).
    pub fn setup_hint(cli: &Cli, env: &Environment, error: &ConfigError) -> Option<String> {
        if !matches!(error, ConfigError::Missing { .. })
            || cli.config.is_some()
            || cli.envfile.is_some()
        {
            return None;
        }
        let basedir = Self::resolve_basedir(cli, env).ok()?;
        if basedir.join(BASEDIR_ENVFILE).is_file() {
            return None;
        }
        let basedir_option = match cli.item(&items::BASEDIR) {
            Some(dir) if !dir.trim().is_empty() => format!(" --basedir {dir}"),
            _ => String::new(),
        };
        Some(format!(
            "No configuration found: no {BASEDIR_ENVFILE} in {}, no --config or --envfile. \
             To set up this directory (secret key, salt, SQLite database, admin account, {BASEDIR_ENVFILE}), \
             run `authnzrv --autosetup{basedir_option}`, then start `authnzrv{basedir_option}` again. \
             `authnzrv --help` lists every item.",
            basedir.display()
        ))
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
    for item in ITEMS {
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
    for item in ITEMS {
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

    /// Resolves a file-readable item (PROTOCOL.md 7.2) to its final text.
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

    /// Every item's value parsed by its kind, in table order: the first
    /// missing required item or unusable value stops loading.
    fn parse_all(&self, basedir: &Path) -> Result<ItemValues, ConfigError> {
        let mut parsed = ItemValues::default();
        for item in ITEMS {
            let raw = match self.optional(item) {
                Some(raw) => raw,
                None if item.default == ItemDefault::Required => {
                    return Err(ConfigError::Missing { env: item.env });
                }
                None => continue,
            };
            let (raw, value) = if item.kind == Kind::FileReadableSecret {
                let (raw, text) = self.file_readable(item, basedir)?;
                (raw, ItemValue::Secret(text))
            } else {
                let value = raw.parse(|text| values::parse_kind(item.kind, text))?;
                (raw, value)
            };
            parsed.insert(item, value, raw.origin);
        }
        Ok(parsed)
    }

    fn build(
        &self,
        config_file: Option<PathBuf>,
        envfile: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let basedir = match self.optional(&items::BASEDIR) {
            Some(raw) => PathBuf::from(raw.value),
            None => current_dir()?,
        };
        let v = Typed {
            values: self.parse_all(&basedir)?,
        };

        let allowedhosts = match v.values.get(&items::ALLOWEDHOSTS) {
            Some(ItemValue::Hosts(hosts)) => hosts.clone(),
            _ => return Err(v.kind_mismatch(&items::ALLOWEDHOSTS)),
        };
        let authdb = match v.values.get(&items::AUTHDB) {
            Some(ItemValue::Database(target)) => target.clone(),
            _ => return Err(v.kind_mismatch(&items::AUTHDB)),
        };
        let authdb_display = self
            .optional(&items::AUTHDB)
            .map(|raw| redacted_database_url(raw.value.trim()))
            .unwrap_or_default();
        let debugmode = v.flag(&items::DEBUGMODE)?;
        let listen = v.text(&items::LISTEN)?;
        let permissions = v.values.path(&items::PERMISSIONS).map(Path::to_path_buf);
        let port = v.int(&items::PORT)?;

        let secret_text = v.text(&items::SECRET)?;
        let secret =
            FernetKey::parse(&secret_text).map_err(|reason| v.invalid(&items::SECRET, reason))?;
        let piisalt = v.text(&items::PIISALT)?;
        if piisalt.trim().is_empty() {
            return Err(v.invalid(&items::PIISALT, "the salt is empty"));
        }

        let sessionexpiry = v.int(&items::SESSIONEXPIRY)?;
        let userlocktries = v.int(&items::USERLOCKTRIES)?;
        let userlocktime = v.int(&items::USERLOCKTIME)?;
        let passpolicy = v.text(&items::PASSPOLICY)?;
        let ratelimits = v.text(&items::RATELIMITS)?;
        let workers = v.int(&items::WORKERS)?;
        let emailserver = v.text(&items::EMAILSERVER)?;
        let emailport = v.int(&items::EMAILPORT)?;
        let emailuser = v
            .values
            .text(&items::EMAILUSER)
            .unwrap_or_default()
            .to_owned();
        let emailpass = v
            .values
            .text(&items::EMAILPASS)
            .unwrap_or_default()
            .to_owned();
        let emailsender = v.text(&items::EMAILSENDER)?;
        let mailer = check_mailer_compiled(&v.text(&items::MAILER)?)
            .map_err(|reason| v.invalid(&items::MAILER, reason))?;
        let emailtls = SmtpSecurity::parse(&v.text(&items::EMAILTLS)?)
            .ok_or_else(|| v.kind_mismatch(&items::EMAILTLS))?;
        let emailcafile = v.values.path(&items::EMAILCAFILE).map(Path::to_path_buf);
        let emailtimeout = v.duration(&items::EMAILTIMEOUT)?;
        let emailfiledir = basedir.join(
            self.optional(&items::EMAILFILEDIR)
                .map(|raw| PathBuf::from(raw.value.trim()))
                .unwrap_or_else(|| PathBuf::from(items::DEFAULT_EMAILFILEDIR)),
        );
        let sesregion = v
            .values
            .text(&items::SESREGION)
            .map(|region| region.trim().to_owned());
        let sesendpoint = v.values.text(&items::SESENDPOINT).map(str::to_owned);
        let emailbodyoverrides = v.flag(&items::EMAILBODYOVERRIDES)?;

        let breachcheck = v.flag(&items::BREACHCHECK)?;
        let breachcheckurl = v.text(&items::BREACHCHECKURL)?;

        let (tls_cert_file, tls_cert_key) = match (
            v.values.path(&items::TLS_CERT_FILE),
            v.values.path(&items::TLS_CERT_KEY),
        ) {
            (Some(file), Some(key)) => (Some(file.to_path_buf()), Some(key.to_path_buf())),
            (None, None) => (None, None),
            (Some(_), None) | (None, Some(_)) => {
                let (missing, present) = if v.values.get(&items::TLS_CERT_FILE).is_some() {
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
                    origin: v.values.origin(present).map(str::to_owned),
                });
            }
        };

        let redis_url = v.values.text(&items::REDIS_URL).map(str::to_owned);
        let rediscafile = v.values.path(&items::REDISCAFILE).map(Path::to_path_buf);
        let redisprefix = v.text(&items::REDISPREFIX)?;
        let redistimeout = v.duration(&items::REDISTIMEOUTMS)?;
        let dbacquiretimeout = v.duration(&items::DBACQUIRETIMEOUTMS)?;
        let dbstatementtimeout = v.duration(&items::DBSTATEMENTTIMEOUTMS)?;
        let sessionstore = SessionStoreKind::parse(&v.text(&items::SESSIONSTORE)?)
            .ok_or_else(|| v.kind_mismatch(&items::SESSIONSTORE))?;
        if sessionstore == SessionStoreKind::Redis && redis_url.is_none() {
            return Err(v.invalid(
                &items::SESSIONSTORE,
                format!(
                    "sessions in Redis need {} (--redis-url)",
                    items::REDIS_URL.env
                ),
            ));
        }
        let requestttl = Some(v.duration(&items::REQUESTTTL)?).filter(|ttl| !ttl.is_zero());
        let http_limits = HttpLimits {
            header_timeout: v.duration(&items::HEADERTIMEOUT)?,
            body_timeout: v.duration(&items::BODYTIMEOUT)?,
            idle_timeout: v.duration(&items::IDLETIMEOUT)?,
            max_connections: v.int(&items::MAXCONNECTIONS)?,
            shutdown_timeout: v.duration(&items::SHUTDOWNTIMEOUT)?,
        };

        let hash_params = HashParams {
            m_cost_kib: v.int(&items::ARGON2MEMORY)?,
            t_cost: v.int(&items::ARGON2TIME)?,
            p_cost: v.int(&items::ARGON2PARALLELISM)?,
            ..HashParams::default()
        };
        // Argon2 needs at least 8 KiB per lane.
        if u64::from(hash_params.m_cost_kib) < 8 * u64::from(hash_params.p_cost) {
            return Err(v.invalid(
                &items::ARGON2MEMORY,
                format!(
                    "Argon2 needs at least 8 KiB per lane: {} KiB is too little for {} = {}",
                    hash_params.m_cost_kib,
                    items::ARGON2PARALLELISM.env,
                    hash_params.p_cost
                ),
            ));
        }
        let logformat = LogFormat::parse(&v.text(&items::LOGFORMAT)?)
            .ok_or_else(|| v.kind_mismatch(&items::LOGFORMAT))?;

        Ok(Config {
            allowedhosts,
            authdb,
            authdb_display,
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
            hash_params,
            logformat,
            config_file,
            envfile,
            values: v.values,
        })
    }
}

/// The parsed values, read by type; a value of the wrong kind (an item
/// table mistake, caught by the table tests) is an error, never a panic.
struct Typed {
    values: ItemValues,
}

impl Typed {
    fn invalid(&self, item: &'static Item, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            env: item.env,
            reason: reason.into(),
            origin: self.values.origin(item).map(str::to_owned),
        }
    }

    fn kind_mismatch(&self, item: &'static Item) -> ConfigError {
        match self.values.get(item) {
            None => ConfigError::Missing { env: item.env },
            Some(_) => self.invalid(item, "the value does not fit the item's kind"),
        }
    }

    fn text(&self, item: &'static Item) -> Result<String, ConfigError> {
        self.values
            .text(item)
            .map(str::to_owned)
            .ok_or_else(|| self.kind_mismatch(item))
    }

    fn flag(&self, item: &'static Item) -> Result<bool, ConfigError> {
        self.values
            .flag(item)
            .ok_or_else(|| self.kind_mismatch(item))
    }

    fn duration(&self, item: &'static Item) -> Result<Duration, ConfigError> {
        self.values
            .duration(item)
            .ok_or_else(|| self.kind_mismatch(item))
    }

    /// An integer item in the type the server uses (its range, checked by
    /// the kind, fits).
    fn int<T: TryFrom<i64>>(&self, item: &'static Item) -> Result<T, ConfigError> {
        let n = self
            .values
            .int(item)
            .ok_or_else(|| self.kind_mismatch(item))?;
        T::try_from(n)
            .map_err(|_| self.invalid(item, format!("{n} is too large for this platform")))
    }
}

/// A database URL as configured (the form auto-setup writes into `.env`),
/// with the password of a server URL replaced by `***`, for logs.
pub fn redacted_database_url(url: &str) -> String {
    super::database::redact(url)
}
