//! The master list order and this master's command slot, computed exactly like Java
//! `ServerNodeManager.updateMasterNodes` (spec `registry.md` §5).
//!
//! Every master, Java or Rust, takes the commands whose `id % MASTER_SIZE == slot`; if our
//! permutation differed from the Java peers' by one position, two masters would share a slot
//! and another slot would starve. The Java order is an accident of its data structures:
//! children sorted descending, inserted into a `java.util.HashMap`, read back in bucket order,
//! copied into a priority queue whose comparator never reorders. This file reproduces that
//! accident with pure functions ([`master_order`], [`slot_of`], [`compute_slot`]).
//!
//! The ZooKeeper side is [`watch_masters`]: a one-shot child watch on `/nodes/master`;
//! on every membership change (Java's TreeCache ADD/REMOVE, never on data UPDATE) it re-lists,
//! reads each node's data once and recomputes, exactly when a Java master would. It also
//! recomputes when our own IP becomes known (registration) or is withdrawn (deregistration).
//! Java's `/lock/masters` mutex around this is not taken: it excludes nothing that matters
//! (spec §7.1, open question 4).

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use zookeeper_client as zk;

use super::heartbeat::{parse_java_int, Heartbeat, HeartbeatFormat};
use super::{Shared, MASTERS_PATH};

/// Our position among the live masters: process commands with `id % size == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterSlot {
    /// Index of the last decodable master entry whose IP is ours.
    pub index: usize,
    /// Raw number of children of `/nodes/master` (undecodable nodes included).
    pub size: usize,
}

/// Java `String.hashCode` over UTF-16 code units, as an unsigned 32-bit pattern.
pub fn java_string_hash(s: &str) -> u32 {
    s.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(u32::from(unit))
    })
}

/// `HashMap.hash(key)`: the hash code with its high half folded into the low half.
fn spread(h: u32) -> u32 {
    h ^ (h >> 16)
}

/// Java `String.compareTo`: lexicographic over UTF-16 code units.
fn java_compare(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Capacity of a default `java.util.HashMap` after `putIfAbsent` of `hashes` in order:
/// starts at 16, doubles when the size exceeds 0.75 × capacity, and also doubles (instead of
/// tree-ifying) when a bucket already holding 8 entries receives another while the capacity
/// is below 64.
fn java_hashmap_capacity(hashes: &[u32]) -> usize {
    let mut cap = 16usize;
    for (i, &h) in hashes.iter().enumerate() {
        let bucket = |h: u32, cap: usize| (h as usize) & (cap - 1);
        let same_bucket = hashes[..i]
            .iter()
            .filter(|&&other| bucket(other, cap) == bucket(h, cap))
            .count();
        if same_bucket >= 8 && cap < 64 {
            cap *= 2;
        }
        if (i + 1) * 4 > cap * 3 {
            cap *= 2;
        }
    }
    cap
}

/// The iteration order of Java's master map built from `children` of `/nodes/master`:
/// names sorted descending (Java `String.compareTo`), inserted into a `HashMap`, iterated by
/// ascending bucket index with ties in insertion order. Duplicate names are kept once.
pub fn master_order(children: &[String]) -> Vec<String> {
    let mut names: Vec<String> = children.to_vec();
    names.sort_by(|a, b| java_compare(b, a));
    names.dedup();
    hashmap_order(names)
}

/// Bucket-order the already-inserted (descending) names.
fn hashmap_order(inserted: Vec<String>) -> Vec<String> {
    let hashes: Vec<u32> = inserted
        .iter()
        .map(|n| spread(java_string_hash(n)))
        .collect();
    let cap = java_hashmap_capacity(&hashes);
    let mut keyed: Vec<(usize, String)> = hashes
        .iter()
        .map(|&h| (h as usize) & (cap - 1))
        .zip(inserted)
        .collect();
    // Stable: ties keep insertion (descending-name) order, as resizes preserve it.
    keyed.sort_by_key(|(bucket, _)| *bucket);
    keyed.into_iter().map(|(_, name)| name).collect()
}

/// Host part of a master node name as Java `getServerList` derives it:
/// `name.split(":")[0].split("/")` last element.
pub fn host_of(name: &str) -> &str {
    let before_colon = name.split(':').next().unwrap_or(name);
    before_colon.rsplit('/').next().unwrap_or(before_colon)
}

/// Index of the **last** entry of `order` whose host equals `local_ip`
/// (`MasterPriorityQueue`'s host → index map keeps the later position).
pub fn slot_of(order: &[String], local_ip: &str) -> Option<usize> {
    order.iter().rposition(|name| host_of(name) == local_ip)
}

/// What one master node contributed to a recomputation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeData {
    /// Its data as read.
    Read(String),
    /// The read failed (node vanished between listing and reading). Java stops building its
    /// map at the first failed read: this entry and all later ones (descending order) are
    /// left out of the index list.
    Unreadable,
}

