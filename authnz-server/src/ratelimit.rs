//! The `ratelimits` config item and the limit that applies to each request
//! type (PROTOCOL.md 4.1, with Q-10 decided). Pure parsing and lookup; the request
//! pipeline applies the limits in [`crate::limiter`].
//!
//! Which limit applies to a request of type `T`, first match wins:
//!
//! 1. an explicit per-type override in the config (`user-list:10`): Q-10
//!    decided as the upstream docs promise, so `user-new:50` raises the
//!    built-in `user-new` limit of 5;
//! 2. the built-in aggressive table ([`AGGRESSIVE_LIMITS`]);
//! 3. by prefix: `user-` → `user`, `session-` → `session`, `apikey-` →
//!    `apikey`, `internal-` → 3000 ([`INTERNAL_PER_MINUTE`]), anything else
//!    → `ipaddr`.
//!
//! The burst is the configured `burst`, but for a per-type limit (1 or 2)
//! never more than the limit itself: upstream lets a client make exactly `L`
//! rapid requests of such a type (300 rapid `user-new` → 5 succeed,
//! `user-list:10` → 10 succeed), and a burst of 150 would make the
//! aggressive limits meaningless.

use std::collections::BTreeMap;
use std::fmt;

use authnz_api::RateLimit;

use authnz_proto::python::convert::py_int_text;
use authnz_proto::request::RateFamily;

/// Default requests per minute per request type + client address.
pub const DEFAULT_IPADDR: u32 = 720;
/// Default requests per minute for `user-*` types (and per e-mail address).
pub const DEFAULT_USER: u32 = 480;
/// Default requests per minute for `session-*` types.
pub const DEFAULT_SESSION: u32 = 600;
/// Default requests per minute for `apikey-*` types.
pub const DEFAULT_APIKEY: u32 = 720;
/// Default burst.
pub const DEFAULT_BURST: u32 = 150;
/// Fixed requests per minute for `internal-*` types.
pub const INTERNAL_PER_MINUTE: u32 = 3000;

/// The built-in aggressive per-minute limits of PROTOCOL.md 4.1, from the request
/// table, and the lookup by name.
pub use authnz_proto::request::{AGGRESSIVE_LIMITS, aggressive_limit};

/// Why a `ratelimits` string is invalid (start-up fails, PROTOCOL.md 4.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitsError {
    /// A `;`-separated piece is not `name:integer` (including the empty
    /// piece after a trailing `;`).
    #[error("ratelimits: malformed item {piece:?}: expected name:integer")]
    Malformed {
        /// The piece as written (before removing spaces).
        piece: String,
    },
    /// A piece's value is an integer but not a usable count (negative or
    /// beyond 4294967295).
    #[error("ratelimits: item {piece:?}: value must be from 0 to 4294967295")]
    OutOfRange {
        /// The piece as written (before removing spaces).
        piece: String,
    },
}

/// A parsed `ratelimits` value with rate limiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitsConfig {
    /// `ipaddr`: per minute, request types with no other limit.
    pub ipaddr: u32,
    /// `user`: per minute, `user-*` types and per e-mail address.
    pub user: u32,
    /// `session`: per minute, `session-*` types.
    pub session: u32,
    /// `apikey`: per minute, `apikey-*` types.
    pub apikey: u32,
    /// `burst`: requests allowed back to back.
    pub burst: u32,
    /// Every other name: per-request-type overrides, per minute.
    pub overrides: BTreeMap<String, u32>,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            ipaddr: DEFAULT_IPADDR,
            user: DEFAULT_USER,
            session: DEFAULT_SESSION,
            apikey: DEFAULT_APIKEY,
            burst: DEFAULT_BURST,
            overrides: BTreeMap::new(),
        }
    }
}

/// Where an effective limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// An explicit per-type item of the config.
    Override,
    /// The built-in aggressive table.
    Aggressive,
    /// The `user` item (for `user-*` types and e-mail keys).
    User,
    /// The `session` item.
    Session,
    /// The `apikey` item.
    Apikey,
    /// The fixed limit of `internal-*` types.
    Internal,
    /// The `ipaddr` item.
    Ipaddr,
}

