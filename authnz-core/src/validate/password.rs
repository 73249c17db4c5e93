//! The password policy (PROTOCOL.md 5.1): parsing the `passpolicy` config
//! string and running the five local checks with upstream's exact messages.
//!
//! A [`PasswordChecker`] is built once at start-up (it holds the
//! common-password set and the case-folded server FQDN) and shared by every
//! request that validates a password (`user-new`, `user-changepass*`,
//! `user-resetpass*`, `user-validatepass`). The policy itself is passed per
//! call because upstream re-reads it from config on every request.
//!
//! Check 6, the online breach lookup, is deliberately not here: this module
//! does no I/O. The caller runs it only when
//! [`PolicyOutcome::passed_local_checks`] is true and reports a hit with
//! [`PolicyOutcome::record_breach`], which appends the message of PROTOCOL.md 5.1.

use std::collections::HashSet;

use super::difflib::{ratio_upper_bound, ratio_with_ops};
use super::text::{
    PASSWORD_MAX_CHARS, casefold, char_len, cut_password, is_py_digit_str, py_strip, squeeze,
};

/// The bundled common-password list (`data/top-10k-passwords.txt`).
const TOP_10K_PASSWORDS: &str = include_str!("../../../data/top-10k-passwords.txt");

/// Check 2 message.
pub const MSG_COMMON: &str =
    "Your password is on the list of the most common passwords and is vulnerable to guessing.";
/// Check 3 message.
pub const MSG_TOO_SIMILAR: &str = "Your password is too similar to either the domain name of this \
                                   server or your own name or email address.";
/// Check 4 message ("appear appear" is upstream's text, kept verbatim).
pub const MSG_CHAR_FREQUENCY: &str =
    "Your password is not complex enough. One or more characters appear appear too frequently.";
/// Check 5 message.
pub const MSG_ALL_DIGITS: &str = "Your password cannot be all numbers.";

/// How many code points of the e-mail address, the full name and the server
/// FQDN the similarity check (check 3) compares the password with.
///
/// difflib's cost grows with the product of its inputs' lengths and, in the
/// worst case, with the square of the password's (see [`super::difflib`]),
/// so neither side may be client-sized. The password side is bounded by
/// the 256-code-point cut (at most 768 after case folding). For the other
/// side, 512 leaves every realistic value whole, so the ratio is CPython's
/// bit for bit: an address is at most 254 characters (the SMTP path limit),
/// a host name 253, and names are far shorter. A longer value is first
/// tested against [`ratio_upper_bound`]: if even a complete match of the
/// password could not reach the threshold, the answer "not too similar" is
/// exact without running difflib (at the default threshold of 50 this
/// covers every value longer than three times the password). Only what is
/// left (a value over 512 code points with a very long password or a very
/// low threshold) is compared by its first 512 code points.
pub const SIMILARITY_MAX_CHARS: usize = 512;

/// Most difflib steps check 3 can take for one password: three
/// comparisons (FQDN, e-mail, name) of at most 768 (256 code points case
/// folded) by at most 1536 (512 code points case folded) characters; see
/// [`super::difflib::max_ops`]. A crude, proven bound; real worst cases
/// stay near a hundredth of it.
pub const MAX_SIMILARITY_OPS: u64 =
    3 * super::difflib::max_ops(3 * PASSWORD_MAX_CHARS, 3 * SIMILARITY_MAX_CHARS);

/// The first `max` code points of `s`.
fn prefix_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((byte_idx, _)) => &s[..byte_idx],
        None => s,
    }
}

/// Check 3 for one other string: whether `100 * ratio(password,
/// casefold(other)) >= limit`, with `other` bounded as
/// [`SIMILARITY_MAX_CHARS`] explains, and the difflib steps it took.
/// `password` is the squeezed, case-folded (and cut) password.
fn too_similar(password: &[char], other: &str, limit: f64) -> (bool, u64) {
    let compare = |other: &[char]| {
        let (ratio, ops) = ratio_with_ops(password, other, true);
        (ratio * 100.0 >= limit, ops)
    };
    let other_len = char_len(other);
    if other_len <= SIMILARITY_MAX_CHARS {
        let other: Vec<char> = casefold(other).chars().collect();
        return compare(&other);
    }
    // Case folding never shortens a string, so `other_len` is at most the
    // folded length, and past the password's length the bound only falls.
    if other_len >= password.len() && ratio_upper_bound(password.len(), other_len) * 100.0 < limit {
        return (false, 0);
    }
    let other: Vec<char> = casefold(prefix_chars(other, SIMILARITY_MAX_CHARS))
        .chars()
        .take(SIMILARITY_MAX_CHARS)
        .collect();
    compare(&other)
}

