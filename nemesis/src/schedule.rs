//! The seeded plan of faults: which fault comes next, on which nodes.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::{CorruptKind, FaultMix, FaultSpec, NodeId, Partition, Shape, Victims};

/// One fault, fully planned: what a `Nemesis` applies and later undoes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "fault")]
pub enum Fault {
    /// Cut the links of a partition (undone by healing every link).
    Partition(Partition),
    /// SIGSTOP these nodes (undone by SIGCONT).
    Pause {
        /// How they were chosen.
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
    /// SIGKILL these nodes (undone by restarting them).
    Kill {
        /// How they were chosen.
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
    /// SIGSTOP these nodes and at once cut them off from every other node,
    /// both ways: a process that stalls (GC, VM migration) and whose
    /// network is gone when it wakes. Undone in two stages, one per
    /// `Nemesis::step`: SIGCONT (the nodes wake up still isolated), then
    /// heal. Build it with [`Fault::stall`].
    Stall {
        /// How they were chosen.
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
        /// The cut, groups `[nodes, rest]`; `None` when the nodes are the
        /// whole cluster (nobody to cut them from: a plain pause).
        partition: Option<Partition>,
    },
    /// SIGKILL these nodes and start them again at once, each gated on
    /// readiness, as a process supervisor (systemd's `Restart=always`)
    /// would: nothing is left to undo. What a node failed to write to
    /// stable storage is gone, and it rejoins before the others have noticed
    /// it was away.
    Crash {
        /// How they were chosen.
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
    /// The Raft paper's Figure 8, played on the live cluster by watching
    /// who leads (`Nemesis::with_observer`): isolate the leader while it
    /// holds uncommitted entries; cut off the next leader the moment it is
    /// elected, before its first entry leaves (links slowed for that);
    /// let the old leader win again with links to the rest slowed, and cut
    /// it off the moment its commit index moves; then let the cut-off
    /// second leader back. A node that commits an earlier term's entries by
    /// counting replicas has that commit overwritten. Leaves the old
    /// leader cut off; the next step heals.
    Figure8,
    /// These nodes lose power at one instant: SIGKILL, then every write
    /// they did not sync is dropped from their disks (docs/disk.md).
    /// Undone by restarting them.
    Power {
        /// How they were chosen.
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
    /// As `Power`, then each node is started again at once (as `Crash`
    /// is to `Kill`): nothing is left to undo.
    PowerCycle {
        /// How they were chosen.
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
    /// Each node in turn: SIGKILL, unsynced writes flushed, the durable
    /// copy of its newest corruptible file damaged (a bit flipped or its
    /// end cut off, chosen by `seed`), started again. A node may refuse to
    /// start on damage it detects: that is the restart's error.
    Corrupt {
        /// How they were chosen (`one` or `minority`).
        target: Victims,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
        /// Seeds the damage (mixed with each node's index).
        seed: u64,
        /// A bit flip or a truncation; by seed when `None`.
        kind: Option<CorruptKind>,
    },
}

impl Fault {
    /// A stall of `nodes` (chosen by `target`) in a cluster of `count`
    /// nodes, with its cut planned: groups `[nodes, rest]`, both ways.
    ///
    /// The cut's shape says what the cut looks like, the way the same cut
    /// planned as a partition would: `leader` for `stall:leader` (as
    /// `partition:leader`, which also falls back to a random node when no
    /// leader is known), `one` when a single node is cut off, and `halves`
    /// (two sides, no overlap, both ways) for several; the stalled side is
    /// always the first group, whether it is the minority or the majority.
    #[must_use]
    pub fn stall(target: Victims, mut nodes: Vec<NodeId>, count: usize) -> Self {
        nodes.sort_unstable();
        nodes.dedup();
        let rest: Vec<NodeId> = NodeId::all(count)
            .filter(|node| !nodes.contains(node))
            .collect();
        let partition = (!rest.is_empty() && !nodes.is_empty()).then(|| {
            let shape = match (target, nodes.len()) {
                (Victims::Leader, 1) => Shape::Leader,
                (_, 1) => Shape::One,
                _ => Shape::Halves,
            };
            Partition::from_groups(shape, count, vec![nodes.clone(), rest])
        });
        Fault::Stall {
            target,
            nodes,
            partition,
        }
    }
}

const PARTITION: usize = 0;
const PAUSE: usize = 1;
const KILL: usize = 2;
const STALL: usize = 3;
const CRASH: usize = 4;
const POWER: usize = 5;
const POWERCYCLE: usize = 6;

/// A seeded generator of faults from a mix: the same seed, mix, cluster
/// size and leader answers give the same faults.
///
/// The items of the mix are used in rounds: each round is the whole mix in
/// a fresh seeded order, so every kind of fault comes up within one round
/// (a short run with `partition,kill` always gets a partition, which a
/// uniform draw of three faults misses one time in eight).
#[derive(Clone, Debug)]
pub struct Schedule {
    mix: FaultMix,
    count: usize,
    rng: Rng,
    round: Vec<FaultSpec>,
    /// Per kind (partition, pause, kill, stall, crash, power, powercycle): whether its next bare
    /// fault goes for the leader.
    leader_turn: [bool; 7],
    /// The nodes `corrupt` has damaged so far: never more than a minority
    /// over the whole run, so that a majority keeps its data.
    corrupted: Vec<NodeId>,
    /// Bare `partition` picks only shapes that cut both directions of
    /// every link ([`Schedule::two_way_partitions_only`]).
    two_way_only: bool,
}

impl Schedule {
    /// A schedule for a cluster of `count` nodes.
    #[must_use]
    pub fn new(mix: FaultMix, count: usize, seed: u64) -> Self {
        Self {
            mix,
            count,
            rng: Rng::new(seed),
            round: Vec::new(),
            leader_turn: [true; 7],
            corrupted: Vec::new(),
            two_way_only: false,
        }
    }

    /// Bare `partition` picks among the shapes that cut both directions of
    /// every link ([`Shape::is_two_way`]), for targets whose peer
    /// connections cannot lose one direction only (NATS routes).
    #[must_use]
    pub fn two_way_partitions_only(mut self) -> Self {
        self.two_way_only = true;
        self
    }

    /// The nodes a `corrupt` of `picked` may damage: those already damaged
    /// stay allowed; a new one only while the damaged set is smaller than
    /// a minority. Nodes that may not be damaged are replaced by damaged
    /// ones, so the fault keeps its size. Sorted.
    fn corruptible(&mut self, picked: Vec<NodeId>) -> Vec<NodeId> {
        let limit = (self.count - crate::shape::majority(self.count)).max(1);
        let mut chosen = Vec::with_capacity(picked.len());
        for node in &picked {
            if self.corrupted.contains(node) {
                chosen.push(*node);
            } else if self.corrupted.len() < limit {
                self.corrupted.push(*node);
                chosen.push(*node);
            }
        }
        let mut spare: Vec<NodeId> = self
            .corrupted
            .iter()
            .copied()
            .filter(|node| !chosen.contains(node))
            .collect();
        self.rng.shuffle(&mut spare);
        while chosen.len() < picked.len() {
            match spare.pop() {
                Some(node) => chosen.push(node),
                None => break,
            }
        }
        chosen.sort_unstable();
        chosen
    }

    /// The next item of the mix: the rest of this round, or a new round.
    fn next_spec(&mut self) -> FaultSpec {
        if self.round.is_empty() {
            self.round = self.mix.0.clone();
            self.rng.shuffle(&mut self.round);
            self.round.reverse();
        }
        self.round
            .pop()
            .expect("a round holds the whole mix, which is not empty here")
    }

    /// The mix this schedule draws from.
    #[must_use]
    pub fn mix(&self) -> &FaultMix {
        &self.mix
    }

    /// Whether a bare fault (no shape or target given) of kind `kind`
    /// goes for the leader this time. Bare faults of each kind alternate,
    /// when a leader is known: the leader, then a uniform pick among every
    /// shape or target (leader included), then the leader again. The
    /// leader is where Raft's subtle rules live (stale reads from a
    /// deposed leader, writes acknowledged before commit, lease reads): a
    /// uniform pick alone hit it one time in five or six, and a 30 s run
    /// has only three faults.
    fn leader_first(&mut self, kind: usize, leader: Option<NodeId>) -> bool {
        if leader.is_none() {
            return false;
        }
        let turn = self.leader_turn[kind];
        self.leader_turn[kind] = !turn;
        turn
    }

    fn bare_target(&mut self, kind: usize, leader: Option<NodeId>) -> Victims {
        if self.leader_first(kind, leader) {
            Victims::Leader
        } else {
            *self.rng.pick(&Victims::ALL)
        }
    }

    /// The next fault, or `None` when the mix is `none` (or the cluster empty).
    /// `leader` is asked for by leader shapes and targets only.
    pub fn next_fault(&mut self, leader: Option<NodeId>) -> Option<Fault> {
        if self.mix.is_none() || self.count == 0 {
            return None;
        }
        let spec = self.next_spec();
        Some(match spec {
            FaultSpec::Partition(shape) => {
                let shape = shape.unwrap_or_else(|| {
                    if self.leader_first(PARTITION, leader) {
                        Shape::Leader
                    } else if self.two_way_only {
                        let shapes: Vec<Shape> = Shape::ALL
                            .into_iter()
                            .filter(|shape| shape.is_two_way(self.count))
                            .collect();
                        *self.rng.pick(&shapes)
                    } else {
                        *self.rng.pick(&Shape::ALL)
                    }
                });
                Fault::Partition(Partition::plan(shape, self.count, leader, &mut self.rng))
            }
            FaultSpec::Pause(target) => {
                let target = target.unwrap_or_else(|| self.bare_target(PAUSE, leader));
                Fault::Pause {
                    target,
                    nodes: target.pick(self.count, leader, &mut self.rng),
                }
            }
            FaultSpec::Kill(target) => {
                let target = target.unwrap_or_else(|| self.bare_target(KILL, leader));
                Fault::Kill {
                    target,
                    nodes: target.pick(self.count, leader, &mut self.rng),
                }
            }
            // Its own alternation slot, so adding `stall` to a mix leaves
            // the leader turns of the other kinds as they were.
            FaultSpec::Stall(target) => {
                let target = target.unwrap_or_else(|| self.bare_target(STALL, leader));
                let nodes = target.pick(self.count, leader, &mut self.rng);
                Fault::stall(target, nodes, self.count)
            }
            FaultSpec::Crash(target) => {
                let target = target.unwrap_or_else(|| self.bare_target(CRASH, leader));
                Fault::Crash {
                    target,
                    nodes: target.pick(self.count, leader, &mut self.rng),
                }
            }
            FaultSpec::Figure8 => Fault::Figure8,
            FaultSpec::Power(target) => {
                let target = target.unwrap_or_else(|| self.bare_target(POWER, leader));
                Fault::Power {
                    target,
                    nodes: target.pick(self.count, leader, &mut self.rng),
                }
            }
            FaultSpec::PowerCycle(target) => {
                let target = target.unwrap_or_else(|| self.bare_target(POWERCYCLE, leader));
                Fault::PowerCycle {
                    target,
                    nodes: target.pick(self.count, leader, &mut self.rng),
                }
            }
            FaultSpec::Corrupt { target, kind } => {
                let target = target.unwrap_or_else(|| *self.rng.pick(&FaultSpec::CORRUPT_TARGETS));
                let picked = target.pick(self.count, leader, &mut self.rng);
                Fault::Corrupt {
                    target,
                    nodes: self.corruptible(picked),
                    seed: self.rng.next_u64(),
                    kind,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_faults() {
        let mix: FaultMix = "partition,pause,kill".parse().expect("valid mix");
        let mut a = Schedule::new(mix.clone(), 5, 77);
        let mut b = Schedule::new(mix, 5, 77);
        for _ in 0..50 {
            assert_eq!(a.next_fault(Some(NodeId(1))), b.next_fault(Some(NodeId(1))));
        }
    }

    #[test]
    fn bare_faults_eventually_pick_every_shape_and_target() {
        let mix: FaultMix = "partition,kill".parse().expect("valid mix");
        let mut schedule = Schedule::new(mix, 5, 1);
        let mut shapes = std::collections::BTreeSet::new();
        let mut targets = std::collections::BTreeSet::new();
        for _ in 0..500 {
            match schedule.next_fault(None) {
                Some(Fault::Partition(partition)) => {
                    shapes.insert(partition.shape);
                }
                Some(Fault::Kill { target, .. }) => {
                    targets.insert(target);
                }
                other => panic!("the mix has only partitions and kills, got {other:?}"),
            }
        }
        assert_eq!(shapes.len(), Shape::ALL.len());
        assert_eq!(targets.len(), Victims::ALL.len());
    }

    #[test]
    fn the_first_bare_fault_of_each_kind_goes_for_a_known_leader() {
        let mix: FaultMix = "partition,kill".parse().expect("valid mix");
        for seed in 0..20 {
            let mut schedule = Schedule::new(mix.clone(), 3, seed);
            let leader = NodeId(2);
            let mut first_partition = None;
            let mut first_kill = None;
            for _ in 0..2 {
                match schedule.next_fault(Some(leader)) {
                    Some(Fault::Partition(partition)) => {
                        first_partition.get_or_insert(partition.shape);
                    }
                    Some(Fault::Kill { target, .. }) => {
                        first_kill.get_or_insert(target);
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(first_partition, Some(Shape::Leader), "seed {seed}");
            assert_eq!(first_kill, Some(Victims::Leader), "seed {seed}");
        }
    }

    #[test]
    fn bare_faults_alternate_between_the_leader_and_a_uniform_pick() {
        let mix: FaultMix = "partition".parse().expect("valid mix");
        let mut schedule = Schedule::new(mix, 5, 3);
        let mut at_leader = 0;
        for _ in 0..1200 {
            if let Some(Fault::Partition(partition)) = schedule.next_fault(Some(NodeId(1))) {
                at_leader += usize::from(partition.shape == Shape::Leader);
            }
        }
        // 1/2 by turn plus 1/2 x 1/6 by the uniform pick.
        assert!((650..760).contains(&at_leader), "{at_leader} of 1200");
    }

    #[test]
    fn every_kind_of_the_mix_comes_up_within_each_round() {
        let mix: FaultMix = "partition,kill,pause".parse().expect("valid mix");
        for seed in 0..20 {
            let mut schedule = Schedule::new(mix.clone(), 3, seed);
            for _ in 0..4 {
                let mut kinds: Vec<&str> = (0..3)
                    .map(|_| match schedule.next_fault(None) {
                        Some(Fault::Partition(_)) => "partition",
                        Some(Fault::Kill { .. }) => "kill",
                        Some(Fault::Pause { .. }) => "pause",
                        Some(Fault::Stall { .. }) => "stall",
                        Some(Fault::Crash { .. }) => "crash",
                        Some(Fault::Figure8) => "figure8",
                        Some(Fault::Power { .. }) => "power",
                        Some(Fault::PowerCycle { .. }) => "powercycle",
                        Some(Fault::Corrupt { .. }) => "corrupt",
                        None => "none",
                    })
                    .collect();
                kinds.sort_unstable();
                assert_eq!(kinds, ["kill", "partition", "pause"], "seed {seed}");
            }
        }
    }

    #[test]
    fn disk_faults_are_planned_with_their_targets_and_corrupt_never_takes_a_majority() {
        let mix: FaultMix = "power:all,powercycle:leader,corrupt:bitflip"
            .parse()
            .expect("valid");
        let mut schedule = Schedule::new(mix, 5, 3);
        let mut seeds = std::collections::BTreeSet::new();
        for _ in 0..30 {
            match schedule.next_fault(Some(NodeId(2))) {
                Some(Fault::Power { target, nodes }) => {
                    assert_eq!(target, Victims::All);
                    assert_eq!(nodes.len(), 5);
                }
                Some(Fault::PowerCycle { target, nodes }) => {
                    assert_eq!(target, Victims::Leader);
                    assert_eq!(nodes, vec![NodeId(2)]);
                }
                Some(Fault::Corrupt {
                    target,
                    nodes,
                    seed,
                    kind,
                }) => {
                    assert_eq!(kind, Some(CorruptKind::Bitflip));
                    assert!(FaultSpec::CORRUPT_TARGETS.contains(&target), "{target}");
                    assert!(nodes.len() <= 2, "{nodes:?}");
                    seeds.insert(seed);
                }
                other => panic!("not in the mix: {other:?}"),
            }
        }
        assert!(seeds.len() > 1, "each corruption draws its own seed");
    }

    #[test]
    fn corrupt_damages_no_more_than_a_minority_over_the_whole_run() {
        for (count, limit) in [(3, 1), (5, 2), (4, 1)] {
            for seed in 0..20 {
                let mix: FaultMix = "corrupt:one,corrupt:minority,corrupt"
                    .parse()
                    .expect("valid");
                let mut schedule = Schedule::new(mix, count, seed);
                let mut damaged = std::collections::BTreeSet::new();
                let mut sizes = Vec::new();
                for _ in 0..30 {
                    let Some(Fault::Corrupt { target, nodes, .. }) = schedule.next_fault(None)
                    else {
                        panic!("only corrupt in the mix");
                    };
                    let want = if target == Victims::One { 1 } else { limit };
                    assert_eq!(nodes.len(), want, "count {count} seed {seed}: {nodes:?}");
                    damaged.extend(nodes.iter().copied());
                    sizes.push(damaged.len());
                }
                assert_eq!(damaged.len(), limit, "count {count} seed {seed}: {sizes:?}");
            }
        }
    }

    #[test]
    fn the_first_bare_stall_goes_for_a_known_leader() {
        let mix: FaultMix = "stall,pause".parse().expect("valid mix");
        for seed in 0..20 {
            let mut schedule = Schedule::new(mix.clone(), 3, seed);
            let leader = NodeId(2);
            let mut first_stall = None;
            for _ in 0..2 {
                if let Some(Fault::Stall {
                    target,
                    nodes,
                    partition,
                }) = schedule.next_fault(Some(leader))
                {
                    first_stall.get_or_insert((target, nodes, partition));
                }
            }
            let (target, nodes, partition) = first_stall.expect("one stall per round");
            assert_eq!(target, Victims::Leader, "seed {seed}");
            assert_eq!(nodes, vec![leader], "seed {seed}");
            let partition = partition.expect("the leader is cut off from the others");
            assert_eq!(partition.shape, Shape::Leader);
            assert_eq!(
                partition.groups,
                vec![vec![leader], vec![NodeId(0), NodeId(1)]]
            );
            assert_eq!(partition.cuts.len(), 4, "both ways, to each of the two");
        }
    }

    #[test]
    fn a_stall_cuts_the_stalled_side_from_the_rest_both_ways() {
        let stall = Fault::stall(Victims::Majority, vec![NodeId(4), NodeId(0), NodeId(2)], 5);
        let Fault::Stall {
            nodes, partition, ..
        } = stall
        else {
            panic!("Fault::stall builds a stall: {stall:?}");
        };
        assert_eq!(nodes, vec![NodeId(0), NodeId(2), NodeId(4)]);
        let partition = partition.expect("two nodes are left to cut from");
        assert_eq!(partition.shape, Shape::Halves);
        assert_eq!(partition.groups[0], nodes, "the stalled side comes first");
        assert_eq!(partition.cuts.len(), 2 * 3 * 2);
        for link in &partition.cuts {
            assert_ne!(nodes.contains(&link.from), nodes.contains(&link.to));
        }

        let one = Fault::stall(Victims::Minority, vec![NodeId(1)], 3);
        assert!(
            matches!(&one, Fault::Stall { partition: Some(p), .. } if p.shape == Shape::One),
            "{one:?}"
        );
    }

    #[test]
    fn the_first_bare_crash_goes_for_a_known_leader_then_alternates() {
        let mix: FaultMix = "crash".parse().expect("valid mix");
        let mut schedule = Schedule::new(mix, 3, 11);
        let first = schedule.next_fault(Some(NodeId(2)));
        assert_eq!(
            first,
            Some(Fault::Crash {
                target: Victims::Leader,
                nodes: vec![NodeId(2)],
            })
        );
        let mut at_leader = 0;
        for _ in 0..600 {
            if let Some(Fault::Crash { target, .. }) = schedule.next_fault(Some(NodeId(2))) {
                at_leader += usize::from(target == Victims::Leader);
            }
        }
        // 1/2 by turn plus 1/2 x 1/5 by the uniform pick.
        assert!((300..400).contains(&at_leader), "{at_leader} of 600");
    }

    #[test]
    fn stalling_every_node_cuts_nothing() {
        let mut schedule = Schedule::new("stall:all".parse().expect("valid mix"), 3, 5);
        assert_eq!(
            schedule.next_fault(Some(NodeId(0))),
            Some(Fault::Stall {
                target: Victims::All,
                nodes: vec![NodeId(0), NodeId(1), NodeId(2)],
                partition: None,
            })
        );
    }

    #[test]
    fn none_plans_nothing() {
        let mut schedule = Schedule::new(FaultMix::default(), 3, 1);
        assert_eq!(schedule.next_fault(None), None);
    }

    #[test]
    fn two_way_only_schedules_never_pick_a_one_way_shape_for_bare_partitions() {
        let mut schedule = Schedule::new("partition".parse().expect("a valid mix"), 3, 7)
            .two_way_partitions_only();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            match schedule.next_fault(None) {
                Some(Fault::Partition(partition)) => {
                    assert!(partition.shape.is_two_way(3), "{}", partition.shape);
                    seen.insert(partition.shape);
                }
                other => panic!("a bare partition mix gave {other:?}"),
            }
        }
        assert!(seen.len() >= 3, "{seen:?}");
    }
}
