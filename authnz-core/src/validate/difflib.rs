//! Python `difflib.SequenceMatcher(None, a, b).ratio()` over code points
//! (PROTOCOL.md 5.7), used by the password-similarity check (5.1 check 3).
//!
//! This is a literal port of CPython's `__chain_b`, `find_longest_match` and
//! `get_matching_blocks` with `isjunk=None` and `autojunk=True`, so that the
//! similarity percentage, and with it the accept/reject decision at the
//! `>=` threshold, is bit-for-bit what upstream computes. The parts that
//! matter for exactness:
//!
//! - "popular" characters of `b` (when `len(b) >= 200`, those occurring more
//!   than `len(b) // 100 + 1` times) are left out of the index, so matches are
//!   only *found* through other characters;
//! - every match found (even the empty one at `(alo, blo)`) is then extended
//!   backwards and forwards over equal characters, popular ones included;
//! - the second pair of extension loops in CPython, over *junk* characters,
//!   never runs because with `isjunk=None` the junk set is empty. It is kept
//!   below, over an always-empty junk set, so the port reads line by line
//!   against CPython.
//!
//! CPython keeps `j2len` as a dict per row of `a`; here it is two dense rows
//! indexed by `j + 1` that are reset through the list of touched entries,
//! which gives the same values without hashing.
//!
//! Cost. The algorithm has no input bound of its own: one
//! `find_longest_match` costs `(ahi - alo)` steps plus one step per index of
//! `b` listed for each character of `a[alo..ahi]`, and the recursion can
//! make as many calls as there are matching blocks (up to `min(len a,
//! len b)`), each rescanning what is left of `a`. Against a `b` that repeats
//! `a`'s characters one by one with a separator, that is quadratic in
//! `len(a)` (50,000 distinct characters: minutes). It is therefore only
//! ever run on capped inputs; the caller ([`super::password`]) bounds both
//! sides, and [`ratio_with_ops`] counts the steps so tests (and fuzz
//! targets) can assert a deterministic bound instead of a time.

use std::collections::HashMap;

/// `SequenceMatcher(None, a, b).ratio()` with CPython's default
/// `autojunk=True`.
pub fn ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    ratio_chars(&a, &b, true)
}

/// `SequenceMatcher(None, a, b, autojunk=autojunk).ratio()` over code-point
/// slices.
pub fn ratio_chars(a: &[char], b: &[char], autojunk: bool) -> f64 {
    ratio_with_ops(a, b, autojunk).0
}

/// [`ratio_chars`] and the number of elementary steps it took: one per
/// character of `a` scanned, per `b` index visited, per extension step and
/// per call of `find_longest_match`, plus `len(b)` for indexing `b`. The
/// count is a deterministic stand-in for CPU time.
pub fn ratio_with_ops(a: &[char], b: &[char], autojunk: bool) -> (f64, u64) {
    let mut matcher = Matcher::new(a, b, autojunk);
    let matches = matcher.matched_total();
    (
        calculate_ratio(matches, a.len() + b.len()),
        matcher.ops.saturating_add(b.len() as u64),
    )
}

/// An upper bound on the steps [`ratio_with_ops`] takes (with autojunk)
/// for any `a` of at most `max_a` and `b` of at most `max_b` characters.
///
/// `find_longest_match` is called at most `2 * min(len a, len b) + 1`
/// times (each call that finds a match adds at most two, and the matches
/// add up to at most the shorter length); one call scans at most `len a`
/// characters, visits at most `L` indices of `b` for each, and extends by at
/// most `min(len a, len b)`. `L`, the longest index list, is `len b` below
/// 200 characters and `len b / 100 + 1` from there (autojunk), so the two
/// regimes are bounded separately. The bound is crude: the worst inputs we
/// could construct take about a hundredth of it (see the tests).
pub const fn max_ops(max_a: usize, max_b: usize) -> u64 {
    const fn regime(la: u64, lb: u64, list: u64) -> u64 {
        let short = if la < lb { la } else { lb };
        (2 * short + 1) * (1 + la + la * list + short) + lb
    }
    let (la, lb) = (max_a as u64, max_b as u64);
    let small_b = if lb < 199 { lb } else { 199 };
    let small = regime(la, small_b, small_b);
    let large = if lb >= 200 {
        regime(la, lb, lb / 100 + 1)
    } else {
        0
    };
    if small > large { small } else { large }
}

/// The largest `ratio(a, b)` can be for these lengths: every character of
/// the shorter string matched. Lets a caller skip the computation when even
/// this cannot reach a threshold (the result is then exact, since the
/// ratio only grows with the matched count).
pub fn ratio_upper_bound(len_a: usize, len_b: usize) -> f64 {
    calculate_ratio(len_a.min(len_b), len_a + len_b)
}

