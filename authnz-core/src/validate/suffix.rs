//! The public suffix list used by the full-name spam check (PROTOCOL.md
//! 5.5, `user-new` step 4): loading it and testing whether a name contains
//! any entry.
//!
//! Upstream downloads the Mozilla list at start-up (or reads a cache younger
//! than 7 days) and refuses to start without it. This server runs without
//! internet access, so it never downloads: it reads upstream's cache file
//! `~/.cache/authnzerver/public-suffixes.txt` when that is fresh (age by
//! inode change time at most 604,800 s, as upstream) and non-empty, and
//! otherwise uses the copy bundled into the binary from
//! `data/public_suffix_list.dat` (Debian package `publicsuffix`
//! 20230209.2326-1, MPL-2.0; see `data/README.md`). To use a newer list,
//! drop it into the cache path in upstream's cache format (one entry per
//! line, each with its leading `.`), or replace the bundled file and rebuild.
//!
//! An entry is `.` + each non-empty list line that does not start with
//! `//`, kept literally (`.*.ck` and `.!www.ck` included, and those can
//! only match a name containing `*` or `!`). A name is rejected when its
//! case-fold contains any entry as a substring. The ~9,500 entries are
//! searched at once with an Aho-Corasick automaton, in one pass over the
//! name whatever it holds: trying each entry in turn, or the prefixes at
//! each `.` against a set, costs a multiple of the name's length that a
//! name of dots (a second of CPU for 400 KB) or of a long entry's prefix
//! repeated makes large, and sign-up names are client-sized.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, MatchKind};
use std::time::{Duration, SystemTime};

/// The bundled list in the publicsuffix.org `.dat` format.
const BUNDLED_LIST: &str = include_str!("../../../data/public_suffix_list.dat");

/// A cache file older than this is ignored (upstream: 604,800 s).
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(604_800);

/// Where a loaded list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuffixSource {
    /// Upstream's cache file at this path.
    Cache(PathBuf),
    /// The copy compiled into the binary.
    Bundled,
    /// Text passed in by the caller.
    Text,
}

/// The set of public-suffix entries (each normally starting with `.`).
#[derive(Debug, Clone)]
pub struct PublicSuffixList {
    /// Entries that start with `.`.
    dotted: HashSet<String>,
    /// Searcher for the dotted entries, shortest first, so that of the
    /// entries starting at the leftmost match the shortest is reported.
    dotted_search: Option<AhoCorasick>,
    /// Entries from a hand-edited cache that do not start with `.`.
    other: Vec<String>,
    /// Searcher for `other`, in list order.
    other_search: Option<AhoCorasick>,
    source: SuffixSource,
}

/// A leftmost-first searcher for `patterns` (in priority order), `None`
/// when there are none or the automaton cannot be built (it then falls back
/// to nothing: see [`PublicSuffixList::from_entries`]).
fn searcher(patterns: &[&str]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(patterns)
        .ok()
}

impl PublicSuffixList {
    /// Parses the publicsuffix.org `.dat` format: every non-empty line not
    /// starting with `//` becomes `.` + the line.
    pub fn from_dat(text: &str) -> PublicSuffixList {
        Self::from_entries(
            text.split_terminator('\n')
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .map(|l| format!(".{l}")),
            SuffixSource::Text,
        )
    }

