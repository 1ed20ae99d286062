//! Our own IP address, chosen exactly as an upstream server chooses its own.
//!
//! A DolphinScheduler server never reads its address from configuration: it computes it
//! (upstream `NetUtils.getHost()`) and uses `ip:port` as its identity in ZooKeeper, in
//! `t_ds_process_instance.host` and for slot sharding. If the Rust master picked a
//! different address than a Java master on the same machine would, the API server could
//! not reach it and the masters would disagree about slots, so this file reproduces the
//! rule (an operator can still pin the result with `dsmaster.host`).
//!
//! The rule (2.0.x, unchanged across 2.0.0–2.0.9):
//!
//! 1. Enumerate network interfaces in the order the JVM reports them on Linux, and keep
//!    the *valid* ones: not loopback, not a virtual (alias) interface, and up (`IFF_UP`
//!    and `IFF_RUNNING`, i.e. administratively up with operstate `up` or `unknown`).
//! 2. If `dolphin.scheduler.network.interface.preferred` (common.properties) equals the
//!    name of a valid interface, use that interface.
//! 3. Otherwise apply `dolphin.scheduler.network.priority.strategy` (case-insensitive):
//!    * `inner`: the **last** valid interface (in JVM order) that has a site-local address
//!      (10/8, 172.16/12, 192.168/16, or IPv6 `fec0::/10`);
//!    * `outer`: the last valid interface that has a non-site-local, non-loopback address
//!      (an IPv6 link-local `fe80::` address counts);
//!    * `default` (also when the key is absent): `inner`, else `outer`, else the first
//!      valid interface;
//!    * anything else: no interface (upstream logs an error and falls through to step 5).
//! 4. On that interface, take the first address (JVM order) that is IPv4, not loopback,
//!    not `0.0.0.0`, and *reachable* within 200 ms (Java `isReachable`: for a local address
//!    that means a TCP connect to port 7 succeeds or is refused).
//! 5. Otherwise resolve the machine's host name (Java `InetAddress.getLocalHost()`) and use
//!    the result if it is a non-loopback IPv4 address.
//! 6. Otherwise `127.0.0.1`.
//!
//! "JVM order" on Linux is the reverse of the kernel's: the JDK builds its interface list
//! by prepending each interface as it first appears in the IPv4 enumeration (devices by
//! index, addresses in the kernel's per-device order), then prepends interfaces that only
//! have IPv6 addresses (from `/proc/net/if_inet6`), and within one interface it prepends
//! every address, IPv6 after IPv4. So "last in JVM order" is "first by interface index",
//! and on an interface with two IPv4 addresses the *later* one (e.g. a secondary) wins.
//! Addresses of alias labels (`eth0:1`) belong to their parent device.
//!
//! Enumeration without `unsafe`: device names, indices, flags and operstate come from
//! `/sys/class/net`; IPv4 addresses from `ip -o -4 addr show` (iproute2), or when that is
//! unavailable from `/proc/net/fib_trie` mapped onto devices through `/proc/net/route`;
//! IPv6 addresses from `/proc/net/if_inet6`.
//!
//! Not reproduced: upstream's Kubernetes mode (when `KUBERNETES_SERVICE_HOST` and
//! `KUBERNETES_SERVICE_PORT` are set, Java advertises a reverse-DNS name instead of an IP);
//! set `dsmaster.host` there. `java.net.preferIPv6Addresses` is assumed false (its default).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use super::Error;

/// `dolphin.scheduler.network.priority.strategy` values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkPriority {
    /// `default`: site-local first, then public, then the first valid interface.
    #[default]
    Default,
    /// `inner`: site-local addresses only.
    Inner,
    /// `outer`: non-site-local addresses only.
    Outer,
    /// Any other text; upstream then chooses no interface (host-name lookup only).
    Unrecognized(String),
}

impl NetworkPriority {
    /// Parses the property text (case-insensitive, surrounding blanks ignored).
    pub fn parse(text: &str) -> NetworkPriority {
        let t = text.trim();
        if t.eq_ignore_ascii_case("default") {
            NetworkPriority::Default
        } else if t.eq_ignore_ascii_case("inner") {
            NetworkPriority::Inner
        } else if t.eq_ignore_ascii_case("outer") {
            NetworkPriority::Outer
        } else {
            NetworkPriority::Unrecognized(t.to_string())
        }
    }
}

/// One network interface as the JVM would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Device name (`eth0`).
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// `IFF_UP` and `IFF_RUNNING`.
    pub up: bool,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// Alias interface (Java `isVirtual`); never true for devices we enumerate.
    pub virtual_: bool,
    /// Addresses in JVM order (IPv6 first, each family reversed from kernel order).
    pub addrs: Vec<IpAddr>,
}