/// CPython `difflib._calculate_ratio`.
fn calculate_ratio(matches: usize, length: usize) -> f64 {
    if length > 0 {
        2.0 * matches as f64 / length as f64
    } else {
        1.0
    }
}

/// One `(i, j, size)` triple of CPython's `Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Match {
    i: usize,
    j: usize,
    size: usize,
}

/// The state CPython's `SequenceMatcher` keeps after `set_seqs`.
#[derive(Debug)]
struct Matcher<'s> {
    a: &'s [char],
    b: &'s [char],
    /// `b2j`: for each non-popular character of `b`, its indices ascending.
    b2j: HashMap<char, Vec<usize>>,
    /// `bjunk`: always empty because `isjunk` is `None`; see the module doc.
    bjunk: Vec<char>,
    /// Row scratch for `find_longest_match`: `j2len[j + 1]`.
    prev: Vec<usize>,
    cur: Vec<usize>,
    prev_touched: Vec<usize>,
    cur_touched: Vec<usize>,
    /// Steps taken so far (see [`ratio_with_ops`]).
    ops: u64,
}

impl<'s> Matcher<'s> {
    /// `SequenceMatcher.__init__` + `__chain_b`.
    fn new(a: &'s [char], b: &'s [char], autojunk: bool) -> Self {
        let mut b2j: HashMap<char, Vec<usize>> = HashMap::new();
        for (i, &elt) in b.iter().enumerate() {
            b2j.entry(elt).or_default().push(i);
        }
        let n = b.len();
        if autojunk && n >= 200 {
            let ntest = n / 100 + 1;
            b2j.retain(|_, idxs| idxs.len() <= ntest);
        }
        Matcher {
            a,
            b,
            b2j,
            bjunk: Vec::new(),
            prev: vec![0; n + 1],
            cur: vec![0; n + 1],
            prev_touched: Vec::new(),
            cur_touched: Vec::new(),
            ops: 0,
        }
    }

    fn is_bjunk(&self, c: char) -> bool {
        self.bjunk.contains(&c)
    }

    /// CPython `find_longest_match(alo, ahi, blo, bhi)`.
    fn find_longest_match(&mut self, alo: usize, ahi: usize, blo: usize, bhi: usize) -> Match {
        let (a, b) = (self.a, self.b);
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0usize);
        let mut ops: u64 = 1;
        for (i, ai) in a.iter().enumerate().take(ahi).skip(alo) {
            ops += 1;
            if let Some(js) = self.b2j.get(ai) {
                // `if j < blo: continue` over an ascending list.
                let start = js.partition_point(|&j| j < blo);
                for &j in &js[start..] {
                    if j >= bhi {
                        break;
                    }
                    ops += 1;
                    // newj2len[j] = j2len.get(j - 1, 0) + 1
                    let k = self.prev[j] + 1;
                    self.cur[j + 1] = k;
                    self.cur_touched.push(j + 1);
                    if k > bestsize {
                        besti = i + 1 - k;
                        bestj = j + 1 - k;
                        bestsize = k;
                    }
                }
            }
            // j2len = newj2len
            for &t in &self.prev_touched {
                self.prev[t] = 0;
            }
            self.prev_touched.clear();
            std::mem::swap(&mut self.prev, &mut self.cur);
            std::mem::swap(&mut self.prev_touched, &mut self.cur_touched);
        }
        for &t in &self.prev_touched {
            self.prev[t] = 0;
        }
        self.prev_touched.clear();