    /// Parses upstream's cache format: one entry per line, used as it is
    /// (only `\n` removed; empty lines, which upstream never writes and
    /// which would match every name, are skipped).
    pub fn from_cache_text(text: &str) -> PublicSuffixList {
        Self::from_entries(
            text.split_terminator('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            SuffixSource::Text,
        )
    }

    fn from_entries(entries: impl Iterator<Item = String>, source: SuffixSource) -> Self {
        let mut dotted = HashSet::new();
        let mut other = Vec::new();
        for entry in entries {
            if entry.starts_with('.') {
                dotted.insert(entry);
            } else {
                other.push(entry);
            }
        }
        let mut by_length: Vec<&str> = dotted.iter().map(String::as_str).collect();
        by_length.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        // Building only fails past the automaton's size limits, which a
        // suffix list (a few hundred KB) is far below; `len()` still counts
        // the entries, so the caller would not mistake a failure for an
        // empty list, and the search would then find nothing.
        let dotted_search = searcher(&by_length);
        let other_refs: Vec<&str> = other.iter().map(String::as_str).collect();
        let other_search = searcher(&other_refs);
        PublicSuffixList {
            dotted,
            dotted_search,
            other,
            other_search,
            source,
        }
    }

    /// The bundled copy.
    pub fn bundled() -> PublicSuffixList {
        let mut list = Self::from_dat(BUNDLED_LIST);
        list.source = SuffixSource::Bundled;
        list
    }

    /// Upstream's cache path, `$HOME/.cache/authnzerver/public-suffixes.txt`
    /// (`None` without `HOME`).
    pub fn default_cache_path() -> Option<PathBuf> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        Some(
            PathBuf::from(home)
                .join(".cache")
                .join("authnzerver")
                .join("public-suffixes.txt"),
        )
    }

    /// The cache at `cache_path` if it is at most [`CACHE_MAX_AGE`] old at
    /// `now` and has entries, else the bundled copy. Never fails and never
    /// touches the network.
    pub fn load(cache_path: Option<&Path>, now: SystemTime) -> PublicSuffixList {
        if let Some(path) = cache_path
            && let Some(list) = Self::read_fresh_cache(path, now)
        {
            return list;
        }
        Self::bundled()
    }

    fn read_fresh_cache(path: &Path, now: SystemTime) -> Option<PublicSuffixList> {
        let meta = std::fs::metadata(path).ok()?;
        let changed = change_time(&meta)?;
        // A change time in the future counts as fresh (age 0).
        let age = now.duration_since(changed).unwrap_or(Duration::ZERO);
        if age > CACHE_MAX_AGE {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let mut list = Self::from_cache_text(&text);
        if list.is_empty() {
            return None;
        }
        list.source = SuffixSource::Cache(path.to_owned());
        Some(list)
    }

    /// Where this list came from.
    pub fn source(&self) -> &SuffixSource {
        &self.source
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.dotted.len() + self.other.len()
    }

    /// Whether there are no entries (upstream then answers `public suffix
    /// list not present`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the list holds exactly this entry.
    pub fn contains_entry(&self, entry: &str) -> bool {
        self.dotted.contains(entry) || self.other.iter().any(|e| e == entry)
    }

    /// The first entry (by position in `text`, then shortest) that occurs
    /// in `text` as a substring, if any; when no dotted entry occurs, the
    /// first undotted one by position (then by list order). The caller
    /// passes the case-folded name. Linear in `text`.
    pub fn find_in<'t>(&self, text: &'t str) -> Option<&'t str> {
        [&self.dotted_search, &self.other_search]
            .into_iter()
            .flatten()
            .find_map(|search| search.find(text).map(|m| &text[m.range()]))
    }

    /// Whether any entry occurs in `text` (upstream: `any(s in name for s in
    /// list)`).
    pub fn is_in(&self, text: &str) -> bool {
        self.find_in(text).is_some()
    }
}