/// Check 1 message for a given minimum length.
pub fn too_short_message(min_pass_length: i64) -> String {
    format!("Your password is too short. It must have at least {min_pass_length} characters.")
}

/// Check 6 message for a breach count (for the caller that runs the lookup).
pub fn breach_message(count: u64) -> String {
    format!(
        "Your password was found with {count} matches in the database of recently compromised \
         Web account passwords from https://haveibeenpwned.com/Passwords and is not secure."
    )
}

/// The four numbers of a password policy, in `passpolicy` order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PasswordPolicy {
    /// Check 1: minimum length in code points after trimming and squeezing.
    pub min_pass_length: i64,
    /// Check 3: similarity percentage at or above which a password fails.
    pub max_unsafe_similarity: i64,
    /// Check 4: largest allowed share of one code point in the password.
    pub max_char_frequency: f64,
    /// Check 6: breach count at or above which a password fails.
    pub min_pwned_matches: i64,
}

/// Why a `passpolicy` string is not a valid policy (see
/// [`PasswordPolicy::try_parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    /// Splitting on `;` did not give exactly four pieces.
    #[error("password policy must have exactly four ';'-separated items, found {0}")]
    PieceCount(usize),
    /// Piece `index` (0-based) has no `:`.
    #[error("password policy item {index} has no ':'")]
    MissingColon {
        /// 0-based position of the piece.
        index: usize,
    },
    /// Piece `index` has a value Python's `int()`/`float()` would reject.
    #[error("password policy item {index} has an invalid number: {value:?}")]
    BadNumber {
        /// 0-based position of the piece.
        index: usize,
        /// The text after the colon.
        value: String,
    },
}

impl PasswordPolicy {
    /// Upstream's built-in defaults, used when the config string is empty
    /// or fails to parse (note 33, not the config default's 50).
    pub const BUILTIN: PasswordPolicy = PasswordPolicy {
        min_pass_length: 12,
        max_unsafe_similarity: 33,
        max_char_frequency: 0.3,
        min_pwned_matches: 25,
    };

    /// The default value of the `passpolicy` config item.
    pub const CONFIG_DEFAULT: &'static str = "min_pass_length:12; max_unsafe_similarity:50; \
                                              max_char_frequency:0.3; min_pwned_matches:25";

    /// Parses a `passpolicy` string exactly as upstream does, never failing.
    ///
    /// The string is split on `;` into exactly four pieces; each piece is
    /// stripped, its spaces removed, and the text between its first and
    /// second `:` (Python `split(':')[1]`) taken; the values are used by
    /// position. An empty string or a wrong piece count gives
    /// [`Self::BUILTIN`]. Like upstream, the four values are assigned one
    /// after the other, so when piece *n* is bad the pieces before it keep
    /// their parsed values and piece *n* and the rest get the built-in ones.
    pub fn parse(s: &str) -> PasswordPolicy {
        let mut policy = Self::BUILTIN;
        let _ = Self::parse_into(s, &mut policy);
        policy
    }

    /// Strict variant for start-up validation: any problem is an error.
    pub fn try_parse(s: &str) -> Result<PasswordPolicy, PolicyParseError> {
        let mut policy = Self::BUILTIN;
        Self::parse_into(s, &mut policy).map(|()| policy)
    }

