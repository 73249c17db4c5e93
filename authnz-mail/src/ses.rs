//! The Amazon SES v2 backend (`SendEmail` with simple content: subject, text
//! and HTML parts), built lean: no default SDK features, HTTPS through
//! `aws-smithy-http-client` with rustls and ring
//! (no aws-lc-sys, no second hyper stack).
//!
//! Region and credentials come from the standard AWS chain (environment,
//! shared config and credential files, web identity, container and instance
//! metadata); a configured region wins over the chain's. The endpoint
//! override points the client at an SES-compatible service or at a local
//! emulator (tests use moto).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::{MailError, MailMessage, Mailer};
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{Credentials, Region};
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_smithy_http_client::tls;

use crate::message::one_line;

/// Where and how to reach SES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesSettings {
    /// AWS region, e.g. `eu-west-1`; `None` takes the standard chain's.
    pub region: Option<String>,
    /// Endpoint URL override, e.g. `http://127.0.0.1:5000`; `None` uses
    /// the region's SES endpoint.
    pub endpoint: Option<String>,
    /// Bound of connecting and of each whole `SendEmail` operation.
    pub timeout: Duration,
}

/// Delivers through Amazon SES v2.
#[derive(Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    settings: SesSettings,
}

impl fmt::Debug for SesMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesMailer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl SesMailer {
    /// A mailer with credentials (and, unless configured, the region) from
    /// the standard AWS chain. Fails when no region can be found.
    pub async fn from_environment(settings: SesSettings) -> Result<Self, MailError> {
        Self::build(settings, None).await
    }

    /// A mailer with fixed credentials (tests, emulators); region as in
    /// [`SesMailer::from_environment`].
    pub async fn with_static_credentials(
        settings: SesSettings,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Self, MailError> {
        let credentials = Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "authnz-static",
        );
        Self::build(settings, Some(credentials)).await
    }

    async fn build(
        settings: SesSettings,
        credentials: Option<Credentials>,
    ) -> Result<Self, MailError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.timeout)
            .operation_timeout(settings.timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(MailError::backend(
                "no AWS region for SES: set AUTHNZERVER_SESREGION or AWS_REGION",
            ));
        }
        Ok(SesMailer {
            client: aws_sdk_sesv2::Client::new(&config),
            settings,
        })
    }

    /// The settings this mailer was built with.
    pub fn settings(&self) -> &SesSettings {
        &self.settings
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::InvalidMessage(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        // The same address checks (and error texts) as the other backends,
        // before anything goes out.
        crate::message::mailbox(&message.from, "the sender")?;
        if message.to.is_empty() {
            return Err(MailError::InvalidAddress("no recipient".to_owned()));
        }
        for to in &message.to {
            crate::message::mailbox(to, "a recipient")?;
        }
        let mut body = Body::builder().text(utf8(&message.text)?);
        if let Some(html) = &message.html {
            body = body.html(utf8(html)?);
        }
        let content = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(utf8(&one_line(&message.subject))?)
                    .body(body.build())
                    .build(),
            )
            .build();
        let destination = Destination::builder()
            .set_to_addresses(Some(message.to.iter().map(|t| one_line(t)).collect()))
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(one_line(&message.from))
            .destination(destination)
            .content(content)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e @ SdkError::TimeoutError(_)) => {
                tracing::debug!(error = %e, "SES send timed out");
                Err(MailError::Timeout(self.settings.timeout))
            }
            Err(e @ SdkError::DispatchFailure(_)) => Err(MailError::unavailable(e)),
            Err(e @ SdkError::ServiceError(_)) => Err(MailError::rejected(e)),
            Err(e) => Err(MailError::backend(e)),
        }
    }

    fn kind(&self) -> &'static str {
        "ses"
    }
}
