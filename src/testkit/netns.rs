//! The test network: upstream's Java servers each in a network namespace of their own.
//!
//! Why: a 2.0.x server never advertises a loopback address (`NetUtils.isValidV4Address`
//! rejects it), so a Java worker, API server or master started on the host registers the
//! machine's own external address, and everything that dials it (our master, the test kit)
//! would send test traffic there. Inside a namespace whose only interfaces are `lo` and one
//! veth end, the Java server picks the veth address instead, and all test traffic stays on
//! links that exist only between namespaces this kit made.
//!
//! Layout, one per test process (all names carry the kit's prefix `dsmk` and this process's
//! id in hex, so that leftovers of a crashed run can be told apart and swept):
//!
//! ```text
//!   host namespace                               peer namespaces (one per Java server)
//!   ┌──────────────────────────────┐             ┌───────────────────────────────┐
//!   │ bridge dsmk<pid>r            │  veth pair  │ eth0  198.18.X.n/24           │
//!   │   198.18.X.1/24  ◄───────────┼─────────────┼─► lo                          │
//!   │ MariaDB, ZooKeeper, dsmaster │ dsmk<pid>h<n>  no default route            │
//!   │ and stand-in workers bind    │             │ (nothing beyond the /24)      │
//!   │ here (and on 127.0.0.1)      │             └───────────────────────────────┘
//!   └──────────────────────────────┘
//! ```
//!
//! `198.18.0.0/15` is the range RFC 2544 sets aside for benchmark networks; the kit takes a
//! `/24` of it no interface of this machine already uses. The peers have no default route,
//! so nothing they send can leave the `/24`. Peers reach each other through the bridge (the
//! Java master dials the Java worker), the host-side servers through `198.18.X.1`.
//!
//! Cleanup is layered like the server processes': a [`PeerNs`] is removed on drop (its
//! processes killed first); the bridge goes with a watchdog when this process dies; and the
//! first use in every process sweeps names of the kit whose process is gone.
//!
//! Making namespaces needs `CAP_NET_ADMIN` (root here). Without it [`TestNet::shared`] says
//! why, once, and the Java-peer tests skip themselves (see [`java_peers_unavailable`]); the
//! kit never falls back to the external address.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use super::Error;

/// Every name the kit creates starts with this.
const PREFIX: &str = "dsmk";
/// The benchmark range (`198.18.0.0/15`): the kit uses `198.18.X.0/24` or `198.19.X.0/24`.
const RANGE: [u8; 2] = [198, 18];

/// Waits for the test process to end, then removes this process's namespaces and links.
const WATCHDOG_SCRIPT: &str = r#"parent=$1; links=$2; spaces=$3
alive() {
  state=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -c1)
  case "$state" in ''|Z|X) return 1 ;; esac
}
while alive "$parent"; do sleep 1; done
for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
  case "$ns" in "$spaces"*)
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null ;;
  esac
done
for l in $(ip -o link show 2>/dev/null | cut -d: -f2 | cut -d@ -f1); do
  case "$l" in "$links"*) ip link del "$l" 2>/dev/null ;; esac
done
while iptables -w -D FORWARD -i "${links}r" -o "${links}r" -j ACCEPT 2>/dev/null; do :; done
"#;

/// This process's share of the test network (see the module doc).
#[derive(Debug)]
pub struct TestNet {
    /// `dsmk<pid hex>`: prefix of every link of this process.
    links: String,
    /// `dsmk-<pid>-`: prefix of every namespace of this process.
    spaces: String,
    bridge: String,
    host_ip: Ipv4Addr,
    next_peer: AtomicU32,
}

/// Why the test network cannot be made here, decided once per process.
static SHARED: OnceLock<Result<TestNet, String>> = OnceLock::new();

