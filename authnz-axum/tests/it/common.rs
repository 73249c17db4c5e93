//! A real authnz server for one test (SQLite in a temp dir, cheap Argon2,
//! the file mailer, rate limits as asked, on `127.0.0.1:0`), a user, and a plain HTTP/1.1 browser that keeps one cookie.

use std::time::Duration;

use authnz_client::{Client, Key};
use authnz_server::app::{AdminSeed, Built, ServerOptions, build, serve};
use authnz_server::ratelimit::RateLimitsConfig;
use tokio::net::TcpListener;

pub const ADMIN_EMAIL: &str = "admin@example.org";
pub const ADMIN_PASSWORD: &str = "axum-Tests-admin-pass-47";

pub struct Server {
    pub url: String,
    pub key: [u8; 32],
    #[allow(dead_code)]
    pub dir: tempfile::TempDir,
    built: Built,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Rate limiting on (so `client_ipaddr` matters) and far out of the way.
fn generous() -> RateLimitsConfig {
    RateLimitsConfig::uniform(1_000_000)
}

impl Server {
    /// A server with generous rate limits.
    pub async fn start() -> Self {
        Self::start_with(Some(generous())).await
    }

    /// A server where `session-new` is limited to `n` per minute per
    /// address (and everything else is generous).
    pub async fn start_session_limit(n: u32) -> Self {
        let mut limits = generous();
        limits.overrides.insert("session-new".into(), n);
        Self::start_with(Some(limits)).await
    }

    /// A server with these rate limits (`None`: off).
    pub async fn start_with(rate_limits: Option<RateLimitsConfig>) -> Self {
        Self::start_with_options(rate_limits, |_| {}).await
    }

    /// A server with the social-login providers of `providers` (a JSON
    /// list, as in `oauthproviders`).
    #[allow(dead_code)]
    pub async fn start_with_oauth(providers: &str) -> Self {
        let providers = authnz_server::oauth::build(
            authnz_server::oauth::parse_providers(providers).expect("provider list parses"),
        )
        .expect("providers build");
        Self::start_with_options(Some(generous()), |o| o.oauth = Some(providers)).await
    }

    /// A server with passkeys on for `origin` (relying party id: its
    /// host).
    #[allow(dead_code)]
    pub async fn start_with_passkeys(origin: &str) -> Self {
        let settings = authnz_server::passkeys::PasskeySettings::from_items("", origin, "")
            .expect("an origin turns passkeys on");
        let rp = authnz_server::passkeys::build(&settings).expect("the relying party builds");
        Self::start_with_options(Some(generous()), |o| o.passkeys = Some(rp)).await
    }

    async fn start_with_options(
        rate_limits: Option<RateLimitsConfig>,
        more: impl FnOnce(&mut ServerOptions),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(13).wrapping_add(5));
        let mut opts = ServerOptions::for_tests(
            format!("sqlite://{}", dir.path().join("authdb.sqlite").display()),
            dir.path(),
            key,
            AdminSeed {
                email: ADMIN_EMAIL.into(),
                password: Some(ADMIN_PASSWORD.into()),
            },
        )
        .expect("test options");
        opts.pii_salt = "axum-test-salt".into();
        opts.rate_limits = rate_limits;
        more(&mut opts);
        let built = build(&opts).await.expect("server builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stop = async {
            let _ = rx.await;
        };
        let task = tokio::spawn(serve(listener, built.state.clone(), stop));
        let url = format!("http://{addr}");
        Self {
            url,
            key,
            dir,
            built,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url, Key::from_bytes(self.key)).expect("client")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.built.store.close().await;
    }
}

pub const USER_EMAIL: &str = "robin@example.org";
pub const USER_NAME: &str = "Robin Frontend";
pub const USER_PASSWORD: &str = "violet-Lantern-orbit-73";
pub const USER_PASSWORD_2: &str = "copper-Meadow-harbor-58";

impl Server {
    /// Sign up and verify an ordinary user (role `authenticated`).
    pub async fn add_user(&self) -> i64 {
        use authnz_client::requests::{UserNew, UserSetEmailverified};
        let c = self.client();
        let created = c
            .user_new(&UserNew {
                full_name: USER_NAME.into(),
                email: USER_EMAIL.into(),
                password: USER_PASSWORD.into(),
                ..Default::default()
            })
            .await
            .expect("user-new");
        c.user_set_emailverified(&UserSetEmailverified {
            email: USER_EMAIL.into(),
        })
        .await
        .expect("verify");
        created.user_id
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// A minimal browser: one cookie (`name=value`), kept from `Set-Cookie`.
#[derive(Debug, Clone)]
pub struct Browser {
    pub addr: std::net::SocketAddr,
    pub cookie_name: String,
    pub cookie: Option<String>,
    pub host: Option<String>,
}

impl Browser {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            addr,
            cookie_name: "authnz_session".into(),
            cookie: None,
            host: None,
        }
    }

    /// The session token the browser holds.
    pub fn token(&self) -> Option<String> {
        self.cookie.clone()
    }

    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        use http_body_util::{BodyExt, Full};
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(
                "host",
                self.host.clone().unwrap_or_else(|| self.addr.to_string()),
            )
            .header("user-agent", "authnz-axum-tests");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("{}={c}", self.cookie_name));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(bytes::Bytes::from(body.to_owned())))
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for c in reply.set_cookies() {
            let first = c.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            if name == self.cookie_name {
                self.cookie =
                    (!value.is_empty() && !c.contains("Max-Age=0")).then(|| value.to_owned());
            }
        }
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], "").await
    }

    /// POST a URL-encoded form.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded(fields);
        self.send(
            "POST",
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            &body,
        )
        .await
    }

    /// The session's CSRF token (from the test app's `/csrf`).
    pub async fn csrf(&mut self) -> String {
        let r = self.get("/csrf").await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    /// POST a form with the session's CSRF token.
    pub async fn post_form_csrf(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let token = self.csrf().await;
        let mut all = fields.to_vec();
        all.push(("_csrf", &token));
        self.post_form(path, &all).await
    }

    /// Sign in through the test app.
    pub async fn login(&mut self, email: &str, password: &str) -> Reply {
        self.post_form_csrf("/login", &[("email", email), ("password", password)])
            .await
    }
}

pub fn form_urlencoded(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
