//! The webhook delivery worker (not upstream): drains the outbox that the
//! audit writer fills (see [`authnz_core::webhooks`] for the format and
//! [`authnz_api::webhooks`] for the outbox).
//!
//! Every [`WebhookSettings::poll`] it claims up to
//! [`WebhookSettings::concurrency`] due deliveries (a lease of the timeout
//! plus a margin, so with several instances each delivery is attempted by
//! one of them), POSTs them at once, each bounded by the timeout, and
//! records the outcome: a 2xx answer deletes the row; anything else
//! (another status, a refused or closed connection, the timeout) counts a
//! failure and sets the next attempt with exponential back-off and jitter,
//! or parks the row after [`WebhookSettings::attempts`] failures. A worker
//! stopped mid-delivery leaves its rows claimed until their lease ends;
//! then any instance (this one restarted) claims them again: at least once.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{Clock, Delivery, WEBHOOK_ERROR_MAX, WebhookStore};
use authnz_core::webhooks::Webhooks;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng as _;
use tokio_rustls::rustls;

/// The metric counting delivered webhooks.
pub const DELIVERED_METRIC: &str = "authnz_webhooks_delivered_total";
/// The metric counting failed attempts.
pub const FAILED_METRIC: &str = "authnz_webhooks_failed_attempts_total";

/// How deliveries are attempted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookSettings {
    /// Failed attempts before a delivery is parked (`webhookattempts`).
    pub attempts: u32,
    /// Longest one attempt may take, connecting included (`webhooktimeout`).
    pub timeout: Duration,
    /// Deliveries attempted at once by one instance.
    pub concurrency: u32,
    /// The pause after the first failure; doubled for each further one.
    pub backoff: Duration,
    /// How often the outbox is looked at.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            attempts: 8,
            timeout: Duration::from_secs(10),
            concurrency: 8,
            backoff: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The worker's state.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Arc<dyn WebhookStore>,
    webhooks: Arc<Webhooks>,
    settings: WebhookSettings,
    clock: Arc<dyn Clock>,
    client: HttpClient,
}

impl Worker {
    /// A worker over `store`. Errors only if TLS cannot be set up.
    pub fn new(
        store: Arc<dyn WebhookStore>,
        webhooks: Arc<Webhooks>,
        settings: WebhookSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider)?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(settings.timeout));
        http.enforce_http(false);
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        Ok(Self {
            store,
            webhooks,
            settings,
            clock,
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(connector),
        })
    }

    /// Run on the current runtime until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let n = self.run_once().await;
                if n < self.settings.concurrency as usize {
                    tokio::time::sleep(self.settings.poll).await;
                }
            }
        })
    }

    /// Claim and attempt one round of due deliveries; how many were
    /// attempted.
    pub async fn run_once(&self) -> usize {
        let now = self.clock.now();
        let lease = chrono::TimeDelta::from_std(self.settings.timeout + Duration::from_secs(30))
            .unwrap_or(chrono::TimeDelta::MAX);
        let claimed = match self
            .store
            .claim_deliveries(now, now + lease, self.settings.concurrency)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: cannot claim deliveries");
                return 0;
            }
        };
        let n = claimed.len();
        let mut set = tokio::task::JoinSet::new();
        for d in claimed {
            let me = self.clone();
            set.spawn(async move { me.attempt(d).await });
        }
        while set.join_next().await.is_some() {}
        n
    }

    async fn attempt(&self, d: Delivery) {
        let outcome = match tokio::time::timeout(self.settings.timeout, self.post(&d)).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {:?}", self.settings.timeout)),
        };
        let recorded = match outcome {
            Ok(()) => {
                metrics::counter!(DELIVERED_METRIC).increment(1);
                self.store.delivery_done(d.id).await
            }
            Err(why) => {
                metrics::counter!(FAILED_METRIC).increment(1);
                let failures = d.attempts + 1;
                let next = (failures < self.settings.attempts).then(|| {
                    let jitter = rand::rng().random_range(0.0..1.0);
                    let wait =
                        authnz_core::webhooks::backoff(self.settings.backoff, failures, jitter);
                    self.clock.now()
                        + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
                });
                if next.is_none() {
                    tracing::warn!(id = d.id, endpoint = %d.endpoint, error = %why, "webhook delivery parked after {failures} failures");
                } else {
                    tracing::info!(id = d.id, endpoint = %d.endpoint, error = %why, "webhook delivery failed; will retry");
                }
                let why: String = why.chars().take(WEBHOOK_ERROR_MAX).collect();
                self.store.delivery_failed(d.id, &why, next).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(id = d.id, error = %e, "webhooks: cannot record a delivery's outcome");
        }
    }

    async fn post(&self, d: &Delivery) -> Result<(), String> {
        let Some(endpoint) = self.webhooks.endpoint(&d.endpoint) else {
            return Err("the endpoint is no longer configured".to_owned());
        };
        let id = format!("msg_{}", d.id);
        let timestamp = self.clock.now().and_utc().timestamp();
        let request = hyper::Request::post(&d.endpoint)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("authnzrv/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                endpoint.signature(&id, timestamp, &d.body),
            )
            .body(Full::new(Bytes::from(d.body.clone())))
            .map_err(|e| format!("bad request: {e}"))?;
        let resp = self.client.request(request).await.map_err(|e| {
            format!("request failed: {e:?}")
                .chars()
                .take(200)
                .collect::<String>()
        })?;
        let status = resp.status();
        // The answer's body is not read; dropping it closes the connection.
        drop(resp);
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }
}