#[cfg(unix)]
fn change_time(meta: &std::fs::Metadata) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let secs = u64::try_from(meta.ctime()).ok()?;
    let nanos = u32::try_from(meta.ctime_nsec()).unwrap_or(0);
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(not(unix))]
fn change_time(meta: &std::fs::Metadata) -> Option<SystemTime> {
    meta.modified().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn naive_is_in(entries: &[String], text: &str) -> bool {
        entries.iter().any(|e| text.contains(e.as_str()))
    }

    fn bundled_entries() -> Vec<String> {
        BUNDLED_LIST
            .split_terminator('\n')
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| format!(".{l}"))
            .collect()
    }

    #[test]
    fn bundled_list_loads_literally() {
        let list = PublicSuffixList::bundled();
        assert_eq!(list.source(), &SuffixSource::Bundled);
        assert_eq!(list.len(), bundled_entries().len());
        assert!(list.len() > 9000);
        for e in [".com", ".co.uk", ".*.ck", ".!www.ck", ".公司.cn"] {
            assert!(list.contains_entry(e), "{e}");
        }
    }

    #[test]
    fn names() {
        let list = PublicSuffixList::bundled();
        assert!(!list.is_in("john smith"));
        // `.co` (Colombia) is the first, shortest entry inside `.com`.
        assert_eq!(list.find_in("buy at shop.com"), Some(".co"));
        assert!(list.is_in("a.b.co.uk"));
        assert!(list.is_in("mr.smith.io"));
        assert!(!list.is_in("j. r. r. tolkien"));
    }

    #[test]
    fn efficient_search_equals_naive_scan() {
        let entries = bundled_entries();
        let list = PublicSuffixList::bundled();
        let samples = [
            "john smith",
            "jane &lt;b&gt;doe&lt;/b&gt; x",
            "mr.who",
            "a.b",
            "end.",
            ".",
            "..",
            "x.!www.ck",
            "x.*.ck",
            "no dots here at all",
            "j. r. r. tolkien",
            "st.john",
            "名字.公司.cn",
            "trailing.c",
            "o&#x27;brien",
            "foo.bar.baz.qux.example.amazonaws.com.cn",
        ];
        for s in samples {
            assert_eq!(list.is_in(s), naive_is_in(&entries, s), "{s:?}");
        }
    }

    #[test]
    fn hostile_names_match_naive_scan_in_linear_time() {
        let entries = bundled_entries();
        let list = PublicSuffixList::bundled();
        let longest = entries.iter().max_by_key(|e| e.len()).unwrap().clone();
        let prefix = &longest[..longest.len() - 1];
        let samples = [
            ".".repeat(2_000),
            prefix.repeat(100),
            format!("{}{longest}", prefix.repeat(100)),
            ".s3.dualstack.ap-northeast-1.amazonaws.co".repeat(50),
            format!("{}.com", "a.".repeat(1_000)),
        ];
        for s in &samples {
            assert_eq!(list.is_in(s), naive_is_in(&entries, s), "{}", &s[..40]);
        }
        // A sign-up name at the body limit: one pass. Before the
        // automaton, 400 KB of dots took about ten seconds in a debug build.
        let started = std::time::Instant::now();
        assert!(!list.is_in(&".".repeat(1 << 20)));
        let _ = list.is_in(&prefix.repeat((1 << 20) / prefix.len()));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn cache_format_and_freshness() {
        let dir = std::env::temp_dir().join(format!("psl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("public-suffixes.txt");
        std::fs::write(&path, ".example\n.test\n\n").unwrap();
        let now = SystemTime::now();

        let fresh = PublicSuffixList::load(Some(&path), now);
        assert_eq!(fresh.source(), &SuffixSource::Cache(path.clone()));
        assert_eq!(fresh.len(), 2);
        assert!(fresh.is_in("a.example"));
        assert!(!fresh.is_in("a.com"));

        let later = now + CACHE_MAX_AGE + Duration::from_secs(60);
        let stale = PublicSuffixList::load(Some(&path), later);
        assert_eq!(stale.source(), &SuffixSource::Bundled);

        std::fs::write(&path, "").unwrap();
        let empty = PublicSuffixList::load(Some(&path), now);
        assert_eq!(empty.source(), &SuffixSource::Bundled);

        let missing = PublicSuffixList::load(Some(&dir.join("nope")), now);
        assert_eq!(missing.source(), &SuffixSource::Bundled);
        assert_eq!(
            PublicSuffixList::load(None, now).source(),
            &SuffixSource::Bundled
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn undotted_cache_entries_still_match() {
        let list = PublicSuffixList::from_cache_text("spam\n.com\n");
        assert!(list.is_in("buy spam now"));
        assert!(list.is_in("x.com"));
        assert!(!list.is_in("ham"));
    }

    #[test]
    fn default_cache_path_shape() {
        if let Some(p) = PublicSuffixList::default_cache_path() {
            assert!(p.ends_with(".cache/authnzerver/public-suffixes.txt"));
        }
    }
}
