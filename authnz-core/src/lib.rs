//! What the authnz server does, independent of how requests arrive: one
//! handler per request type over the storage traits of `authnz-api`, and
//! what the handlers need.
//!
//! [`actions`] (the handlers and their dispatcher, `actions::run`),
//! [`context`] (the shared state every handler receives), [`policy`] (the
//! permission model), [`validate`] (the sign-up and password rules),
//! [`passwords`] (Argon2 on a bounded pool), [`mail`] (choosing the mail
//! route, composing messages from the templates), [`lockout`] (the login
//! back-off and automatic lock), [`breach`] (the interface of the optional
//! breach check), [`oauth`] (the interface of the social-login providers),
//! [`sleeper`] (every deliberate wait), [`warn_gate`]
//! (rate-limited warnings).
//!
//! No HTTP and no configuration parsing here: the server (`authnz-server`)
//! decodes requests, runs the pipeline, reads the configuration and fills in
//! the plain settings structs this crate defines (`context::LockoutSettings`,
//! `mail::MailOptions`, `passwords::HashParams`, ...).

pub mod actions;
pub mod audit;
pub mod breach;
pub mod context;
pub mod jwt;
pub mod lockout;
pub mod mail;
pub mod oauth;
pub mod passkeys;
pub mod passwords;
pub mod policy;
pub mod sealing;
pub mod second_factor;
pub mod sleeper;
pub mod validate;
pub mod warn_gate;
pub mod webhooks;