/// Our advertised IP as upstream computes it, with the `default` priority strategy.
///
/// `preferred_interface` is `dolphin.scheduler.network.interface.preferred`. Falls back to
/// `127.0.0.1` (with a warning) when no usable address exists. See the module doc for the
/// full rule; [`local_ip_with`] also takes the priority strategy.
pub fn local_ip(preferred_interface: Option<&str>) -> Result<IpAddr, Error> {
    local_ip_with(preferred_interface, &NetworkPriority::Default)
}

/// [`local_ip`] with an explicit `dolphin.scheduler.network.priority.strategy`.
pub fn local_ip_with(
    preferred_interface: Option<&str>,
    strategy: &NetworkPriority,
) -> Result<IpAddr, Error> {
    if let NetworkPriority::Unrecognized(s) = strategy {
        tracing::error!(
            strategy = %s,
            "dolphin.scheduler.network.priority.strategy is not default, inner or outer; like upstream, no interface is chosen"
        );
    }
    let interfaces = list_interfaces();
    tracing::debug!(?interfaces, "network interfaces in JVM order");
    let chosen = choose_address(
        &interfaces,
        preferred_interface,
        strategy,
        is_reachable,
        resolve_local_host,
    );
    Ok(match chosen {
        Some(ip) => ip,
        None => {
            tracing::warn!(
                "no usable non-loopback IPv4 address found; advertising 127.0.0.1 as upstream would (set dsmaster.host to override)"
            );
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    })
}

/// The selection rule on an already enumerated interface list (JVM order), with the
/// reachability probe and host-name lookup injected. `None` means "use 127.0.0.1".
pub fn choose_address(
    interfaces: &[Interface],
    preferred_interface: Option<&str>,
    strategy: &NetworkPriority,
    reachable: impl Fn(IpAddr) -> bool,
    local_host: impl FnOnce() -> Option<IpAddr>,
) -> Option<IpAddr> {
    let valid: Vec<&Interface> = interfaces
        .iter()
        .filter(|i| !i.loopback && !i.virtual_ && i.up)
        .collect();
    let preferred = preferred_interface.map(str::trim).filter(|p| !p.is_empty());
    let chosen = preferred
        .and_then(|p| valid.iter().copied().find(|i| i.name == p))
        .or_else(|| find_by_strategy(&valid, strategy));
    if let Some(iface) = chosen {
        for &addr in &iface.addrs {
            if is_valid_v4(addr) && reachable(addr) {
                return Some(addr);
            }
        }
    }
    local_host().filter(|a| is_valid_v4(*a))
}

fn find_by_strategy<'a>(
    valid: &[&'a Interface],
    strategy: &NetworkPriority,
) -> Option<&'a Interface> {
    if valid.is_empty() {
        return None;
    }
    match strategy {
        NetworkPriority::Inner => last_with(valid, is_site_local),
        NetworkPriority::Outer => last_with(valid, |a| !is_site_local(a)),
        NetworkPriority::Default => last_with(valid, is_site_local)
            .or_else(|| last_with(valid, |a| !is_site_local(a)))
            .or_else(|| valid.first().copied()),
        NetworkPriority::Unrecognized(_) => None,
    }
}

/// The last interface having a non-loopback address that satisfies `pred`.
fn last_with<'a>(valid: &[&'a Interface], pred: impl Fn(IpAddr) -> bool) -> Option<&'a Interface> {
    valid
        .iter()
        .rev()
        .find(|i| i.addrs.iter().any(|&a| !a.is_loopback() && pred(a)))
        .copied()
}

/// Java `isSiteLocalAddress`: RFC 1918 for IPv4, `fec0::/10` for IPv6.
fn is_site_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfec0,
    }
}

fn is_valid_v4(addr: IpAddr) -> bool {
    matches!(addr, IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified())
}

/// Java `InetAddress.isReachable(200)` towards one of our own addresses: a TCP connect to
/// the echo port that succeeds or is refused means reachable.
fn is_reachable(addr: IpAddr) -> bool {
    match TcpStream::connect_timeout(&SocketAddr::new(addr, 7), Duration::from_millis(200)) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// Java `InetAddress.getLocalHost()`: the host name resolved, IPv4 preferred.
fn resolve_local_host() -> Option<IpAddr> {
    let name = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())?;
    let addrs: Vec<IpAddr> = (name.as_str(), 0u16)
        .to_socket_addrs()
        .ok()?
        .map(|sa| sa.ip())
        .collect();
    addrs
        .iter()
        .copied()
        .find(IpAddr::is_ipv4)
        .or_else(|| addrs.first().copied())
}

