//! The seeded plan of faults: which fault comes next, on which nodes.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::{FaultMix, FaultSpec, NodeId, Partition, Shape, Target};

/// One fault, fully planned: what a `Nemesis` applies and later undoes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "fault")]
pub enum Fault {
    /// Cut the links of a partition (undone by healing every link).
    Partition(Partition),
    /// SIGSTOP these nodes (undone by SIGCONT).
    Pause {
        /// How they were chosen.
        target: Target,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
    /// SIGKILL these nodes (undone by restarting them).
    Kill {
        /// How they were chosen.
        target: Target,
        /// The nodes, sorted.
        nodes: Vec<NodeId>,
    },
}

const PARTITION: usize = 0;
const PAUSE: usize = 1;
const KILL: usize = 2;

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
    /// Per kind (partition, pause, kill): whether its next bare fault goes
    /// for the leader.
    leader_turn: [bool; 3],
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
            leader_turn: [true; 3],
        }
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

    fn bare_target(&mut self, kind: usize, leader: Option<NodeId>) -> Target {
        if self.leader_first(kind, leader) {
            Target::Leader
        } else {
            *self.rng.pick(&Target::ALL)
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
        assert_eq!(targets.len(), Target::ALL.len());
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
            assert_eq!(first_kill, Some(Target::Leader), "seed {seed}");
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
                        None => "none",
                    })
                    .collect();
                kinds.sort_unstable();
                assert_eq!(kinds, ["kill", "partition", "pause"], "seed {seed}");
            }
        }
    }

    #[test]
    fn none_plans_nothing() {
        let mut schedule = Schedule::new(FaultMix::default(), 3, 1);
        assert_eq!(schedule.next_fault(None), None);
    }
}