impl TestNet {
    /// The process's test network, made on first use. `Err` carries the reason it cannot
    /// be made (printed once, on that first use).
    pub fn shared() -> Result<&'static TestNet, Error> {
        let net = SHARED.get_or_init(|| {
            let made = TestNet::make();
            if let Err(why) = &made {
                eprintln!(
                    "dsmaster testkit: no network namespaces ({why}); tests that need upstream's Java servers are skipped"
                );
            }
            made
        });
        net.as_ref()
            .map_err(|why| Error::NoNetworkNamespaces(why.clone()))
    }

    fn make() -> Result<TestNet, String> {
        let pid = std::process::id();
        let links = format!("{PREFIX}{pid:x}");
        let spaces = format!("{PREFIX}-{pid}-");
        sweep_leftovers(pid);
        let bridge = format!("{links}r");
        ip(&["link", "add", "name", &bridge, "type", "bridge"])
            .map_err(|e| format!("cannot create a bridge, so no namespaces either: {e}"))?;
        // From here on the bridge exists: hand it to the watchdog before anything can fail.
        spawn_watchdog(pid, &links, &spaces);
        // Traffic between two peers crosses the bridge; keep a host firewall's FORWARD
        // policy (dockerd sets DROP and loads br_netfilter) out of it. The per-bridge switch
        // is not enough: the kernel filters bridged frames when either it or the global
        // `bridge-nf-call-iptables` is on, so an ACCEPT rule for the bridge goes first too.
        let _ = ip(&[
            "link",
            "set",
            &bridge,
            "type",
            "bridge",
            "nf_call_iptables",
            "0",
        ]);
        accept_bridged(&bridge);
        let host_ip = free_subnet(pid)?;
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        // A namespace of our own proves `ip netns` works before any test relies on it.
        let probe = format!("{spaces}probe");
        ip(&["netns", "add", &probe]).map_err(|e| format!("cannot create a namespace: {e}"))?;
        let _ = ip(&["netns", "del", &probe]);
        tracing::info!(%host_ip, bridge, "test network ready");
        Ok(TestNet {
            links,
            spaces,
            bridge,
            host_ip,
            next_peer: AtomicU32::new(2),
        })
    }

    /// The host side of every peer link: where MariaDB, ZooKeeper, our master and stand-in
    /// workers listen for the Java servers.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// Whether `ip` is on this process's test link (the bridge or a peer).
    pub fn owns(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4.octets()[..3] == self.host_ip.octets()[..3],
            IpAddr::V6(_) => false,
        }
    }

    /// A fresh namespace with one veth link to the bridge and its own address.
    pub fn peer(&'static self, label: &str) -> Result<PeerNs, Error> {
        let n = self.next_peer.fetch_add(1, Ordering::Relaxed);
        if n > 254 {
            return Err(Error::Fixture(
                "test network: more than 253 peer namespaces in one process".into(),
            ));
        }
        let [a, b, c, _] = self.host_ip.octets();
        let peer_ip = Ipv4Addr::new(a, b, c, n as u8);
        let ns = PeerNs {
            name: format!("{}{n}", self.spaces),
            host_veth: format!("{}h{n}", self.links),
            ip: peer_ip,
            label: label.to_string(),
        };
        let inner = format!("{}p{n}", self.links);
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &ns.name])?;
            ip(&[
                "link",
                "add",
                &ns.host_veth,
                "type",
                "veth",
                "peer",
                "name",
                &inner,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns.name])?;
            ip(&["-n", &ns.name, "link", "set", &inner, "name", "eth0"])?;
            ip(&[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{peer_ip}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns.name, "link", "set", "eth0", "up"])?;
            ip(&["link", "set", &ns.host_veth, "master", &self.bridge])?;
            ip(&["link", "set", &ns.host_veth, "up"])?;
            Ok(())
        };
        // On failure `ns` drops here and removes what was made.
        setup().map_err(|e| Error::Fixture(format!("test network: namespace for {label}: {e}")))?;
        tracing::info!(namespace = ns.name, ip = %peer_ip, label, "peer namespace ready");
        Ok(ns)
    }
}

/// One namespace holding one peer (a Java server), removed on drop.
#[derive(Debug)]
pub struct PeerNs {
    name: String,
    host_veth: String,
    ip: Ipv4Addr,
    label: String,
}

impl PeerNs {
    /// The namespace's only non-loopback address: what the Java server inside registers.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The namespace's name (`ip netns exec <name> …`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` run inside the namespace (`ip netns exec` execs it, so the child's pid is
    /// the program's own).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Cuts the peer's link (host side down): a network partition of this peer alone; its
    /// processes keep running and its connections stall until [`PeerNs::heal`].
    pub fn cut(&self) -> Result<(), Error> {
        ip(&["link", "set", &self.host_veth, "down"])
            .map_err(|e| Error::Fixture(format!("cutting {}'s link: {e}", self.label)))
    }