/// Device facts from `/sys/class/net/<name>`.
#[derive(Debug, Clone)]
struct Device {
    name: String,
    index: u32,
    up: bool,
    loopback: bool,
}

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;

fn read_devices(sys: &Path) -> BTreeMap<String, Device> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(sys) else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).unwrap_or_default();
        let index = read("ifindex").trim().parse().unwrap_or(u32::MAX);
        let flags =
            u32::from_str_radix(read("flags").trim().trim_start_matches("0x"), 16).unwrap_or(0);
        let oper = read("operstate").trim().to_string();
        let running = oper == "up" || oper == "unknown";
        out.insert(
            name.clone(),
            Device {
                name,
                index,
                up: flags & IFF_UP != 0 && running,
                loopback: flags & IFF_LOOPBACK != 0,
            },
        );
    }
    out
}

/// Parses `ip -o -4 addr show` output into (device, address) in output order.
fn parse_ip_addr_output(text: &str) -> Vec<(String, Ipv4Addr)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let Some(pos) = toks.iter().position(|t| *t == "inet") else {
            continue;
        };
        if pos < 1 {
            continue;
        }
        let dev = toks[pos - 1].split('@').next().unwrap_or("").to_string();
        let Some(addr) = toks
            .get(pos + 1)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        if !dev.is_empty() {
            out.push((dev, addr));
        }
    }
    out
}

/// Local IPv4 addresses from `/proc/net/fib_trie` (the `Local:` table's `/32 host LOCAL`
/// entries), each attributed to the device of the most specific connected route in
/// `/proc/net/route` that contains it (`127.*` → the loopback device).
fn parse_fib_trie(fib_trie: &str, route: &str, loopback_name: &str) -> Vec<(String, Ipv4Addr)> {
    let mut locals = Vec::new();
    let mut in_local = false;
    let mut last_addr: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        if !line.starts_with(' ') {
            in_local = line.trim_end_matches(':') == "Local";
            continue;
        }
        if !in_local {
            continue;
        }
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            last_addr = a.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last_addr {
                if !locals.contains(&a) {
                    locals.push(a);
                }
            }
        }
    }
    let routes: Vec<(String, u32, u32)> = route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let gw = u32::from_str_radix(f.get(2)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // /proc/net/route prints the in-memory (network-order) bytes as a native
            // integer; recover the numeric IPv4 value.
            let numeric = |v: u32| u32::from_be_bytes(v.to_ne_bytes());
            (gw == 0).then(|| (f[0].to_string(), numeric(dest), numeric(mask)))
        })
        .collect();
    let mut out = Vec::new();
    for a in locals {
        if a.is_loopback() {
            out.push((loopback_name.to_string(), a));
            continue;
        }
        let n = u32::from(a);
        let best = routes
            .iter()
            .filter(|(_, dest, mask)| *mask != 0 && n & mask == *dest)
            .max_by_key(|(_, _, mask)| mask.count_ones());
        if let Some((dev, _, _)) = best {
            out.push((dev.clone(), a));
        }
    }
    out
}

/// Parses `/proc/net/if_inet6` into (device, address) in file order.
fn parse_if_inet6(text: &str) -> Vec<(String, Ipv6Addr)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = f.first()?;
            let dev = f.get(5)?;
            let v = u128::from_str_radix(hex, 16).ok()?;
            Some((dev.to_string(), Ipv6Addr::from(v)))
        })
        .collect()
}

/// Builds the JVM-ordered interface list from kernel-ordered facts (see the module doc).
fn jvm_order(
    devices: &BTreeMap<String, Device>,
    mut v4: Vec<(String, Ipv4Addr)>,
    v6: Vec<(String, Ipv6Addr)>,
) -> Vec<Interface> {
    let index_of = |name: &str| devices.get(name).map_or(u32::MAX, |d| d.index);
    v4.sort_by_key(|(dev, _)| index_of(dev)); // stable: keeps per-device address order
    let mut list: Vec<Interface> = Vec::new(); // in JVM order (front = most recently prepended)
    let add = |list: &mut Vec<Interface>, dev: &str, addr: IpAddr| {
        if let Some(existing) = list.iter_mut().find(|i| i.name == dev) {
            existing.addrs.insert(0, addr);
            return;
        }
        let d = devices.get(dev);
        list.insert(
            0,
            Interface {
                name: dev.to_string(),
                index: d.map_or(0, |d| d.index),
                up: d.map_or(true, |d| d.up),
                loopback: d.map_or(addr.is_loopback(), |d| d.loopback),
                virtual_: false,
                addrs: vec![addr],
            },
        );
    };
    for (dev, a) in v4 {
        add(&mut list, &dev, IpAddr::V4(a));
    }
    for (dev, a) in v6 {
        add(&mut list, &dev, IpAddr::V6(a));
    }
    list
}