        // Extend the best by non-junk elements on each end (popular
        // characters included: they are not junk).
        while besti > alo
            && bestj > blo
            && !self.is_bjunk(b[bestj - 1])
            && a[besti - 1] == b[bestj - 1]
        {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && !self.is_bjunk(b[bestj + bestsize])
            && a[besti + bestsize] == b[bestj + bestsize]
        {
            bestsize += 1;
        }
        // Suck up matching junk on each side (never runs: no junk).
        while besti > alo
            && bestj > blo
            && self.is_bjunk(b[bestj - 1])
            && a[besti - 1] == b[bestj - 1]
        {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && self.is_bjunk(b[bestj + bestsize])
            && a[besti + bestsize] == b[bestj + bestsize]
        {
            bestsize += 1;
        }
        // Every extension step grew the match, which is at most the window.
        ops += (bestsize as u64).min((ahi - alo) as u64);
        self.ops = self.ops.saturating_add(ops);
        Match {
            i: besti,
            j: bestj,
            size: bestsize,
        }
    }

    /// Sum of the sizes of CPython's `get_matching_blocks()` (collapsing
    /// adjacent blocks and sorting do not change the sum, so they are left
    /// out).
    fn matched_total(&mut self) -> usize {
        let (la, lb) = (self.a.len(), self.b.len());
        let mut queue = vec![(0, la, 0, lb)];
        let mut total = 0;
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let Match { i, j, size: k } = self.find_longest_match(alo, ahi, blo, bhi);
            if k > 0 {
                total += k;
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors as tv;
    use super::*;

    fn same(got: f64, want: f64, what: &str) {
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{what}: got {got}, want {want}"
        );
    }

    #[test]
    fn spec_example_autojunk() {
        let b = format!("ab{}", "x".repeat(300));
        let got = ratio("xxxxxab", &b);
        assert!((got - 0.012945).abs() < 1e-6, "{got}");
        let a: Vec<char> = "xxxxxab".chars().collect();
        let b: Vec<char> = b.chars().collect();
        let no_junk = ratio_chars(&a, &b, false);
        assert!((no_junk - 0.032362).abs() < 1e-6, "{no_junk}");
    }

    #[test]
    fn empty_strings() {
        same(ratio("", ""), 1.0, "both empty");
        same(ratio("abc", ""), 0.0, "b empty");
        same(ratio("", "abc"), 0.0, "a empty");
    }

    #[test]
    fn cpython_vectors() {
        assert!(tv::DIFFLIB.len() > 100);
        for &(a, b, want) in tv::DIFFLIB {
            same(ratio(a, b), want, &format!("ratio({a:?}, {b:?})"));
        }
    }

    #[test]
    fn cpython_vectors_without_autojunk() {
        for &(a, b, want) in tv::DIFFLIB_NO_AUTOJUNK {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            same(ratio_chars(&a, &b, false), want, "no autojunk");
        }
    }

    /// `n` distinct characters, and the same with `x` after each: every
    /// longest match is one character at the left edge of what is left, so
    /// each recursion step rescans the rest of `a` (quadratic).
    fn interleaved(n: usize) -> (Vec<char>, Vec<char>) {
        let a: Vec<char> = (0x4E00u32..0x4E00 + n as u32)
            .filter_map(char::from_u32)
            .collect();
        let b = a.iter().flat_map(|&c| [c, 'x']).collect();
        (a, b)
    }

    #[test]
    fn cost_grows_quadratically_without_caps() {
        let (a, b) = interleaved(2_000);
        let (_, ops) = ratio_with_ops(&a, &b, true);
        assert!(ops > 2_000 * 2_000 / 2, "{ops}");
    }

    #[test]
    fn constructed_worst_cases_stay_within_the_bound() {
        // Password side: 256 code points, at most 768 after case folding.
        // Other side: up to 512 code points, at most 1536 after folding.
        let (a, b) = interleaved(768);
        let mut cases = vec![(a.clone(), b.clone())];
        cases.push((a.clone(), b[..512].to_vec()));
        cases.push((a.clone(), b[..198].to_vec()));
        cases.push((a.clone(), a.clone()));
        cases.push((a.iter().rev().copied().collect(), a.clone()));
        cases.push((vec!['a'; 768], vec!['a'; 199]));
        cases.push((
            "ab".repeat(384).chars().collect(),
            "ba".repeat(99).chars().collect(),
        ));
        // Random strings over small alphabets (fixed seed).
        let mut seed = 7u64;
        let mut next = |alpha: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from_u32(0x61 + ((seed >> 33) % alpha) as u32).unwrap_or('a')
        };
        for (la, lb, alpha) in [(768, 199, 2), (768, 199, 4), (768, 1536, 3), (768, 512, 20)] {
            let a: Vec<char> = (0..la).map(|_| next(alpha)).collect();
            let b: Vec<char> = (0..lb).map(|_| next(alpha)).collect();
            cases.push((a, b));
        }
        let bound = max_ops(768, 1536);
        let mut worst = 0;
        for (a, b) in &cases {
            let (_, ops) = ratio_with_ops(a, b, true);
            assert!(
                ops <= max_ops(a.len(), b.len()),
                "{ops} for {}x{}",
                a.len(),
                b.len()
            );
            worst = worst.max(ops);
        }
        // The worst we know (the first case) is about 600,000 steps, far
        // under the proven bound.
        assert!(
            worst < 1_000_000 && worst * 50 < bound,
            "{worst} vs {bound}"
        );
    }

    #[test]
    fn worst_case_is_fast_enough() {
        // 256-char password against a 256-char name of one repeated letter:
        // the case that makes j2len rows longest when autojunk is off.
        let a: Vec<char> = "a".repeat(256).chars().collect();
        let b: Vec<char> = "a".repeat(256).chars().collect();
        let started = std::time::Instant::now();
        for _ in 0..20 {
            same(ratio_chars(&a, &b, false), 1.0, "equal");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
