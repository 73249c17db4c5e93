//! The mailer contract suite (`authnz_mail::testing::contract`) on the
//! backends that need no service: the in-memory list and the file outbox in
//! a temporary folder. The SMTP and SES backends run the same suite in
//! `tests/smtp.rs` and `tests/ses.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod memory {
    use authnz_mail::testing::contract::{MailHarness, MemoryHarness};

    async fn harness(_test: &'static str) -> Option<Box<dyn MailHarness>> {
        Some(Box::new(MemoryHarness::default()))
    }

    authnz_mail::mailer_contract_tests!(harness);
}

#[cfg(feature = "file")]
mod file {
    use authnz_mail::testing::contract::{FileHarness, MailHarness};

    async fn harness(_test: &'static str) -> Option<Box<dyn MailHarness>> {
        Some(Box::new(FileHarness::new()))
    }

    authnz_mail::mailer_contract_tests!(harness);
}
