//! The sign-up validators with a CPU-time bound per input: the password
//! policy checks (with the difflib similarity), difflib alone, the e-mail
//! rules and the full-name check. The input is split at NUL bytes into
//! password, e-mail and full name, used as a request would deliver them.
//!
//! Every call must finish within `BOUND` of thread CPU time: a validator
//! that is super-linear in its input is a denial of service on the async
//! workers, and fails here as a crash with the input that shows it.

#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use authnz_core::validate::difflib::ratio;
use authnz_core::validate::{
    EmailValidator, PasswordChecker, PasswordPolicy, PublicSuffixList, normalize_email,
    sign_up_full_name,
};
use libfuzzer_sys::fuzz_target;

/// Generous: the bound is for inputs up to libFuzzer's `-max_len`, in an
/// instrumented build; a linear check of a few KB takes well under 1 ms.
const BOUND: Duration = Duration::from_millis(100);

/// The longest strings the direct difflib call gets (the password cut of
/// the protocol).
const DIFFLIB_CHARS: usize = 256;

static PASSWORDS: LazyLock<PasswordChecker> =
    LazyLock::new(|| PasswordChecker::new("auth.example.org"));
static EMAILS: LazyLock<EmailValidator> = LazyLock::new(EmailValidator::new);
// Built (and its scanner warmed by one lookup) before any timed call: the
// one-time set-up is not the cost of an input.
static SUFFIXES: LazyLock<PublicSuffixList> = LazyLock::new(|| {
    let list = PublicSuffixList::load(None, SystemTime::now());
    let _ = sign_up_full_name("warm up", &list);
    list
});

/// CPU time of the calling thread: immune to the load of other processes
/// on a shared CI machine, unlike wall time.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.try_into().unwrap_or(0))
}

fn bounded<T>(what: &str, input_chars: usize, f: impl FnOnce() -> T) -> T {
    let start = thread_cpu();
    let out = f();
    let took = thread_cpu().saturating_sub(start);
    assert!(
        took <= BOUND,
        "{what} took {took:?} of CPU (bound {BOUND:?}) on {input_chars} code points"
    );
    out
}

fuzz_target!(|data: &[u8]| {
    let parts = common::fields(data, 3);
    let (password, email, full_name) = (&parts[0], &parts[1], &parts[2]);
    let chars = password.chars().count() + email.chars().count() + full_name.chars().count();
    let policy = PasswordPolicy::default();
    bounded("PasswordChecker::check", chars, || {
        PASSWORDS.check(&policy, password, email, full_name)
    });
    // difflib is quadratic by nature (CPython's too); its callers hand it
    // at most a few hundred code points, so it is held to the bound there.
    let a: String = password.chars().take(DIFFLIB_CHARS).collect();
    let b: String = full_name.chars().take(DIFFLIB_CHARS).collect();
    bounded("difflib::ratio(password, full_name)", chars, || {
        ratio(&a, &b)
    });
    let _ = bounded("EmailValidator::validate", chars, || EMAILS.validate(email));
    bounded("normalize_email", chars, || normalize_email(email));
    LazyLock::force(&SUFFIXES);
    let _ = bounded("sign_up_full_name", chars, || {
        sign_up_full_name(full_name, &SUFFIXES)
    });
});
