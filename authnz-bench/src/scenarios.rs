//! The scenarios and how their requests are prepared.
//!
//! Every request is built and encrypted before the timed phase: a fresh
//! `reqid` and a fresh Fernet token (new IV) each, so neither server can
//! short-cut repeated bodies and the generator spends its time on I/O only.
//! Scenarios that need state (valid session tokens, one anonymous session per
//! login, a verified and logged-in user with an API key) create it through
//! the protocol in an untimed set-up phase.
//!
//! A scenario whose request type a server lacks (the original 0.1.3 has no
//! `apikey-*-nosession` requests) is reported for that server by
//! [`Scenario::unavailable`] instead of run; adding a scenario is a new arm
//! in [`Scenario::plan`].

use std::sync::atomic::{AtomicU64, Ordering};

use authnz_proto::codec::Codec;
use serde_json::{Value, json};

use crate::client::post_request;
use crate::load::Class;
use crate::servers::{Kind, Server};

/// Requests per second no server is expected to exceed per connection class;
/// sizes the pre-built request lists (a run that exhausts one stops early and
/// says so).
const CHEAP_CAP_AUTHNZ: f64 = 40_000.0;
const CHEAP_CAP_ORIGINAL: f64 = 4_000.0;
const ARGON2_CAP: f64 = 40.0;

/// Connections for Argon2-bound classes: enough to keep a 4-permit hash
/// pool busy; more only lengthens queues.
pub const ARGON2_CONNECTIONS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    SessionNew,
    SessionExists,
    UserLogin,
    UserNew,
    Mixed,
    ApikeyVerifyNosession,
    UserCheckAccess,
}

/// A scenario's traffic classes, with their set-up needs.
#[derive(Debug, Clone, Copy)]
pub struct ClassPlan {
    pub name: &'static str,
    pub kind: RequestKind,
    pub connections: usize,
    pub cap_per_sec: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    SessionNew,
    SessionExists,
    UserLogin,
    UserNew,
    ApikeyVerifyNosession,
    UserCheckAccess,
}

impl RequestKind {
    /// Whether the requests act as a verified, logged-in user ([`Principal`]).
    pub fn needs_principal(self) -> bool {
        matches!(
            self,
            RequestKind::ApikeyVerifyNosession | RequestKind::UserCheckAccess
        )
    }
}

/// A verified user as a frontend knows it after login: the `user_id` and
/// `user_role` of its session's `session_info`.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub user_role: String,
}

/// What the API-key and access scenarios act with, made in the set-up phase.
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    pub principal: Option<Principal>,
    /// The claims of a no-session API key, parsed from the JSON string that
    /// `apikey-new-nosession` returned (what a frontend keeps and, on later
    /// use, sends back as `apikey_dict`).
    pub apikey_dict: Option<Value>,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::SessionNew,
        Scenario::SessionExists,
        Scenario::UserLogin,
        Scenario::UserNew,
        Scenario::Mixed,
        Scenario::ApikeyVerifyNosession,
        Scenario::UserCheckAccess,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::SessionNew => "session-new",
            Scenario::SessionExists => "session-exists",
            Scenario::UserLogin => "user-login",
            Scenario::UserNew => "user-new",
            Scenario::Mixed => "mixed",
            Scenario::ApikeyVerifyNosession => "apikey-verify-nosession",
            Scenario::UserCheckAccess => "user-check-access",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Why the scenario cannot run against `kind` yet, if it cannot.
    pub fn unavailable(self, kind: Kind) -> Option<&'static str> {
        match (self, kind) {
            // 0.1.3 maps only `apikey-new` and `apikey-verify` (its
            // `handlers.request_functions`); it has `user-check-access`.
            (Scenario::ApikeyVerifyNosession, Kind::Original) => {
                Some("n/a — request type missing upstream")
            }
            _ => None,
        }
    }

    /// The traffic classes of the scenario at `connections` connections.
    pub fn plan(self, kind: Kind, connections: usize) -> Vec<ClassPlan> {
        let cheap_cap = match kind {
            Kind::Authnz => CHEAP_CAP_AUTHNZ,
            Kind::Original => CHEAP_CAP_ORIGINAL,
        };
        let argon2 = ARGON2_CONNECTIONS.min(connections);
        let class = |name, kind, connections, cap_per_sec| ClassPlan {
            name,
            kind,
            connections,
            cap_per_sec,
        };
        match self {
            // Every visitor's first request: one insert each.
            Scenario::SessionNew => vec![class(
                "session-new",
                RequestKind::SessionNew,
                connections,
                cheap_cap,
            )],
            Scenario::SessionExists => vec![class(
                "session-exists",
                RequestKind::SessionExists,
                connections,
                cheap_cap,
            )],
            Scenario::UserLogin => vec![class(
                "user-login",
                RequestKind::UserLogin,
                argon2,
                ARGON2_CAP,
            )],
            Scenario::UserNew => {
                vec![class("user-new", RequestKind::UserNew, argon2, ARGON2_CAP)]
            }
            // A frontend: mostly session checks, with logins and sign-ups
            // on their own few connections so they keep the hash pool busy
            // while the session checks' latency is measured separately.
            Scenario::Mixed => {
                let slow = (connections / 16).max(1);
                vec![
                    class(
                        "mixed: session-exists",
                        RequestKind::SessionExists,
                        connections.saturating_sub(2 * slow).max(1),
                        cheap_cap,
                    ),
                    class(
                        "mixed: user-login",
                        RequestKind::UserLogin,
                        slow,
                        ARGON2_CAP,
                    ),
                    class("mixed: user-new", RequestKind::UserNew, slow, ARGON2_CAP),
                ]
            }
            // A frontend's server-side check of a key its client presented:
            // one indexed lookup plus the access check (no hashing).
            Scenario::ApikeyVerifyNosession => vec![class(
                "apikey-verify-nosession",
                RequestKind::ApikeyVerifyNosession,
                connections,
                cheap_cap,
            )],
            Scenario::UserCheckAccess => vec![class(
                "user-check-access",
                RequestKind::UserCheckAccess,
                connections,
                cheap_cap,
            )],
        }
    }
}