impl fmt::Display for LimitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitSource::Override => "config override",
            LimitSource::Aggressive => "built-in",
            LimitSource::User => "user",
            LimitSource::Session => "session",
            LimitSource::Apikey => "apikey",
            LimitSource::Internal => "internal",
            LimitSource::Ipaddr => "ipaddr",
        })
    }
}

/// A limit and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveLimit {
    /// The limit to apply.
    pub limit: RateLimit,
    /// Why this limit.
    pub source: LimitSource,
}

/// Parses the `ratelimits` config item (PROTOCOL.md 4.1): `None` when rate limiting
/// is off (the trimmed value case-folds to `none`), else the limits.
///
/// The value is split on `;`; in each piece all spaces are removed and the
/// rest must be `name:integer` (Python `int()` forms), or start-up fails
/// naming the piece, so a trailing `;` is an error. Later pieces win over
/// earlier ones with the same name. The names `ipaddr`, `user`, `session`,
/// `apikey` and `burst` set those values (defaults 720, 480, 600, 720, 150);
/// any other name is a per-request-type override. Stricter than upstream: an
/// empty name or a negative value is an error too.
pub fn parse_ratelimits(value: &str) -> Result<Option<RateLimitsConfig>, RateLimitsError> {
    if value.trim().to_lowercase() == "none" {
        return Ok(None);
    }
    let mut config = RateLimitsConfig::default();
    for piece in value.split(';') {
        let compact = piece.replace(' ', "");
        let malformed = || RateLimitsError::Malformed {
            piece: piece.to_owned(),
        };
        let mut parts = compact.split(':');
        let (Some(name), Some(number), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed());
        };
        if name.is_empty() {
            return Err(malformed());
        }
        let number = py_int_text(number).ok_or_else(malformed)?;
        let number = u32::try_from(number).map_err(|_| RateLimitsError::OutOfRange {
            piece: piece.to_owned(),
        })?;
        match name {
            "ipaddr" => config.ipaddr = number,
            "user" => config.user = number,
            "session" => config.session = number,
            "apikey" => config.apikey = number,
            "burst" => config.burst = number,
            _ => {
                config.overrides.insert(name.to_owned(), number);
            }
        }
    }
    Ok(Some(config))
}

impl RateLimitsConfig {
    /// Rate limiting on with every limit, the per-type ones of the
    /// aggressive request types included, set to `per_minute` (also the
    /// burst). Tests use a high value to keep `client_ipaddr` required
    /// while no limit gets in the way.
    pub fn uniform(per_minute: u32) -> Self {
        Self {
            ipaddr: per_minute,
            user: per_minute,
            session: per_minute,
            apikey: per_minute,
            burst: per_minute,
            overrides: authnz_proto::request::AGGRESSIVE_LIMITS
                .iter()
                .map(|(name, _)| ((*name).to_owned(), per_minute))
                .collect(),
        }
    }

    /// A per-type limit: `per_minute` with the burst capped at it.
    fn per_type(&self, per_minute: u32, source: LimitSource) -> EffectiveLimit {
        EffectiveLimit {
            limit: RateLimit::new(per_minute, self.burst.min(per_minute)),
            source,
        }
    }

    /// A prefix default: `per_minute` with the configured burst.
    fn general(&self, per_minute: u32, source: LimitSource) -> EffectiveLimit {
        EffectiveLimit {
            limit: RateLimit::new(per_minute, self.burst),
            source,
        }
    }

    /// The per-type limit of `request_type` (override, then aggressive), if
    /// it has one.
    fn specific(&self, request_type: &str) -> Option<EffectiveLimit> {
        if let Some(&l) = self.overrides.get(request_type) {
            return Some(self.per_type(l, LimitSource::Override));
        }
        aggressive_limit(request_type).map(|l| self.per_type(l, LimitSource::Aggressive))
    }