    fn parse_into(s: &str, policy: &mut PasswordPolicy) -> Result<(), PolicyParseError> {
        // Upstream: `if passpolicy:` -- an empty string keeps the defaults.
        if s.is_empty() {
            return Ok(());
        }
        let pieces: Vec<&str> = s.split(';').collect();
        if pieces.len() != 4 {
            return Err(PolicyParseError::PieceCount(pieces.len()));
        }
        let values: Vec<String> = pieces
            .iter()
            .map(|p| py_strip(p).replace(' ', ""))
            .collect();
        let value = |index: usize| -> Result<&str, PolicyParseError> {
            values[index]
                .split(':')
                .nth(1)
                .ok_or(PolicyParseError::MissingColon { index })
        };
        let bad = |index: usize, v: &str| PolicyParseError::BadNumber {
            index,
            value: v.to_owned(),
        };
        let v = value(0)?;
        policy.min_pass_length = py_int(v).ok_or_else(|| bad(0, v))?;
        let v = value(1)?;
        policy.max_unsafe_similarity = py_int(v).ok_or_else(|| bad(1, v))?;
        let v = value(2)?;
        policy.max_char_frequency = py_float(v).ok_or_else(|| bad(2, v))?;
        let v = value(3)?;
        policy.min_pwned_matches = py_int(v).ok_or_else(|| bad(3, v))?;
        Ok(())
    }
}

impl Default for PasswordPolicy {
    /// What the default config string parses to: 12, 50, 0.3, 25.
    fn default() -> Self {
        Self::parse(Self::CONFIG_DEFAULT)
    }
}

