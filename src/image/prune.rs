//! `image prune`: per (schematic, arch), keep the N newest snapshots and delete the rest,
//! except those a server was created from, those with delete protection and those still
//! being created.
//!
//! The choice is a pure function ([`select`]) over what [`super::list`] read, so the rules
//! are tested without an API; [`prune`] then deletes what it chose (or, with `dry_run`,
//! nothing) and reports every snapshot with what happened to it.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use hcloud::models::image::Status;
use serde::Serialize;

use super::list::Snapshot;
use crate::hcloud::Client;

/// Why a snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum KeepReason {
    /// It is among the N newest available snapshots of its (schematic, arch); `rank` 1 is
    /// the newest.
    Newest {
        /// Its place, newest first.
        rank: usize,
    },
    /// Servers were created from it (deleting it would leave them without a rebuild source).
    InUse {
        /// The servers' names.
        servers: Vec<String>,
    },
    /// Delete protection is on.
    Protected,
    /// It is still being created (another run may be building it).
    Creating,
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::Newest { rank } => write!(f, "newest #{rank}"),
            KeepReason::InUse { servers } => write!(f, "used by {}", servers.join(", ")),
            KeepReason::Protected => f.write_str("delete protection on"),
            KeepReason::Creating => f.write_str("still being created"),
        }
    }
}

/// What [`select`] decided for one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Every reason to keep it; empty means delete.
    pub keep: Vec<KeepReason>,
}

impl Decision {
    /// Returns true if and only if the snapshot is to be deleted.
    pub fn delete(&self) -> bool {
        self.keep.is_empty()
    }
}

/// Decides, for each of `snapshots`, whether it stays: within each (schematic, arch) the
/// `keep` newest available ones stay, and so does every one in use, protected or still
/// being created. The result keeps the input's order (newest first from
/// [`super::list::snapshots`]); ties in age are broken by that order.
pub fn select(snapshots: Vec<Snapshot>, keep: NonZeroUsize) -> Vec<Decision> {
    let mut ranks: BTreeMap<(String, String), usize> = BTreeMap::new();
    snapshots
        .into_iter()
        .map(|snapshot| {
            let mut reasons = Vec::new();
            if snapshot.status == Status::Available {
                let (schematic, arch) = snapshot.group();
                let rank = ranks.entry((schematic.to_string(), arch.to_string())).or_insert(0);
                *rank += 1;
                if *rank <= keep.get() {
                    reasons.push(KeepReason::Newest { rank: *rank });
                }
            }
            if snapshot.in_use() {
                reasons.push(KeepReason::InUse {
                    servers: snapshot.used_by.clone(),
                });
            }
            if snapshot.protected {
                reasons.push(KeepReason::Protected);
            }
            if snapshot.status == Status::Creating {
                reasons.push(KeepReason::Creating);
            }
            Decision {
                snapshot,
                keep: reasons,
            }
        })
        .collect()
}

/// A snapshot that was to be deleted but could not be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failed {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The error, one line (cause chain joined).
    pub error: String,
}

/// What a prune did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneReport {
    /// How many of each (schematic, arch) were to stay.
    pub keep: usize,
    /// Returns true if nothing was deleted on purpose (`--dry-run`).
    pub dry_run: bool,
    /// The snapshots kept, each with its reasons.
    pub kept: Vec<Decision>,
    /// The snapshots deleted (with `dry_run`: that would have been deleted).
    pub deleted: Vec<Snapshot>,
    /// The snapshots whose deletion failed.
    pub failed: Vec<Failed>,
}