    /// The limit for requests of `request_type` from one client address
    /// (key: type + address). See the [module docs](self) for the order.
    pub fn limit_for(&self, request_type: &str) -> EffectiveLimit {
        if let Some(l) = self.specific(request_type) {
            return l;
        }
        match RateFamily::of_name(request_type) {
            RateFamily::User => self.general(self.user, LimitSource::User),
            RateFamily::Session => self.general(self.session, LimitSource::Session),
            RateFamily::Apikey => self.general(self.apikey, LimitSource::Apikey),
            RateFamily::Internal => self.general(INTERNAL_PER_MINUTE, LimitSource::Internal),
            RateFamily::Other => self.general(self.ipaddr, LimitSource::Ipaddr),
        }
    }

    /// The limit for requests of `request_type` naming one e-mail address
    /// (key: type + e-mail; types containing `email`, PROTOCOL.md 4.1 step 2): the
    /// per-type limit if any (override, then aggressive), else `user`, with
    /// the burst capped at the limit as upstream counts from the first
    /// request.
    pub fn email_limit_for(&self, request_type: &str) -> EffectiveLimit {
        self.specific(request_type)
            .unwrap_or_else(|| self.per_type(self.user, LimitSource::User))
    }

    /// Every effective limit, for logging at start-up: the per-type ones
    /// (overrides and the aggressive table, sorted by type), then the
    /// prefix defaults as `user-*`, `session-*`, `apikey-*`, `internal-*`
    /// and `*`.
    pub fn effective_limits(&self) -> Vec<(String, EffectiveLimit)> {
        let mut specific: BTreeMap<&str, EffectiveLimit> = BTreeMap::new();
        for (t, _) in AGGRESSIVE_LIMITS {
            if let Some(l) = self.specific(t) {
                specific.insert(t, l);
            }
        }
        for t in self.overrides.keys() {
            if let Some(l) = self.specific(t) {
                specific.insert(t, l);
            }
        }
        let mut out: Vec<(String, EffectiveLimit)> = specific
            .into_iter()
            .map(|(t, l)| (t.to_owned(), l))
            .collect();
        for (pattern, sample) in [
            ("user-*", "user-"),
            ("session-*", "session-"),
            ("apikey-*", "apikey-"),
            ("internal-*", "internal-"),
            ("*", ""),
        ] {
            out.push((pattern.to_owned(), self.limit_for(sample)));
        }
        out
    }

    /// [`Self::effective_limits`] as one line per limit:
    /// `user-new: 5/min, burst 5 (built-in)`.
    pub fn describe(&self) -> Vec<String> {
        self.effective_limits()
            .into_iter()
            .map(|(name, e)| {
                format!(
                    "{name}: {}/min, burst {} ({})",
                    e.limit.per_minute, e.limit.burst, e.source
                )
            })
            .collect()
    }