/// Builds unique, encrypted requests for one server.
#[derive(Debug)]
pub struct Builder<'a> {
    codec: &'a Codec,
    port: u16,
    kind: Kind,
    run_id: String,
    counter: AtomicU64,
}

impl<'a> Builder<'a> {
    pub fn new(server: &'a Server, run_id: &str) -> Self {
        Self {
            codec: &server.codec,
            port: server.port(),
            kind: server.kind,
            run_id: run_id.to_owned(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// One encrypted `POST /` request.
    pub fn request(&self, request: &str, mut body: Value) -> Vec<u8> {
        let n = self.next();
        if let Value::Object(map) = &mut body {
            map.insert("client_ipaddr".into(), json!("127.0.0.1"));
        }
        let object = json!({
            "request": request,
            "body": body,
            "reqid": format!("{}-{n}", self.run_id),
            "client_ipaddr": "127.0.0.1",
        });
        post_request(self.port, &self.codec.seal(&object))
    }

    pub fn session_new(&self) -> Vec<u8> {
        self.session_new_for(None)
    }

    /// A session of `user_id` (`None`: an anonymous visitor's).
    pub fn session_new_for(&self, user_id: Option<i64>) -> Vec<u8> {
        self.request(
            "session-new",
            json!({
                "ip_address": "127.0.0.1",
                "user_agent": "authnz-bench",
                "user_id": user_id,
                "expires": "2099-01-01T00:00:00.000000",
                "extra_info_json": null,
            }),
        )
    }

    pub fn session_exists(&self, token: &str) -> Vec<u8> {
        self.request("session-exists", json!({ "session_token": token }))
    }

    pub fn user_login(&self, token: &str, email: &str, password: &str) -> Vec<u8> {
        self.request(
            "user-login",
            json!({ "session_token": token, "email": email, "password": password }),
        )
    }

    /// A sign-up with a unique e-mail address and a password the policy
    /// accepts (long, random, unlike the name and address).
    pub fn user_new(&self) -> Vec<u8> {
        let (email, password) = self.new_credentials();
        self.user_new_with(&email, &password)
    }

    /// A unique e-mail address and a password the policy accepts.
    pub fn new_credentials(&self) -> (String, String) {
        let n = self.next();
        let email = format!("signup-{}-{n}@authnz-bench.org", self.run_id);
        let password = format!("Zq8-{}-vT{n}-Lm4-{}", random_word(), random_word());
        (email, password)
    }

    pub fn user_new_with(&self, email: &str, password: &str) -> Vec<u8> {
        self.request(
            "user-new",
            json!({ "full_name": "Bench Signup", "email": email, "password": password }),
        )
    }

    /// Mark a sign-up's address verified (the original 0.1.3 names this
    /// request `user-verify-emailaddr`).
    pub fn user_set_emailverified(&self, email: &str) -> Vec<u8> {
        let request = match self.kind {
            Kind::Authnz => "user-set-emailverified",
            Kind::Original => "user-verify-emailaddr",
        };
        self.request(request, json!({ "email": email }))
    }

    /// A no-session API key for `p` (PROTOCOL.md 3.6), valid for a day.
    pub fn apikey_new_nosession(&self, p: &Principal) -> Vec<u8> {
        self.request(
            "apikey-new-nosession",
            json!({
                "issuer": "authnz-bench",
                "audience": "bench-api",
                "subject": "/bench",
                "apiversion": 1,
                "expires_seconds": 86_400,
                "not_valid_before": 0,
                "user_id": p.user_id,
                "user_role": p.user_role,
                "ip_address": "127.0.0.1",
                "refresh_expires": 86_400,
                "refresh_nbf": 0,
            }),
        )
    }

    /// `p` presents its key's decoded claims for a server-side check.
    pub fn apikey_verify_nosession(&self, p: &Principal, apikey_dict: &Value) -> Vec<u8> {
        self.request(
            "apikey-verify-nosession",
            json!({
                "apikey_dict": apikey_dict,
                "user_id": p.user_id,
                "user_role": p.user_role,
            }),
        )
    }

    /// Access check `i` of [`ACCESS_CHECKS`] for `p`: all granted under the
    /// default policy of both servers, so every reply is `success: true`.
    pub fn user_check_access(&self, p: &Principal, i: usize) -> Vec<u8> {
        let (action, owner, visibility, shared) = ACCESS_CHECKS[i % ACCESS_CHECKS.len()];
        let owner = owner.unwrap_or(p.user_id);
        let shared = if shared {
            p.user_id.to_string()
        } else {
            String::new()
        };
        self.request(
            "user-check-access",
            json!({
                "user_id": p.user_id,
                "user_role": p.user_role,
                "action": action,
                "target_name": "dataset",
                "target_owner": owner,
                "target_visibility": visibility,
                "target_sharedwith": shared,
            }),
        )
    }
}

/// The access checks `user-check-access` cycles through, as (action, owner,
/// visibility, shared with the caller): the caller's own private dataset,
/// and the superuser's (user 1) public and shared ones, so the look-ups cover
/// one and two users. `None` as owner is the caller.
const ACCESS_CHECKS: [(&str, Option<i64>, &str, bool); 4] = [
    ("view", None, "private", false),
    ("edit", None, "private", false),
    ("view", Some(1), "public", false),
    ("edit", Some(1), "shared", true),
];

/// 12 random lower-case letters (for passwords and run ids).
pub fn random_word() -> String {
    let mut bytes = [0u8; 12];
    // The OS random source failing is not something a bench can work around;
    // a fixed word then only makes passwords less unique, not wrong.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| char::from(b'a' + b % 26)).collect()
}

/// The session token of a `session-new` reply.
pub fn session_token(reply: &Value) -> Option<String> {
    reply
        .get("response")
        .and_then(|r| r.get("session_token"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Prepare a class: `count` requests, drawing on `tokens` (valid sessions
/// for session checks), `login_tokens` (one fresh session per login,
/// consumed from the front) and `fixtures` (the user and API key the
/// API-key and access checks act with; without them those classes are empty).
pub fn prepare(
    b: &Builder<'_>,
    plan: &ClassPlan,
    count: usize,
    server: &Server,
    tokens: &[String],
    login_tokens: &mut Vec<String>,
    fixtures: &Fixtures,
) -> Class {
    let requests = match plan.kind {
        RequestKind::SessionNew => (0..count).map(|_| b.session_new()).collect(),
        RequestKind::SessionExists => (0..count)
            .filter_map(|i| tokens.get(i % tokens.len().max(1)))
            .map(|t| b.session_exists(t))
            .collect(),
        RequestKind::UserLogin => {
            let take = count.min(login_tokens.len());
            login_tokens
                .drain(..take)
                .map(|t| b.user_login(&t, &server.admin_email, &server.admin_password))
                .collect()
        }
        RequestKind::UserNew => (0..count).map(|_| b.user_new()).collect(),
        RequestKind::ApikeyVerifyNosession => match (&fixtures.principal, &fixtures.apikey_dict) {
            (Some(p), Some(key)) => (0..count)
                .map(|_| b.apikey_verify_nosession(p, key))
                .collect(),
            _ => Vec::new(),
        },
        RequestKind::UserCheckAccess => match &fixtures.principal {
            Some(p) => (0..count).map(|i| b.user_check_access(p, i)).collect(),
            None => Vec::new(),
        },
    };
    Class {
        name: plan.name.to_owned(),
        connections: plan.connections,
        requests,
    }
}