/// Applies [`select`] to `snapshots` and deletes what it chose, one at a time (without
/// `dry_run`). A failed deletion is reported and the rest still tried; a snapshot already
/// gone counts as deleted.
pub async fn prune(client: &Client, snapshots: Vec<Snapshot>, keep: NonZeroUsize, dry_run: bool) -> PruneReport {
    let mut report = PruneReport {
        keep: keep.get(),
        dry_run,
        kept: Vec::new(),
        deleted: Vec::new(),
        failed: Vec::new(),
    };
    for decision in select(snapshots, keep) {
        if !decision.delete() {
            report.kept.push(decision);
            continue;
        }
        let snapshot = decision.snapshot;
        if dry_run {
            report.deleted.push(snapshot);
            continue;
        }
        match client.delete_image(snapshot.id).await {
            Ok(_) => report.deleted.push(snapshot),
            Err(error) => report.failed.push(Failed {
                snapshot,
                error: crate::error::chain(&error).join(": "),
            }),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::image::list::snapshots;
    use crate::image::list::tests::image;

    fn keep(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    /// Five arm64 and two amd64 snapshots of schematic aa, one arm64 of bb; ids grow with age.
    fn project() -> Vec<hcloud::models::Image> {
        let mut images = Vec::new();
        for (id, day) in (1..=5).zip(1..) {
            images.push(image(
                id,
                "aa",
                "arm64",
                "v1.11.5",
                &format!("2026-01-{day:02}T00:00:00Z"),
            ));
        }
        images.push(image(6, "aa", "amd64", "v1.11.5", "2026-01-01T00:00:00Z"));
        images.push(image(7, "aa", "amd64", "v1.11.6", "2026-01-02T00:00:00Z"));
        images.push(image(8, "bb", "arm64", "v1.11.6", "2026-01-02T00:00:00Z"));
        images
    }

    fn deleted(decisions: &[Decision]) -> Vec<i64> {
        let mut ids: Vec<i64> = decisions
            .iter()
            .filter(|d| d.delete())
            .map(|d| d.snapshot.id.get())
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn keeps_the_newest_n_per_schematic_and_arch() {
        let found = snapshots(&project(), &BTreeMap::new(), SystemTime::now());
        let decisions = select(found.clone(), keep(2));
        assert_eq!(deleted(&decisions), [1, 2, 3]);
        let reasons: BTreeMap<i64, Vec<KeepReason>> = decisions
            .iter()
            .map(|d| (d.snapshot.id.get(), d.keep.clone()))
            .collect();
        assert_eq!(reasons[&5], [KeepReason::Newest { rank: 1 }]);
        assert_eq!(reasons[&4], [KeepReason::Newest { rank: 2 }]);
        assert_eq!(reasons[&7], [KeepReason::Newest { rank: 1 }]);
        assert_eq!(reasons[&6], [KeepReason::Newest { rank: 2 }]);
        assert_eq!(reasons[&8], [KeepReason::Newest { rank: 1 }]);
        assert_eq!(deleted(&select(found.clone(), keep(1))), [1, 2, 3, 4, 6]);
        assert_eq!(deleted(&select(found, keep(10))), Vec::<i64>::new());
    }

    #[test]
    fn never_deletes_one_in_use_protected_or_being_created() {
        let mut found = snapshots(&project(), &BTreeMap::new(), SystemTime::now());
        for snapshot in &mut found {
            match snapshot.id.get() {
                1 => snapshot.used_by = vec!["tc-prod-cp-1".into()],
                2 => snapshot.protected = true,
                // The newest is still being created: it does not count among the N.
                5 => snapshot.status = Status::Creating,
                _ => {}
            }
        }
        let decisions = select(found, keep(1));
        assert_eq!(deleted(&decisions), [3, 6]);
        let reasons = |id: i64| {
            decisions
                .iter()
                .find(|d| d.snapshot.id.get() == id)
                .map(|d| d.keep.clone())
                .unwrap_or_default()
        };
        assert_eq!(reasons(5), [KeepReason::Creating]);
        assert_eq!(reasons(4), [KeepReason::Newest { rank: 1 }]);
        assert_eq!(
            reasons(1),
            [KeepReason::InUse {
                servers: vec!["tc-prod-cp-1".into()]
            }]
        );
        assert_eq!(reasons(2), [KeepReason::Protected]);
        assert_eq!(
            reasons(1).iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["used by tc-prod-cp-1"]
        );
    }

    #[test]
    fn an_unavailable_snapshot_is_not_counted_and_goes() {
        let mut found = snapshots(&project(), &BTreeMap::new(), SystemTime::now());
        for snapshot in &mut found {
            if snapshot.id.get() == 7 {
                snapshot.status = Status::Unavailable;
            }
        }
        let decisions = select(found, keep(1));
        assert_eq!(deleted(&decisions), [1, 2, 3, 4, 7]);
    }
}