/// Removes PEP 515 underscores (each must sit between two ASCII digits);
/// `None` if one is misplaced.
fn strip_underscores(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            let before = i.checked_sub(1).and_then(|p| chars.get(p));
            let after = chars.get(i + 1);
            if !matches!(before, Some(d) if d.is_ascii_digit())
                || !matches!(after, Some(d) if d.is_ascii_digit())
            {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Python `int(s)` for base-10 text, limited to ASCII digits and `i64`
/// (upstream also takes other Unicode decimal digits and unbounded values).
fn py_int(s: &str) -> Option<i64> {
    let t = strip_underscores(py_strip(s))?;
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Python `float(s)`, limited to ASCII digits (Rust's float grammar equals
/// Python's for ASCII input, including `inf`, `infinity` and `nan`).
fn py_float(s: &str) -> Option<f64> {
    let t = strip_underscores(py_strip(s))?;
    if !t.is_ascii() {
        return None;
    }
    t.parse().ok()
}

/// The result of the local checks 1-5 (and, once the caller adds it, 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// True iff no check failed.
    pub ok: bool,
    /// One message per failed check, in check order.
    pub messages: Vec<String>,
}

impl PolicyOutcome {
    /// Whether checks 1-5 all passed, i.e. whether the breach lookup
    /// (check 6) should run now.
    pub fn passed_local_checks(&self) -> bool {
        self.ok
    }

    /// Records a failed breach lookup: `count` matches at or above the
    /// policy's `min_pwned_matches`. Network errors count as a pass and must
    /// not be recorded.
    pub fn record_breach(&mut self, count: u64) {
        self.ok = false;
        self.messages.push(breach_message(count));
    }
}

/// Runs the password policy; built once at start-up.
#[derive(Debug, Clone)]
pub struct PasswordChecker {
    common: HashSet<&'static str>,
    fqdn_folded: String,
}

impl PasswordChecker {
    /// A checker with the bundled top-10k list and the server's FQDN (see
    /// [`super::fqdn::detect_fqdn`]).
    pub fn new(fqdn: &str) -> PasswordChecker {
        Self::with_common_passwords(TOP_10K_PASSWORDS, fqdn)
    }

    /// A checker with another common-password list (one per line; only the
    /// `\n` terminators are removed, as upstream's `x.strip('\n')`).
    pub fn with_common_passwords(list: &'static str, fqdn: &str) -> PasswordChecker {
        PasswordChecker {
            common: list.split_terminator('\n').collect(),
            fqdn_folded: casefold(fqdn),
        }
    }

    /// Whether `s` is exactly one of the common-password lines.
    pub fn is_common(&self, s: &str) -> bool {
        self.common.contains(s)
    }

    /// Checks 1-5 of 5.1 in order on the password cut to 256 code points
    /// ([`cut_password`]; callers cut it already, for hashing, and cutting
    /// twice changes nothing); `email` and `full_name` are the values
    /// upstream passes (for `user-new` the normalised e-mail and the
    /// processed, escaped name), of any length.
    ///
    /// The cost is bounded whatever the input: linear passes over at most
    /// 256 code points of the password and a code-point count of `email`
    /// and `full_name`, then difflib on at most 768 by
    /// [`SIMILARITY_MAX_CHARS`] (three times that for a short value that
    /// case-folds long) code points, at most [`MAX_SIMILARITY_OPS`] steps
    /// ([`Self::check_with_cost`] counts them).
    pub fn check(
        &self,
        policy: &PasswordPolicy,
        password: &str,
        email: &str,
        full_name: &str,
    ) -> PolicyOutcome {
        self.check_with_cost(policy, password, email, full_name).0
    }

    /// [`Self::check`] and the number of difflib steps check 3 took (see
    /// [`super::difflib::ratio_with_ops`]), never more than
    /// [`MAX_SIMILARITY_OPS`]: the deterministic cost measure for tests and
    /// fuzz targets.
    pub fn check_with_cost(
        &self,
        policy: &PasswordPolicy,
        password: &str,
        email: &str,
        full_name: &str,
    ) -> (PolicyOutcome, u64) {
        let password = cut_password(password);
        let mut messages = Vec::new();

        // 1. Length after trimming and squeezing.
        let squeezed_len = char_len(&squeeze(py_strip(password)));
        if i64::try_from(squeezed_len).unwrap_or(i64::MAX) < policy.min_pass_length {
            messages.push(too_short_message(policy.min_pass_length));
        }

        // 2. Common password (compared with the list as stored).
        if self.is_common(&casefold(password)) {
            messages.push(MSG_COMMON.to_owned());
        }

        // 3. Similarity to the FQDN, e-mail and name, each `>=` the limit.
        let to_match: Vec<char> = squeeze(py_strip(&casefold(password))).chars().collect();
        let limit = policy.max_unsafe_similarity as f64;
        // The FQDN is folded already; folding twice changes nothing. All
        // three are compared even after a hit, like upstream.
        let mut similar = false;
        let mut cost = 0u64;
        for other in [self.fqdn_folded.as_str(), email, full_name] {
            let (hit, ops) = too_similar(&to_match, other, limit);
            similar |= hit;
            cost = cost.saturating_add(ops);
        }
        if similar {
            messages.push(MSG_TOO_SIMILAR.to_owned());
        }

        // 4. Character frequency: count / len > limit for any code point.
        if char_frequency_too_high(password, policy.max_char_frequency) {
            messages.push(MSG_CHAR_FREQUENCY.to_owned());
        }

        // 5. All digits (Python `str.isdigit`).
        if is_py_digit_str(password) {
            messages.push(MSG_ALL_DIGITS.to_owned());
        }

        (
            PolicyOutcome {
                ok: messages.is_empty(),
                messages,
            },
            cost,
        )
    }
}

/// Upstream's histogram test: some code point has
/// `count / len(password) > max_char_frequency` (as a float division).
fn char_frequency_too_high(password: &str, max_char_frequency: f64) -> bool {
    let mut counts: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    let mut len = 0usize;
    for c in password.chars() {
        *counts.entry(c).or_insert(0) += 1;
        len += 1;
    }
    counts
        .values()
        .any(|&n| n as f64 / len as f64 > max_char_frequency)
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors as tv;
    use super::*;

    fn checker() -> PasswordChecker {
        PasswordChecker::new(tv::POLICY_FQDN)
    }

    #[test]
    fn parse_defaults() {
        let d = PasswordPolicy::parse(PasswordPolicy::CONFIG_DEFAULT);
        assert_eq!(d.min_pass_length, 12);
        assert_eq!(d.max_unsafe_similarity, 50);
        assert_eq!(d.max_char_frequency, 0.3);
        assert_eq!(d.min_pwned_matches, 25);
        assert_eq!(PasswordPolicy::default(), d);
        assert_eq!(PasswordPolicy::parse(""), PasswordPolicy::BUILTIN);
        assert_eq!(PasswordPolicy::parse("garbage"), PasswordPolicy::BUILTIN);
        assert_eq!(
            PasswordPolicy::try_parse("a:1;b:2;c:3"),
            Err(PolicyParseError::PieceCount(3))
        );
        assert_eq!(PasswordPolicy::try_parse(""), Ok(PasswordPolicy::BUILTIN));
    }

    #[test]
    fn parse_matches_python_upstream() {
        for &(input, min, sim, freq, pwned) in tv::POLICY_PARSE {
            let p = PasswordPolicy::parse(input);
            assert_eq!(
                (
                    p.min_pass_length,
                    p.max_unsafe_similarity,
                    p.max_char_frequency.to_bits(),
                    p.min_pwned_matches
                ),
                (min, sim, freq.to_bits(), pwned),
                "parse({input:?})"
            );
        }
    }

    #[test]
    fn parse_partial_failure_keeps_earlier_values() {
        let p = PasswordPolicy::parse("a:20; b:x; c:0.5; d:3");
        assert_eq!(p.min_pass_length, 20);
        assert_eq!(p.max_unsafe_similarity, 33);
        assert_eq!(p.max_char_frequency, 0.3);
        assert_eq!(p.min_pwned_matches, 25);
        assert!(matches!(
            PasswordPolicy::try_parse("a:20; b:x; c:0.5; d:3"),
            Err(PolicyParseError::BadNumber { index: 1, .. })
        ));
        assert!(matches!(
            PasswordPolicy::try_parse("a:20; b; c:0.5; d:3"),
            Err(PolicyParseError::MissingColon { index: 1 })
        ));
    }

    #[test]
    fn each_message_alone() {
        let c = checker();
        let p = PasswordPolicy::default();
        let email = "someone@example.org";
        let name = "Someone Else";

        let ok = c.check(&p, "correct horse battery staple", email, name);
        assert!(ok.ok && ok.passed_local_checks(), "{:?}", ok.messages);
        assert!(ok.messages.is_empty());

        let short = c.check(&p, "Xq7#mP2v", email, name);
        assert_eq!(short.messages, vec![too_short_message(12)]);
        assert!(!short.ok);

        let common = PasswordPolicy {
            min_pass_length: 1,
            ..p
        };
        let r = c.check(&common, "Dragon", email, name);
        assert_eq!(r.messages, vec![MSG_COMMON.to_owned()]);

        let r = c.check(&p, "someone@example.org!", email, name);
        assert_eq!(r.messages, vec![MSG_TOO_SIMILAR.to_owned()]);

        let r = c.check(&p, "aaaaaXq7#mP2vT9", email, name);
        assert_eq!(r.messages, vec![MSG_CHAR_FREQUENCY.to_owned()]);

        let r = c.check(&p, "8203749561827364", email, name);
        assert_eq!(r.messages, vec![MSG_ALL_DIGITS.to_owned()]);
        assert_eq!(
            MSG_CHAR_FREQUENCY,
            "Your password is not complex enough. One or more characters appear appear too \
             frequently."
        );
    }

    #[test]
    fn messages_in_order_when_combined() {
        let c = checker();
        let p = PasswordPolicy::default();
        let r = c.check(&p, "111111", "a@b.c", "x");
        assert_eq!(
            r.messages,
            vec![
                too_short_message(12),
                MSG_COMMON.to_owned(),
                MSG_CHAR_FREQUENCY.to_owned(),
                MSG_ALL_DIGITS.to_owned(),
            ]
        );
    }

    #[test]
    fn policy_matches_python_vectors() {
        let c = checker();
        for v in tv::POLICY_CHECKS {
            let policy = PasswordPolicy::parse(v.policy);
            let r = c.check(&policy, v.password, v.email, v.full_name);
            let want: Vec<String> = v.messages.iter().map(|m| (*m).to_owned()).collect();
            assert_eq!(r.messages, want, "check({:?})", v.password);
            assert_eq!(r.ok, v.ok, "ok for {:?}", v.password);
        }
    }

    #[test]
    fn breach_hook() {
        let c = checker();
        let mut r = c.check(
            &PasswordPolicy::default(),
            "correct horse battery staple",
            "someone@example.org",
            "Someone",
        );
        assert!(r.passed_local_checks());
        r.record_breach(1234);
        assert!(!r.ok);
        assert_eq!(
            r.messages,
            vec![
                "Your password was found with 1234 matches in the database of recently \
                 compromised Web account passwords from https://haveibeenpwned.com/Passwords and \
                 is not secure."
                    .to_owned()
            ]
        );
    }

    #[test]
    fn common_list_loaded_as_lines() {
        let c = checker();
        assert_eq!(c.common.len(), tv::TOP10K_DISTINCT);
        assert!(!c.is_common(""));
        assert!(c.is_common("password"));
    }

    #[test]
    fn check_cuts_the_password() {
        let c = checker();
        let p = PasswordPolicy::default();
        let head: String = (0x4E00u32..0x4E00 + 256)
            .filter_map(char::from_u32)
            .collect();
        // Whole, the tail of one repeated letter would fail check 4.
        let long = format!("{head}{}", "a".repeat(10_000));
        let r = c.check(&p, &long, "someone@example.org", "Someone");
        assert_eq!(r, c.check(&p, &head, "someone@example.org", "Someone"));
        assert!(r.ok, "{:?}", r.messages);
    }

    /// `n` distinct CJK characters, and the same with `x` after each (the
    /// quadratic case of difflib, see its tests).
    fn interleaved(n: u32) -> (String, String) {
        let a: String = (0x4E00u32..0x4E00 + n).filter_map(char::from_u32).collect();
        let b = a.chars().flat_map(|c| [c, 'x']).collect();
        (a, b)
    }

    #[test]
    fn similarity_check_is_bounded_for_any_input_size() {
        let c = checker();
        let p = PasswordPolicy::default();
        let (password, other) = interleaved(100_000);
        let (_, cost) = c.check_with_cost(&p, &password, &other, &other);
        // Uncapped, this is about 10^10 steps.
        assert!(cost <= MAX_SIMILARITY_OPS, "{cost}");
        // What is left after the caps: 256 against at most 512.
        let (short_pw, _) = interleaved(256);
        let other_512: String = other.chars().take(512).collect();
        let (_, cost) = c.check_with_cost(&p, &short_pw, &other_512, &other_512);
        assert!(cost > 0 && cost <= MAX_SIMILARITY_OPS, "{cost}");
        // At the lowest threshold nothing is skipped: long values are
        // compared by their first 512 code points.
        let any = PasswordPolicy {
            max_unsafe_similarity: 0,
            ..p
        };
        let (r, cost) = c.check_with_cost(&any, &password, &other, &other);
        assert!(cost > 0 && cost <= MAX_SIMILARITY_OPS, "{cost}");
        assert!(r.messages.contains(&MSG_TOO_SIMILAR.to_owned()));
    }

    #[test]
    fn long_values_keep_python_results() {
        let c = checker();
        let p = PasswordPolicy::default();
        let pw = "Xq7#mP2vT9kL";
        // Python: ratio = 2*12 / (12 + 2012), far under 50%; decided by the
        // upper bound, without running difflib.
        let long = format!("{}{}", pw.to_lowercase(), "z".repeat(2000));
        let (r, cost) = c.check_with_cost(&p, pw, "a@b.c", &long);
        assert!(r.ok, "{:?}", r.messages);
        // Only the FQDN and the e-mail were compared.
        let (_, short_cost) = c.check_with_cost(&p, pw, "a@b.c", "");
        assert!(cost <= short_cost, "{cost} > {short_cost}");
        // At 1%, Python says too similar (2*12 / 2024 = 1.19%); so do we,
        // comparing the first 512 code points (2*12 / 524).
        let low = PasswordPolicy {
            max_unsafe_similarity: 1,
            ..p
        };
        let r = c.check(&low, pw, "a@b.c", &long);
        assert!(r.messages.contains(&MSG_TOO_SIMILAR.to_owned()));
        // And values up to the cap are compared whole: the vectors from
        // CPython (`policy_matches_python_vectors`) include names and
        // addresses of every realistic length.
        const { assert!(SIMILARITY_MAX_CHARS >= 254) };
    }

    #[test]
    fn frequency_uses_float_division() {
        // 3 of 10 is exactly 0.3 in neither representation; Python computes
        // 3/10 = 0.3 (same double as the literal) so it is not "> 0.3".
        assert!(!char_frequency_too_high("aaabcdefgh", 0.3));
        assert!(char_frequency_too_high("aaaabcdefg", 0.3));
        assert!(!char_frequency_too_high("", 0.3));
        assert!(!char_frequency_too_high("abc", f64::NAN));
    }
}
