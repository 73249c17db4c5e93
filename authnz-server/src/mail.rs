//! The server's side of sending mail: building the configured backend at
//! start-up ([`build_mailer`], [`start`]). Everything the actions use at
//! request time (routes, templates, messages, bounded sends) lives in
//! `authnz_core::mail`, re-exported here so `crate::mail::…` paths keep
//! working.

use std::sync::Arc;

use authnz_api::Mailer;

pub use authnz_core::mail::*;

/// Build the configured backend.
pub async fn build_mailer(opts: &MailOptions) -> Result<Arc<dyn Mailer>, MailSetupError> {
    match opts.backend {
        MailerKind::Smtp => smtp_mailer(&opts.smtp, opts.timeout),
        #[cfg(feature = "file")]
        MailerKind::File => Ok(Arc::new(authnz_mail::FileMailer::new(
            opts.file_dir.clone(),
        ))),
        #[cfg(not(feature = "file"))]
        MailerKind::File => Err(MailSetupError::NotCompiled("file")),
        #[cfg(feature = "ses")]
        MailerKind::Ses => {
            let settings = authnz_mail::SesSettings {
                region: opts.ses_region.clone(),
                endpoint: opts.ses_endpoint.clone(),
                timeout: opts.timeout,
            };
            Ok(Arc::new(
                authnz_mail::SesMailer::from_environment(settings).await?,
            ))
        }
        #[cfg(not(feature = "ses"))]
        MailerKind::Ses => Err(MailSetupError::NotCompiled("ses")),
    }
}

/// The mail service of the action context: the configured backend and the
/// templates.
pub async fn start(options: MailOptions) -> Result<MailService, MailSetupError> {
    let mailer = build_mailer(&options).await?;
    MailService::new(mailer, options)
}