    /// Undoes [`PeerNs::cut`].
    pub fn heal(&self) -> Result<(), Error> {
        ip(&["link", "set", &self.host_veth, "up"])
            .map_err(|e| Error::Fixture(format!("healing {}'s link: {e}", self.label)))
    }
}

impl Drop for PeerNs {
    fn drop(&mut self) {
        // Anything still inside would keep the namespace (and its address) alive.
        if let Ok(out) = std::process::Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stderr(Stdio::null())
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_veth]);
    }
}

/// Why the Java-peer tests cannot run here, if they cannot: call at the top of such a test
/// and return early (after printing the reason) when it says something.
pub fn java_peers_unavailable() -> Option<String> {
    TestNet::shared().err().map(|e| e.to_string())
}

/// For the top of a test that needs upstream's Java servers: `true` (after printing why)
/// when this machine cannot make network namespaces and the test should return at once.
pub fn skip_java_peer_test(test: &str) -> bool {
    match java_peers_unavailable() {
        Some(why) => {
            eprintln!("test {test} skipped: {why}");
            true
        }
        None => false,
    }
}

/// Whether `ip` is one a test may see in a registry node or a `host` column: loopback, or
/// an address of this process's test network.
pub fn is_test_address(ip: IpAddr) -> bool {
    ip.is_loopback()
        || SHARED
            .get()
            .and_then(|n| n.as_ref().ok())
            .is_some_and(|n| n.owns(ip))
}

/// Every dotted-quad IPv4 address in `text` (`ip:port`, `master_ip:port`, a path…).
pub fn ipv4_in(text: &str) -> Vec<Ipv4Addr> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit()
            || (i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .map_or(bytes.len(), |n| i + n);
        let candidate = text[i..end].trim_end_matches('.');
        if let Ok(ip) = candidate.parse::<Ipv4Addr>() {
            found.push(ip);
        }
        i = end.max(i + 1);
    }
    found
}

/// Runs `ip <args>` to completion; `Err` is its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip` (install iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip_output(args: &[&str]) -> String {
    std::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the command name's closing parenthesis.
        Ok(stat) => !matches!(
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next()),
            None | Some('Z') | Some('X')
        ),
        Err(_) => false,
    }
}

/// The owning pid of a kit name: `dsmk<hex>[rhp]…` (links) or `dsmk-<dec>-…` (namespaces).
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    if let Some(spaces) = rest.strip_prefix('-') {
        return spaces.split('-').next()?.parse().ok();
    }
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    let kind = rest[hex.len()..].chars().next()?;
    matches!(kind, 'r' | 'h' | 'p')
        .then(|| u32::from_str_radix(&hex, 16).ok())
        .flatten()
}

/// Removes kit namespaces and links whose process is gone (what a crashed run left behind;
/// the first use of the test network in every process does this too).
pub fn sweep() {
    sweep_leftovers(0)
}

/// Removes kit namespaces and links whose process is gone, or which carry this process's
/// id `me` but predate it (a recycled pid): nothing of this process exists yet when it runs.
fn sweep_leftovers(me: u32) {
    let stale = |name: &str| owner(name).is_some_and(|pid| pid == me || !alive(pid));
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        if stale(ns) {
            tracing::warn!(
                namespace = ns,
                "removing a test namespace left by a crashed run"
            );
            let _ = ip(&["netns", "del", ns]);
        }
    }
    for line in ip_output(&["-o", "link", "show"]).lines() {
        let Some(name) = line
            .split(':')
            .nth(1)
            .map(|n| n.trim().split('@').next().unwrap_or(""))
        else {
            continue;
        };
        if stale(name) {
            tracing::warn!(link = name, "removing a test link left by a crashed run");
            let _ = ip(&["link", "del", name]);
        }
    }
    sweep_forward_rules(stale);
}

/// The `iptables` words of the rule that lets frames between two ports of `bridge` pass.
fn forward_rule(bridge: &str) -> [&str; 6] {
    ["-i", bridge, "-o", bridge, "-j", "ACCEPT"]
}