/// Outcome of one recomputation: the ordered decodable master list and, if our IP is in it,
/// our slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotComputation {
    /// Decodable masters in Java's order (positions = slots).
    pub servers: Vec<String>,
    /// Raw child count.
    pub size: usize,
    /// Our slot, `None` if no decodable entry carries our IP.
    pub slot: Option<MasterSlot>,
}

/// Full Java recomputation from the children of `/nodes/master` (`children` in any order,
/// each with its data). Heartbeats are decoded strictly with the cluster's field count
/// `fmt`, like the Java peers do. Where Java would throw (unparsable number or port) and
/// leave its slot at a stale value, we skip the entry instead and say so in the log.
pub fn compute_slot(
    children: &[(String, NodeData)],
    fmt: HeartbeatFormat,
    local_ip: &str,
) -> SlotComputation {
    let size = children.len();
    let mut sorted: Vec<&(String, NodeData)> = children.iter().collect();
    sorted.sort_by(|a, b| java_compare(&b.0, &a.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    // Java's map holds the names read before the first failed read.
    let mut inserted: Vec<String> = Vec::with_capacity(sorted.len());
    let mut data_of = std::collections::HashMap::new();
    for (name, data) in sorted {
        match data {
            NodeData::Read(text) => {
                inserted.push(name.clone());
                data_of.insert(name.clone(), text.as_str());
            }
            NodeData::Unreadable => break,
        }
    }
    let mut servers = Vec::with_capacity(inserted.len());
    for name in hashmap_order(inserted) {
        let text = data_of.get(&name).copied().unwrap_or("");
        match Heartbeat::decode_as(text, fmt) {
            Ok(_) => {}
            Err(super::heartbeat::Error::FieldCount { .. }) => {
                tracing::debug!(master = %name, "master heartbeat not decodable with {fmt} fields; skipped as Java peers do");
                continue;
            }
            Err(err) => {
                tracing::warn!(master = %name, error = %err, "master heartbeat unparsable (Java peers fail their slot update on this); skipped");
                continue;
            }
        }
        let port_ok = name
            .split(':')
            .nth(1)
            .is_some_and(|port| parse_java_int(port).is_some());
        if !port_ok {
            tracing::warn!(master = %name, "master node name has no numeric port (Java peers fail their slot update on this); skipped");
            continue;
        }
        servers.push(name);
    }
    let slot = slot_of(&servers, local_ip).map(|index| MasterSlot { index, size });
    SlotComputation {
        servers,
        size,
        slot,
    }
}

/// Runs until the session ends: publishes the raw master list and our slot.
pub(super) async fn watch_masters(shared: Arc<Shared>) {
    let client = shared.client.clone();
    let mut local_ip_rx = shared.local_ip_tx.subscribe();
    loop {
        let (children, watcher) = match client.list_and_watch_children(MASTERS_PATH).await {
            Ok(pair) => pair,
            Err(err) => {
                if matches!(
                    err,
                    zk::Error::SessionExpired | zk::Error::ClientClosed | zk::Error::AuthFailed
                ) {
                    tracing::info!("master watch stopped: ZooKeeper session ended");
                    return;
                }
                tracing::warn!(error = %err, "listing {MASTERS_PATH} failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        publish_masters(&shared, &children);
        let data = read_masters(&client, &children).await;
        let local_ip = local_ip_rx.borrow_and_update().clone();
        publish_slot(&shared, &data, local_ip.as_deref());

        let mut changed = Box::pin(watcher.changed());
        loop {
            tokio::select! {
                event = &mut changed => {
                    if event.event_type == zk::EventType::Session
                        && event.session_state.is_terminated()
                    {
                        tracing::info!(state = ?event.session_state, "master watch stopped");
                        return;
                    }
                    // Node events and non-terminal state events alike: re-list and re-arm.
                    break;
                }
                res = local_ip_rx.changed() => {
                    if res.is_err() {
                        return;
                    }
                    let local_ip = local_ip_rx.borrow_and_update().clone();
                    // Re-read: our own node was just created (or deleted).
                    let children = match client.list_children(MASTERS_PATH).await {
                        Ok(c) => c,
                        Err(err) => {
                            tracing::warn!(error = %err, "listing {MASTERS_PATH} failed");
                            children.clone()
                        }
                    };
                    publish_masters(&shared, &children);
                    let data = read_masters(&client, &children).await;
                    publish_slot(&shared, &data, local_ip.as_deref());
                }
            }
        }
    }
}

fn publish_masters(shared: &Shared, children: &[String]) {
    let mut sorted = children.to_vec();
    sorted.sort_by(|a, b| java_compare(b, a));
    shared.masters_tx.send_if_modified(|current| {
        if *current == sorted {
            false
        } else {
            *current = sorted;
            true
        }
    });
}

async fn read_masters(client: &zk::Client, children: &[String]) -> Vec<(String, NodeData)> {
    let mut out = Vec::with_capacity(children.len());
    for name in children {
        let path = format!("{MASTERS_PATH}/{name}");
        let data = match client.get_data(&path).await {
            Ok((bytes, _)) => NodeData::Read(String::from_utf8_lossy(&bytes).into_owned()),
            Err(err) => {
                tracing::debug!(%path, error = %err, "master node unreadable during recomputation");
                NodeData::Unreadable
            }
        };
        out.push((name.clone(), data));
    }
    out
}

fn publish_slot(shared: &Shared, data: &[(String, NodeData)], local_ip: Option<&str>) {
    let slot = local_ip.and_then(|ip| compute_slot(data, shared.opts.heartbeat, ip).slot);
    let changed = shared.slot_tx.send_if_modified(|current| {
        if *current == slot {
            false
        } else {
            *current = slot;
            true
        }
    });
    if changed {
        match slot {
            Some(s) => tracing::info!(master_size = s.size, slot = s.index, "update master nodes"),
            None => tracing::info!(
                masters = data.len(),
                "update master nodes: no slot for this master"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn ip(n: u32) -> String {
        format!("10.0.0.{n}:5678")
    }

    #[test]
    fn hash_codes_and_buckets_match_the_jvm() {
        let vectors: [(&str, i32, usize, usize); 6] = [
            ("10.0.0.1:5678", -1643427434, 13, 29),
            ("10.0.0.2:5678", -1614798283, 5, 21),
            ("10.0.0.3:5678", -1586169132, 0, 0),
            ("10.0.0.4:5678", -1557539981, 10, 26),
            ("10.0.0.6:5678", -1500281679, 2, 2),
            ("10.0.0.8:5678", -1443023377, 2, 18),
        ];
        for (name, hash, b16, b32) in vectors {
            let h = java_string_hash(name);
            assert_eq!(h as i32, hash, "{name}");
            assert_eq!(spread(h) as usize & 15, b16, "{name}");
            assert_eq!(spread(h) as usize & 31, b32, "{name}");
        }
    }

    #[test]
    fn four_masters() {
        let order = master_order(&names(&[
            "10.0.0.1:5678",
            "10.0.0.2:5678",
            "10.0.0.3:5678",
            "10.0.0.4:5678",
        ]));
        assert_eq!(order, vec![ip(3), ip(2), ip(4), ip(1)]);
        assert_eq!(slot_of(&order, "10.0.0.3"), Some(0));
        assert_eq!(slot_of(&order, "10.0.0.2"), Some(1));
        assert_eq!(slot_of(&order, "10.0.0.4"), Some(2));
        assert_eq!(slot_of(&order, "10.0.0.1"), Some(3));
        assert_eq!(slot_of(&order, "10.0.0.9"), None);
    }

    #[test]
    fn same_bucket_keeps_descending_order_whatever_zk_returns() {
        let a = master_order(&names(&["10.0.0.6:5678", "10.0.0.8:5678"]));
        let b = master_order(&names(&["10.0.0.8:5678", "10.0.0.6:5678"]));
        assert_eq!(a, vec![ip(8), ip(6)]);
        assert_eq!(a, b);
    }

    #[test]
    fn thirteen_masters_resize_to_32() {
        let all: Vec<String> = (1..=13).map(ip).collect();
        let order = master_order(&all);
        let want: Vec<String> = [3, 10, 6, 5, 12, 8, 2, 7, 11, 4, 9, 1, 13]
            .into_iter()
            .map(ip)
            .collect();
        assert_eq!(order, want);
    }

    #[test]
    fn two_masters_on_one_ip_share_the_last_index() {
        let order = master_order(&names(&["10.0.0.1:5678", "10.0.0.1:5679", "10.0.0.2:5678"]));
        assert_eq!(
            order,
            names(&["10.0.0.2:5678", "10.0.0.1:5679", "10.0.0.1:5678"])
        );
        assert_eq!(slot_of(&order, "10.0.0.1"), Some(2));
    }

    #[test]
    fn descending_sort_is_bytewise() {
        // '.' < digits, so "10.0.0.1:" > "10.0.0.10" at the 9th character.
        let mut v = names(&["10.0.0.10:5678", "10.0.0.1:5678"]);
        v.sort_by(|a, b| java_compare(b, a));
        assert_eq!(v, names(&["10.0.0.1:5678", "10.0.0.10:5678"]));
    }

    #[test]
    fn capacity_rules() {
        let hashes: Vec<u32> = (0..12u32).collect();
        assert_eq!(java_hashmap_capacity(&hashes), 16);
        let hashes: Vec<u32> = (0..13u32).collect();
        assert_eq!(java_hashmap_capacity(&hashes), 32);
        // A ninth key in a bucket of a 16-table: treeifyBin resizes to 32 instead.
        let same: Vec<u32> = (0..9u32).map(|i| i << 8).collect();
        assert_eq!(java_hashmap_capacity(&same), 32);
    }

    const HB13: &str = "0.12,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,0";
    const HB14: &str = "0.12,0.43,37.25,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,0";

    #[test]
    fn compute_skips_undecodable_but_counts_them() {
        let children = vec![
            (ip(1), NodeData::Read(HB13.into())),
            (ip(2), NodeData::Read(HB14.into())), // wrong generation
            (ip(3), NodeData::Read(HB13.into())),
            (ip(4), NodeData::Read(String::new())), // reconnect-blank
        ];
        let c = compute_slot(&children, HeartbeatFormat::Fields13, "10.0.0.1");
        assert_eq!(c.servers, vec![ip(3), ip(1)]);
        assert_eq!(c.slot, Some(MasterSlot { index: 1, size: 4 }));
        let c = compute_slot(&children, HeartbeatFormat::Fields13, "10.0.0.2");
        assert_eq!(c.slot, None);
        let c = compute_slot(&children, HeartbeatFormat::Fields14, "10.0.0.2");
        assert_eq!(c.slot, Some(MasterSlot { index: 0, size: 4 }));
    }

    #[test]
    fn compute_stops_at_first_unreadable_in_descending_order() {
        // Descending: .4, .3, .2, .1 — .3 unreadable → only .4 inserted.
        let children = vec![
            (ip(1), NodeData::Read(HB13.into())),
            (ip(2), NodeData::Read(HB13.into())),
            (ip(3), NodeData::Unreadable),
            (ip(4), NodeData::Read(HB13.into())),
        ];
        let c = compute_slot(&children, HeartbeatFormat::Fields13, "10.0.0.4");
        assert_eq!(c.servers, vec![ip(4)]);
        assert_eq!(c.slot, Some(MasterSlot { index: 0, size: 4 }));
        assert_eq!(
            compute_slot(&children, HeartbeatFormat::Fields13, "10.0.0.1").slot,
            None
        );
    }

    #[test]
    fn single_master() {
        let children = vec![(ip(7), NodeData::Read(HB13.into()))];
        let c = compute_slot(&children, HeartbeatFormat::Fields13, "10.0.0.7");
        assert_eq!(c.slot, Some(MasterSlot { index: 0, size: 1 }));
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_of("10.0.0.1:5678"), "10.0.0.1");
        assert_eq!(host_of("a/b/10.0.0.1:5678"), "10.0.0.1");
        assert_eq!(host_of("noport"), "noport");
    }
}