    /// The one start-up log line (INFO): the prefix limits, the burst and
    /// how many request types have a limit of their own; those are the
    /// lines of [`Self::describe`], logged at DEBUG.
    pub fn summary(&self) -> String {
        let per_type = self
            .effective_limits()
            .iter()
            .filter(|(name, _)| !name.ends_with('*'))
            .count();
        format!(
            "rate limits per minute: ipaddr {}, user {}, session {}, apikey {}, burst {}; \
             {per_type} request types have their own limit (listed at debug level)",
            self.ipaddr, self.user, self.session, self.apikey, self.burst
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RateLimitsConfig {
        parse_ratelimits(s).unwrap().unwrap()
    }

    fn rl(per_minute: u32, burst: u32) -> RateLimit {
        RateLimit::new(per_minute, burst)
    }

    #[test]
    fn none_turns_it_off() {
        for s in ["none", "None", " NONE ", "\tnOnE\n"] {
            assert_eq!(parse_ratelimits(s).unwrap(), None, "{s:?}");
        }
        assert!(parse_ratelimits("nones").is_err());
    }

    #[test]
    fn config_default_parses_to_the_defaults() {
        assert_eq!(
            parse(crate::config::items::DEFAULT_RATELIMITS),
            RateLimitsConfig::default()
        );
        let d = RateLimitsConfig::default();
        assert_eq!(
            (d.ipaddr, d.user, d.session, d.apikey, d.burst),
            (720, 480, 600, 720, 150)
        );
    }

    #[test]
    fn missing_names_take_defaults_and_others_are_overrides() {
        let c =
            parse("ipaddr:300;user:360;session:120;apikey:720;burst:150;user-new:50;user-login:50");
        assert_eq!(
            (c.ipaddr, c.user, c.session, c.apikey, c.burst),
            (300, 360, 120, 720, 150)
        );
        assert_eq!(c.overrides.len(), 2);
        assert_eq!(c.overrides["user-new"], 50);
        let c = parse("user-list:10");
        assert_eq!(c.ipaddr, 720);
        assert_eq!(c.burst, 150);
        assert_eq!(c.overrides["user-list"], 10);
    }

    #[test]
    fn spaces_removed_python_ints_and_last_wins() {
        let c = parse(" ip addr : 1 0 ;burst:+7; user:1_000 ;user:9");
        assert_eq!(c.ipaddr, 10);
        assert_eq!(c.burst, 7);
        assert_eq!(c.user, 9);
        // Names are case-sensitive: this is an override for a type "IPADDR".
        let c = parse("IPADDR:5");
        assert_eq!(c.ipaddr, 720);
        assert_eq!(c.overrides["IPADDR"], 5);
    }

    #[test]
    fn malformed_pieces_are_errors_naming_the_piece() {
        for (s, piece) in [
            ("ipaddr:720;", ""),
            ("", ""),
            ("ipaddr", "ipaddr"),
            ("ipaddr:720; user", " user"),
            ("user:abc", "user:abc"),
            ("user:1.5", "user:1.5"),
            ("user:", "user:"),
            ("user:1:2", "user:1:2"),
            (":5", ":5"),
            ("a:1;;b:2", ""),
        ] {
            assert_eq!(
                parse_ratelimits(s),
                Err(RateLimitsError::Malformed {
                    piece: piece.to_owned()
                }),
                "{s:?}"
            );
        }
        let e = parse_ratelimits("burst:-1").unwrap_err();
        assert_eq!(
            e,
            RateLimitsError::OutOfRange {
                piece: "burst:-1".to_owned()
            }
        );
        assert!(parse_ratelimits("user:99999999999").is_err());
        assert_eq!(
            parse_ratelimits("ipaddr:1;x").unwrap_err().to_string(),
            "ratelimits: malformed item \"x\": expected name:integer"
        );
    }

    #[test]
    fn aggressive_table() {
        assert_eq!(AGGRESSIVE_LIMITS.len(), 18);
        assert_eq!(aggressive_limit("user-new"), Some(5));
        assert_eq!(aggressive_limit("user-sendemail-forgotpass"), Some(2));
        assert_eq!(aggressive_limit("apikey-refresh-nosession"), Some(30));
        assert_eq!(aggressive_limit("user-list"), None);
        let c = RateLimitsConfig::default();
        for (t, l) in AGGRESSIVE_LIMITS {
            assert_eq!(
                c.limit_for(t),
                EffectiveLimit {
                    limit: rl(*l, *l),
                    source: LimitSource::Aggressive
                },
                "{t}"
            );
        }
    }

    #[test]
    fn overrides_win_over_aggressive_q10() {
        let c = parse("user-new:50;user-list:10;session-new:1000");
        assert_eq!(
            c.limit_for("user-new"),
            EffectiveLimit {
                limit: rl(50, 50),
                source: LimitSource::Override
            }
        );
        assert_eq!(c.limit_for("user-list").limit, rl(10, 10));
        // An override above the burst keeps the configured burst.
        assert_eq!(
            c.limit_for("session-new"),
            EffectiveLimit {
                limit: rl(1000, 150),
                source: LimitSource::Override
            }
        );
        // Untouched aggressive types keep theirs.
        assert_eq!(c.limit_for("user-login").limit, rl(10, 10));
        assert_eq!(c.limit_for("user-login").source, LimitSource::Aggressive);
    }

    #[test]
    fn prefix_defaults_with_the_configured_burst() {
        let c = parse("ipaddr:100;user:200;session:300;apikey:400;burst:20");
        let cases = [
            ("user-list", 200, LimitSource::User),
            ("user-check-access", 200, LimitSource::User),
            ("session-new", 300, LimitSource::Session),
            ("session-exists", 300, LimitSource::Session),
            ("apikey-verify", 400, LimitSource::Apikey),
            (
                "internal-user-lock",
                INTERNAL_PER_MINUTE,
                LimitSource::Internal,
            ),
            ("echo", 100, LimitSource::Ipaddr),
            ("no-such-type", 100, LimitSource::Ipaddr),
            ("user", 100, LimitSource::Ipaddr),
            ("", 100, LimitSource::Ipaddr),
        ];
        for (t, per_minute, source) in cases {
            assert_eq!(
                c.limit_for(t),
                EffectiveLimit {
                    limit: rl(per_minute, 20),
                    source
                },
                "{t:?}"
            );
        }
        // Aggressive limits are capped by a small burst too.
        assert_eq!(c.limit_for("apikey-new").limit, rl(30, 20));
    }

    #[test]
    fn email_limits() {
        let c = parse("user:100;user-sendemail-signup:7;user-lookup-email:40");
        assert_eq!(
            c.email_limit_for("user-sendemail-signup"),
            EffectiveLimit {
                limit: rl(7, 7),
                source: LimitSource::Override
            }
        );
        assert_eq!(
            c.email_limit_for("user-sendemail-forgotpass"),
            EffectiveLimit {
                limit: rl(2, 2),
                source: LimitSource::Aggressive
            }
        );
        assert_eq!(c.email_limit_for("user-lookup-email").limit, rl(40, 40));
        assert_eq!(
            c.email_limit_for("user-set-emailverified"),
            EffectiveLimit {
                limit: rl(100, 100),
                source: LimitSource::User
            }
        );
        assert_eq!(
            RateLimitsConfig::default()
                .email_limit_for("user-set-emailverified")
                .limit,
            rl(480, 150)
        );
    }

    #[test]
    fn effective_limits_for_logging() {
        let c = parse("user-new:50;user-list:10;burst:100");
        let all = c.effective_limits();
        // 18 aggressive (one overridden) + 1 other override + 5 patterns.
        assert_eq!(all.len(), 24);
        let find = |n: &str| all.iter().find(|(k, _)| k == n).map(|(_, l)| *l).unwrap();
        assert_eq!(find("user-new").source, LimitSource::Override);
        assert_eq!(find("user-new").limit, rl(50, 50));
        assert_eq!(find("user-list").limit, rl(10, 10));
        assert_eq!(find("user-login").source, LimitSource::Aggressive);
        assert_eq!(find("*").limit, rl(720, 100));
        assert_eq!(find("internal-*").limit, rl(3000, 100));
        assert_eq!(find("session-*").source, LimitSource::Session);
        let names: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            &names[names.len() - 5..],
            &["user-*", "session-*", "apikey-*", "internal-*", "*"]
        );
        let lines = c.describe();
        assert!(lines.contains(&"user-new: 50/min, burst 50 (config override)".to_owned()));
        assert!(lines.contains(&"user-login: 10/min, burst 10 (built-in)".to_owned()));
        assert!(lines.contains(&"*: 720/min, burst 100 (ipaddr)".to_owned()));
    }
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    /// The start-up log says the rate limits in one line, not one per type.
    #[test]
    fn summary_is_one_line_with_the_prefix_limits() {
        let limits = RateLimitsConfig::default();
        let line = limits.summary();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with(
                "rate limits per minute: ipaddr 720, user 480, session 600, apikey 720, burst 150; "
            ),
            "{line}"
        );
        // Every per-type line of `describe` is counted, none is listed.
        let per_type = limits.describe().len() - 5;
        assert!(per_type > 0);
        assert!(
            line.contains(&format!("; {per_type} request types have their own limit")),
            "{line}"
        );
        assert!(!line.contains("user-login"), "{line}");
        let Some(Some(more)) = parse_ratelimits("user-login:3; some-new-type:9").ok() else {
            panic!("parses");
        };
        assert!(
            more.summary()
                .contains(&format!("; {} request types", per_type + 1)),
            "{}",
            more.summary()
        );
    }
}