/// Puts the bridge's ACCEPT rule first in `FORWARD`. Best effort: without `iptables` there
/// is no such firewall to get past, and a refusal is logged, as the tests' first
/// connection timeouts would otherwise be the only sign.
fn accept_bridged(bridge: &str) {
    let mut args = vec!["-w", "-I", "FORWARD", "1"];
    args.extend(forward_rule(bridge));
    match std::process::Command::new("iptables").args(&args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => tracing::warn!(
            bridge,
            error = %String::from_utf8_lossy(&out.stderr).trim(),
            "cannot exempt the test bridge from the FORWARD chain; a DROP policy there cuts peers off"
        ),
        Err(e) => {
            tracing::debug!(error = %e, "no iptables here; nothing to exempt the bridge from")
        }
    }
}

/// Deletes FORWARD rules for the bridges of kit processes that are gone.
fn sweep_forward_rules(stale: impl Fn(&str) -> bool) {
    let Ok(out) = std::process::Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(bridge) = words
            .iter()
            .position(|w| *w == "-i")
            .and_then(|i| words.get(i + 1))
        else {
            continue;
        };
        let ours = words.len() == 8
            && words[..2] == ["-A", "FORWARD"]
            && words[2..] == forward_rule(bridge);
        if ours && stale(bridge) {
            let mut args = vec!["-w", "-D", "FORWARD"];
            args.extend(forward_rule(bridge));
            let _ = std::process::Command::new("iptables")
                .args(&args)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The first `/24` of the benchmark range no local interface uses, starting at one picked
/// from the pid so that two test processes rarely probe the same one; returns its `.1`.
fn free_subnet(pid: u32) -> Result<Ipv4Addr, String> {
    let used: Vec<Ipv4Addr> = ip_output(&["-o", "-4", "addr", "show"])
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect();
    let start = pid % 512;
    for i in 0..512 {
        let slot = (start + i) % 512;
        let candidate = Ipv4Addr::new(
            RANGE[0],
            RANGE[1] + (slot / 256) as u8,
            (slot % 256) as u8,
            1,
        );
        if !used
            .iter()
            .any(|u| u.octets()[..3] == candidate.octets()[..3])
        {
            return Ok(candidate);
        }
    }
    Err("every /24 of 198.18.0.0/15 is in use on this machine".into())
}

fn spawn_watchdog(pid: u32, links: &str, spaces: &str) {
    let spawned = std::process::Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("dsmaster-testnet-watchdog")
        .arg(pid.to_string())
        .arg(links)
        .arg(spaces)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group, so the Ctrl-C that stops the tests leaves it to clean up.
        .process_group(0)
        .spawn();
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no test-network watchdog; the next run's sweep removes the bridge");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner() {
        assert_eq!(owner("dsmk1a2br"), Some(0x1a2b));
        assert_eq!(owner("dsmk1a2bh17"), Some(0x1a2b));
        assert_eq!(owner("dsmkffp3"), Some(0xff));
        assert_eq!(owner("dsmk-4242-7"), Some(4242));
        assert_eq!(owner("dsmk-4242-probe"), Some(4242));
        assert_eq!(owner("dsmk12x"), None);
        assert_eq!(owner("eth0"), None);
        assert_eq!(owner("docker0"), None);
    }

    #[test]
    fn addresses_are_found_in_node_names_and_columns() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().expect("ip");
        assert_eq!(
            ipv4_in("/dolphinscheduler/dead-servers/master_192.0.2.2:5678"),
            [ip("192.0.2.2")]
        );
        assert_eq!(
            ipv4_in("198.18.3.4:1234,127.0.0.1:5"),
            [ip("198.18.3.4"), ip("127.0.0.1")]
        );
        assert!(ipv4_in("0.25,0.5,1.2.3,2026-12-05 10:00:00").is_empty());
        assert!(ipv4_in("1.2.3.4.5").is_empty());
    }

    #[test]
    fn loopback_is_always_a_test_address() {
        assert!(is_test_address("127.0.0.1".parse().expect("ip")));
        assert!(is_test_address("::1".parse().expect("ip")));
        assert!(!is_test_address("192.0.2.2".parse().expect("ip")));
    }
}