/// Enumerates this machine's interfaces in JVM order (empty if nothing can be read).
pub fn list_interfaces() -> Vec<Interface> {
    let devices = read_devices(Path::new("/sys/class/net"));
    let mut v4 = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| parse_ip_addr_output(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_default();
    if v4.is_empty() {
        let lo = devices
            .values()
            .find(|d| d.loopback)
            .map_or("lo".to_string(), |d| d.name.clone());
        let fib = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
        let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        v4 = parse_fib_trie(&fib, &route, &lo);
    }
    let v6 = parse_if_inet6(&std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default());
    jvm_order(&devices, v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, index: u32, addrs: &[&str]) -> Interface {
        Interface {
            name: name.into(),
            index,
            up: true,
            loopback: name == "lo",
            virtual_: false,
            addrs: addrs.iter().map(|a| a.parse().expect("ip")).collect(),
        }
    }

    fn pick(list: &[Interface], preferred: Option<&str>, s: &NetworkPriority) -> Option<IpAddr> {
        choose_address(list, preferred, s, |_| true, || None)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn only_loopback_gives_none_then_hostname_rule() {
        let list = vec![iface("lo", 1, &["127.0.0.1", "::1"])];
        assert_eq!(pick(&list, None, &NetworkPriority::Default), None);
        let via_host = choose_address(
            &list,
            None,
            &NetworkPriority::Default,
            |_| true,
            || ip("10.1.1.1"),
        );
        assert_eq!(via_host, ip("10.1.1.1"));
        let loop_host = choose_address(
            &list,
            None,
            &NetworkPriority::Default,
            |_| true,
            || ip("127.0.1.1"),
        );
        assert_eq!(loop_host, None);
    }

    #[test]
    fn default_prefers_site_local_and_last_in_jvm_order() {
        // JVM order: eth1 (index 3) before eth0 (index 2); both site-local → the last = eth0
        let list = vec![
            iface("eth1", 3, &["fe80::2", "192.168.1.5"]),
            iface("eth0", 2, &["fe80::1", "10.0.0.5"]),
            iface("lo", 1, &["::1", "127.0.0.1"]),
        ];
        assert_eq!(pick(&list, None, &NetworkPriority::Default), ip("10.0.0.5"));
        assert_eq!(
            pick(&list, Some("eth1"), &NetworkPriority::Default),
            ip("192.168.1.5")
        );
        // preferring an unknown or loopback interface falls back to the strategy
        assert_eq!(
            pick(&list, Some("lo"), &NetworkPriority::Default),
            ip("10.0.0.5")
        );
        assert_eq!(
            pick(&list, Some(""), &NetworkPriority::Default),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn outer_and_inner_strategies() {
        let list = vec![
            iface("eth1", 3, &["203.0.113.7"]),
            iface("eth0", 2, &["172.17.0.2"]),
        ];
        assert_eq!(
            pick(&list, None, &NetworkPriority::Outer),
            ip("203.0.113.7")
        );
        assert_eq!(pick(&list, None, &NetworkPriority::Inner), ip("172.17.0.2"));
        assert_eq!(
            pick(&list, None, &NetworkPriority::Unrecognized("x".into())),
            None
        );
        // no site-local anywhere: default falls to outer
        let public = vec![iface("eth0", 4, &["192.0.2.2"])];
        assert_eq!(
            pick(&public, None, &NetworkPriority::Default),
            ip("192.0.2.2")
        );
        assert_eq!(pick(&public, None, &NetworkPriority::Inner), None);
    }

    #[test]
    fn ipv6_link_local_counts_as_outer_but_is_never_used() {
        // eth1 has only IPv6 link-local; eth0 only a public v4. Outer = last = eth0.
        let list = vec![
            iface("eth1", 3, &["fe80::9"]),
            iface("eth0", 2, &["198.51.100.1"]),
        ];
        assert_eq!(
            pick(&list, None, &NetworkPriority::Default),
            ip("198.51.100.1")
        );
        // Only the v6-only interface qualifies → no v4 on it → host-name rule.
        let list = vec![iface("eth1", 3, &["fe80::9"])];
        assert_eq!(pick(&list, None, &NetworkPriority::Default), None);
    }

    #[test]
    fn down_and_unreachable_are_skipped() {
        let mut down = iface("eth1", 3, &["10.9.9.9"]);
        down.up = false;
        let list = vec![down, iface("eth0", 2, &["10.0.0.1", "10.0.0.2"])];
        assert_eq!(pick(&list, None, &NetworkPriority::Default), ip("10.0.0.1"));
        let not_first = choose_address(
            &list,
            None,
            &NetworkPriority::Default,
            |a| a != "10.0.0.1".parse::<IpAddr>().expect("ip"),
            || None,
        );
        assert_eq!(not_first, ip("10.0.0.2"));
    }

    #[test]
    fn jvm_order_reverses_kernel_order() {
        let mut devices = BTreeMap::new();
        for (name, index, lo) in [
            ("lo", 1, true),
            ("eth0", 2, false),
            ("eth1", 3, false),
            ("wg0", 4, false),
        ] {
            devices.insert(
                name.to_string(),
                Device {
                    name: name.into(),
                    index,
                    up: true,
                    loopback: lo,
                },
            );
        }
        let v4 = vec![
            ("eth1".to_string(), Ipv4Addr::new(192, 168, 0, 1)),
            ("lo".to_string(), Ipv4Addr::LOCALHOST),
            ("eth0".to_string(), Ipv4Addr::new(10, 0, 0, 1)),
            ("eth0".to_string(), Ipv4Addr::new(10, 0, 0, 2)),
        ];
        let v6 = vec![
            ("eth0".to_string(), "fe80::1".parse().expect("v6")),
            ("wg0".to_string(), "fd00::1".parse().expect("v6")),
        ];
        let list = jvm_order(&devices, v4, v6);
        let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["wg0", "eth1", "eth0", "lo"]);
        let eth0 = &list[2];
        assert_eq!(
            eth0.addrs,
            vec![
                "fe80::1".parse::<IpAddr>().expect("ip"),
                "10.0.0.2".parse().expect("ip"),
                "10.0.0.1".parse().expect("ip")
            ]
        );
        // the secondary address wins on eth0, and eth0 (lowest index) wins among site-local
        assert_eq!(pick(&list, None, &NetworkPriority::Default), ip("10.0.0.2"));
    }

    #[test]
    fn parsers() {
        let ip_out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                      4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n\
                      4: eth0    inet 192.0.2.3/24 scope global secondary eth0:1\\       valid_lft forever\n\
                      7: veth1@if6    inet 10.1.0.1/16 scope global veth1\\ valid_lft forever\n";
        let parsed = parse_ip_addr_output(ip_out);
        assert_eq!(
            parsed,
            vec![
                ("lo".to_string(), Ipv4Addr::LOCALHOST),
                ("eth0".to_string(), Ipv4Addr::new(192, 0, 2, 2)),
                ("eth0".to_string(), Ipv4Addr::new(192, 0, 2, 3)),
                ("veth1".to_string(), Ipv4Addr::new(10, 1, 0, 1)),
            ]
        );
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 04 40 20 80     eth0\n";
        let v6 = parse_if_inet6(inet6);
        assert_eq!(v6[1], ("eth0".to_string(), "fe80::1".parse().expect("v6")));

        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 192.0.2.2\n        /32 host LOCAL\nLocal:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.0.2.0\n        /24 link UNICAST\n     |-- 192.0.2.2\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\n";
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let got = parse_fib_trie(fib, route, "lo");
        if cfg!(target_endian = "little") {
            assert_eq!(
                got,
                vec![
                    ("lo".to_string(), Ipv4Addr::LOCALHOST),
                    ("eth0".to_string(), Ipv4Addr::new(192, 0, 2, 2)),
                ]
            );
        }
    }

    #[test]
    fn strategy_parsing() {
        assert_eq!(NetworkPriority::parse(" INNER "), NetworkPriority::Inner);
        assert_eq!(NetworkPriority::parse("Outer"), NetworkPriority::Outer);
        assert_eq!(NetworkPriority::parse("default"), NetworkPriority::Default);
        assert_eq!(
            NetworkPriority::parse("x"),
            NetworkPriority::Unrecognized("x".into())
        );
    }

    /// This machine's real interface list through the rule; the reachability probe (a TCP
    /// connect to port 7 of the chosen address) is stubbed so the test sends nothing to
    /// the machine's external address.
    #[test]
    fn this_machines_interfaces_give_an_ipv4() {
        let interfaces = list_interfaces();
        let chosen = choose_address(
            &interfaces,
            None,
            &NetworkPriority::Default,
            |_| true,
            || None,
        )
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(chosen.is_ipv4(), "{chosen}");
    }
}
