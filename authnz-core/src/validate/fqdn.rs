//! The server's fully qualified host name for the password-similarity check
//! (PROTOCOL.md 5.1 check 3), found the way Python's `socket.getfqdn()`
//! would find it, as far as that is possible without calling the C resolver.
//!
//! Upstream calls `socket.getfqdn()`: `gethostname()`, then
//! `gethostbyaddr(hostname)` (forward-resolve the name, reverse-resolve the
//! address), then the first of the canonical name and its aliases that
//! contains a dot, else the canonical name; on any resolver error the plain
//! host name. We do the same against `/etc/hosts` only (glibc's `files`
//! source, which is what answers for the host's own name on almost every
//! machine):
//!
//! 1. host name from `/proc/sys/kernel/hostname`, else `/etc/hostname`;
//! 2. its address: the first `/etc/hosts` line that lists the name
//!    (case-insensitive), in file order;
//! 3. the reverse answer: the first line with that same address; its first
//!    name is the canonical name, the rest are aliases.
//!
//! Approximations: no DNS (a name not in `/etc/hosts` is returned as it is,
//! as if resolution failed); when the name has several addresses, glibc's
//! `getaddrinfo` sorts them (RFC 6724) where we take the first in file
//! order; `host.conf`/`nsswitch.conf` are not read. A deployment that needs
//! a specific value should configure it rather than rely on detection. On
//! this development machine the result equals CPython's (`localhost`,
//! because `/etc/hosts` maps the host name to 127.0.0.1 whose first name is
//! `localhost`), which is upstream's behaviour too.
//!
//! Why not a resolver crate: the rule above needs what C's
//! `gethostbyaddr` returns, the canonical name *and its aliases* (the alias
//! with a dot wins: `10.0.0.5 app app.internal.example` gives
//! `app.internal.example`). No well-kept crate returns that without our own
//! FFI:
//!
//! - `dns-lookup` wraps `getaddrinfo`/`getnameinfo`; `getnameinfo` gives
//!   the canonical name only, so the alias case above would become `app`;
//! - `hickory-resolver` is a DNS client: it answers from DNS servers, not
//!   through the C library's name-service sources, and gives no alias list
//!   for an address either; it would also put network lookups into
//!   start-up;
//! - calling `gethostbyaddr` ourselves needs `unsafe` FFI, which the
//!   workspace forbids (`unsafe_code = "forbid"`);
//! - `gethostname`/`hostname` would replace step 1 only, with the value
//!   `/proc/sys/kernel/hostname` already holds on Linux.
//!
//! So this module keeps its small `/etc/hosts` reader, whose results the
//! tests below pin down.

use std::net::IpAddr;

/// Where the kernel exposes the host name.
const KERNEL_HOSTNAME: &str = "/proc/sys/kernel/hostname";
/// Fallback host-name file.
const ETC_HOSTNAME: &str = "/etc/hostname";
/// The static host table.
const ETC_HOSTS: &str = "/etc/hosts";

/// Detects the FQDN from the files named in the module doc. Never fails:
/// with no readable host name it returns `localhost`.
pub fn detect_fqdn() -> String {
    let hostname = read_first_line(KERNEL_HOSTNAME)
        .or_else(|| read_first_line(ETC_HOSTNAME))
        .unwrap_or_else(|| "localhost".to_owned());
    match std::fs::read_to_string(ETC_HOSTS) {
        Ok(hosts) => fqdn_from_hosts(&hostname, &hosts),
        Err(_) => hostname,
    }
}

fn read_first_line(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// One `/etc/hosts` entry: an address and its names, comments removed.
fn hosts_entries(hosts: &str) -> impl Iterator<Item = (&str, Vec<&str>)> {
    hosts.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_ascii_whitespace();
        let addr = fields.next()?;
        let names: Vec<&str> = fields.collect();
        (!names.is_empty()).then_some((addr, names))
    })
}

fn same_address(x: &str, y: &str) -> bool {
    match (x.parse::<IpAddr>(), y.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => x == y,
    }
}

/// `socket.getfqdn()` for `hostname` given the text of `/etc/hosts`.
pub fn fqdn_from_hosts(hostname: &str, hosts: &str) -> String {
    let addr = hosts_entries(hosts).find_map(|(addr, names)| {
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(hostname))
            .then_some(addr)
    });
    let Some(addr) = addr else {
        return hostname.to_owned();
    };
    let Some((_, names)) = hosts_entries(hosts).find(|(a, _)| same_address(a, addr)) else {
        return hostname.to_owned();
    };
    let canonical = names[0];
    names
        .iter()
        .find(|n| n.contains('.'))
        .unwrap_or(&canonical)
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_layout_gives_localhost() {
        let hosts = "127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n";
        assert_eq!(fqdn_from_hosts("vm", hosts), "localhost");
    }

    #[test]
    fn debian_style_127_0_1_1() {
        let hosts = "127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.com web1\n\n\
                     # The following lines are desirable for IPv6\n::1 localhost ip6-localhost\n";
        assert_eq!(fqdn_from_hosts("web1", hosts), "web1.example.com");
        assert_eq!(fqdn_from_hosts("WEB1", hosts), "web1.example.com");
    }

    #[test]
    fn alias_with_dot_is_preferred() {
        let hosts = "10.0.0.5 app app.internal.example # comment\n";
        assert_eq!(fqdn_from_hosts("app", hosts), "app.internal.example");
    }

    #[test]
    fn docker_style_without_dot() {
        let hosts = "127.0.0.1 localhost\n172.17.0.2\tc0ffee123456\n";
        assert_eq!(fqdn_from_hosts("c0ffee123456", hosts), "c0ffee123456");
    }

    #[test]
    fn unknown_name_is_returned_unchanged() {
        assert_eq!(fqdn_from_hosts("lonely", "127.0.0.1 localhost\n"), "lonely");
        assert_eq!(fqdn_from_hosts("lonely", ""), "lonely");
    }

    #[test]
    fn ipv6_addresses_compare_as_addresses() {
        let hosts = "0:0:0:0:0:0:0:1 loop6.example\n::1 me\n";
        assert_eq!(fqdn_from_hosts("me", hosts), "loop6.example");
    }

    #[test]
    fn detect_does_not_fail() {
        assert!(!detect_fqdn().is_empty());
    }

    /// Compares with CPython on the machine running the tests:
    /// `cargo test -- --ignored fqdn_matches_python`.
    #[test]
    #[ignore = "needs python3; environment-dependent"]
    fn fqdn_matches_python() {
        let out = std::process::Command::new("python3")
            .args(["-c", "import socket; print(socket.getfqdn())"])
            .output()
            .unwrap();
        let want = String::from_utf8(out.stdout).unwrap();
        assert_eq!(detect_fqdn(), want.trim_end());
    }
}
