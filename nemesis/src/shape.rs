//! Partition shapes and pause/kill targets, planned with a seeded RNG.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::{Link, NodeId};

/// The smallest majority of `count` nodes.
#[must_use]
pub fn majority(count: usize) -> usize {
    count / 2 + 1
}

/// The shape of a network partition (Jepsen's `partition-*` nemeses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// One random node cut off from all others, both ways.
    One,
    /// Random halves: a minority (`count / 2` nodes) and the majority.
    Halves,
    /// Majorities ring: every node hears a majority, no two the same majority.
    Ring,
    /// Bridge: two halves that share one node, which hears everyone.
    Bridge,
    /// The current leader cut off from all others, both ways.
    Leader,
    /// One random node loses one direction only: either it cannot send to
    /// any other node or it cannot hear from any (chosen by the seed).
    OneWay,
}

impl Shape {
    /// Every shape, in the order `--nemesis` lists them.
    pub const ALL: [Shape; 6] = [
        Shape::One,
        Shape::Halves,
        Shape::Ring,
        Shape::Bridge,
        Shape::Leader,
        Shape::OneWay,
    ];

    /// The `--nemesis` word for this shape.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::Halves => "halves",
            Shape::Ring => "ring",
            Shape::Bridge => "bridge",
            Shape::Leader => "leader",
            Shape::OneWay => "oneway",
        }
    }

    /// Whether every link this shape cuts on `count` nodes is cut both
    /// ways: `oneway` never is; `ring` is from 5 nodes on (a one-way ring
    /// for 3). Targets whose peer connections cannot lose one direction
    /// only take two-way shapes.
    #[must_use]
    pub fn is_two_way(self, count: usize) -> bool {
        match self {
            Shape::OneWay => false,
            Shape::Ring => {
                // The ring's structure depends on `count` only, not on the shuffle.
                let ring = Partition::ring(count, &mut Rng::new(0));
                ring.cuts
                    .iter()
                    .all(|link| ring.cuts.contains(&link.reversed()))
            }
            _ => true,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which nodes a pause or a kill hits (Jepsen's `db-package` targets; the
/// word after `pause:` or `kill:` in `--nemesis`, and the `target` field of
/// a nemesis event). Not the system under test, which a target spec names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Victims {
    /// One random node.
    One,
    /// A random strict minority (at least one node).
    Minority,
    /// A random majority.
    Majority,
    /// The current leader.
    Leader,
    /// Every node.
    All,
}

impl Victims {
    /// Every target, in the order `--nemesis` lists them.
    pub const ALL: [Victims; 5] = [
        Victims::One,
        Victims::Minority,
        Victims::Majority,
        Victims::Leader,
        Victims::All,
    ];

    /// The `--nemesis` word for this target.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Victims::One => "one",
            Victims::Minority => "minority",
            Victims::Majority => "majority",
            Victims::Leader => "leader",
            Victims::All => "all",
        }
    }

    /// The nodes this target names in a cluster of `count` nodes, sorted.
    /// `Leader` with no known leader falls back to one random node.
    pub fn pick(self, count: usize, leader: Option<NodeId>, rng: &mut Rng) -> Vec<NodeId> {
        let size = match self {
            Victims::Leader => {
                if let Some(leader) = leader.filter(|leader| leader.index() < count) {
                    return vec![leader];
                }
                1
            }
            Victims::One => 1,
            Victims::Minority => (count - majority(count)).max(1),
            Victims::Majority => majority(count),
            Victims::All => count,
        };
        let mut nodes = shuffled(count, rng);
        nodes.truncate(size.min(count));
        nodes.sort_unstable();
        nodes
    }
}

impl fmt::Display for Victims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn shuffled(count: usize, rng: &mut Rng) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = NodeId::all(count).collect();
    rng.shuffle(&mut nodes);
    nodes
}

/// A planned partition: the groups (for people) and the cut links (for proxies).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// The shape it was planned from.
    pub shape: Shape,
    /// Who can talk to whom: for `one`, `halves` and `leader` the components;
    /// for `bridge` the two overlapping halves; for `ring` each node's view
    /// (the majority it hears, itself first); for `oneway` the isolated node.
    pub groups: Vec<Vec<NodeId>>,
    /// Exactly the directed links that are cut.
    pub cuts: Vec<Link>,
}

impl Partition {
    /// A symmetric partition: two nodes can talk iff some group holds both.
    #[must_use]
    pub fn from_groups(shape: Shape, count: usize, mut groups: Vec<Vec<NodeId>>) -> Self {
        for group in &mut groups {
            group.sort_unstable();
        }
        let together = |a: NodeId, b: NodeId| {
            groups
                .iter()
                .any(|group| group.contains(&a) && group.contains(&b))
        };
        let cuts = all_links(count)
            .filter(|link| !together(link.from, link.to))
            .collect();
        Self {
            shape,
            groups,
            cuts,
        }
    }

    /// Cuts `node` off from every other node, both ways.
    #[must_use]
    pub fn isolate(shape: Shape, count: usize, node: NodeId) -> Self {
        let rest = NodeId::all(count).filter(|&other| other != node).collect();
        Self::from_groups(shape, count, vec![vec![node], rest])
    }

    /// Plans a partition of `count` nodes. `leader` is used by
    /// `Shape::Leader`; with no known leader it isolates a random node.
    pub fn plan(shape: Shape, count: usize, leader: Option<NodeId>, rng: &mut Rng) -> Self {
        match shape {
            Shape::One => Self::isolate(shape, count, shuffled(count, rng)[0]),
            Shape::Leader => {
                let node = Victims::Leader.pick(count, leader, rng)[0];
                Self::isolate(shape, count, node)
            }
            Shape::Halves => {
                let mut nodes = shuffled(count, rng);
                let majority_side = nodes.split_off(count / 2);
                Self::from_groups(shape, count, vec![nodes, majority_side])
            }
            Shape::Bridge => {
                // Jepsen's `bridge`: shuffle, split in two, and let the node
                // in the middle belong to both halves.
                let nodes = shuffled(count, rng);
                let middle = count / 2;
                let left = nodes[..=middle.min(count - 1)].to_vec();
                let right = nodes[middle.min(count - 1)..].to_vec();
                Self::from_groups(shape, count, vec![left, right])
            }
            Shape::Ring => Self::ring(count, rng),
            Shape::OneWay => {
                let node = shuffled(count, rng)[0];
                let outbound = rng.below(2) == 0;
                let cuts = NodeId::all(count)
                    .filter(|&other| other != node)
                    .map(|other| {
                        if outbound {
                            Link::new(node, other)
                        } else {
                            Link::new(other, node)
                        }
                    })
                    .collect();
                Self {
                    shape,
                    groups: vec![vec![node]],
                    cuts,
                }
            }
        }
    }

    /// Jepsen's `majorities-ring-perfect`: in a shuffled ring, each window of
    /// `majority` consecutive nodes is the view of its middle node, which
    /// hears only the nodes of its window. Directed: for 3 nodes it is a
    /// one-way ring; from 5 on it is symmetric.
    fn ring(count: usize, rng: &mut Rng) -> Self {
        let ring = shuffled(count, rng);
        let size = majority(count).min(count);
        let mut groups = Vec::with_capacity(count);
        let mut cuts = BTreeSet::new();
        for start in 0..count {
            let window: Vec<NodeId> = (0..size)
                .map(|offset| ring[(start + offset) % count])
                .collect();
            let hearer = window[size / 2];
            for sender in NodeId::all(count) {
                if !window.contains(&sender) {
                    cuts.insert(Link::new(sender, hearer));
                }
            }
            let mut view = vec![hearer];
            view.extend(window.iter().copied().filter(|&node| node != hearer));
            groups.push(view);
        }
        Self {
            shape: Shape::Ring,
            groups,
            cuts: cuts.into_iter().collect(),
        }
    }

    /// The nodes this partition isolates or names first (for history values).
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .cuts
            .iter()
            .flat_map(|link| [link.from, link.to])
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }
}

fn all_links(count: usize) -> impl Iterator<Item = Link> {
    NodeId::all(count).flat_map(move |from| {
        NodeId::all(count)
            .filter(move |&to| to != from)
            .map(move |to| Link::new(from, to))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hears(partition: &Partition, hearer: NodeId, count: usize) -> BTreeSet<NodeId> {
        NodeId::all(count)
            .filter(|&sender| {
                sender == hearer || !partition.cuts.contains(&Link::new(sender, hearer))
            })
            .collect()
    }

    #[test]
    fn isolating_one_node_cuts_both_directions_of_its_links_only() {
        let partition = Partition::isolate(Shape::One, 3, NodeId(1));
        let expected: Vec<Link> = vec![
            Link::new(NodeId(0), NodeId(1)),
            Link::new(NodeId(1), NodeId(0)),
            Link::new(NodeId(1), NodeId(2)),
            Link::new(NodeId(2), NodeId(1)),
        ];
        assert_eq!(partition.cuts, expected);
    }

    #[test]
    fn halves_split_into_a_minority_and_a_majority() {
        let mut rng = Rng::new(1);
        for count in 2..8 {
            let partition = Partition::plan(Shape::Halves, count, None, &mut rng);
            let sizes: Vec<usize> = partition.groups.iter().map(Vec::len).collect();
            assert_eq!(sizes, vec![count / 2, count - count / 2]);
            assert_eq!(partition.cuts.len(), 2 * sizes[0] * sizes[1]);
        }
    }

    #[test]
    fn ring_gives_every_node_a_distinct_majority() {
        let mut rng = Rng::new(3);
        for count in [3, 4, 5, 7] {
            let partition = Partition::plan(Shape::Ring, count, None, &mut rng);
            let views: BTreeSet<BTreeSet<NodeId>> = NodeId::all(count)
                .map(|node| hears(&partition, node, count))
                .collect();
            assert_eq!(views.len(), count, "views must differ for {count} nodes");
            assert!(views.iter().all(|view| view.len() == majority(count)));
        }
    }

    #[test]
    fn bridge_node_hears_everyone_and_halves_do_not_hear_each_other() {
        let mut rng = Rng::new(5);
        let partition = Partition::plan(Shape::Bridge, 5, None, &mut rng);
        let bridge = partition.groups[0]
            .iter()
            .find(|node| partition.groups[1].contains(node))
            .copied();
        let bridge = bridge.expect("the two halves share a node");
        assert_eq!(hears(&partition, bridge, 5).len(), 5);
        assert_eq!(
            partition.groups.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3]
        );
        assert_eq!(
            partition.cuts.len(),
            8,
            "2 x 2 nodes on either side, both ways"
        );
    }

    #[test]
    fn leader_shape_isolates_the_named_leader() {
        let mut rng = Rng::new(9);
        let partition = Partition::plan(Shape::Leader, 5, Some(NodeId(3)), &mut rng);
        assert_eq!(partition.groups[0], vec![NodeId(3)]);
        assert!(partition
            .cuts
            .iter()
            .all(|link| link.from == NodeId(3) || link.to == NodeId(3)));
    }

    #[test]
    fn oneway_cuts_a_single_direction_of_one_node() {
        let mut rng = Rng::new(11);
        for _ in 0..10 {
            let partition = Partition::plan(Shape::OneWay, 3, None, &mut rng);
            assert_eq!(partition.cuts.len(), 2);
            for link in &partition.cuts {
                assert!(
                    !partition.cuts.contains(&link.reversed()),
                    "{link:?} must stay open the other way"
                );
            }
        }
    }

    #[test]
    fn targets_have_the_promised_sizes() {
        let mut rng = Rng::new(13);
        assert_eq!(Victims::Minority.pick(5, None, &mut rng).len(), 2);
        assert_eq!(Victims::Minority.pick(3, None, &mut rng).len(), 1);
        assert_eq!(Victims::Majority.pick(5, None, &mut rng).len(), 3);
        assert_eq!(
            Victims::All.pick(3, None, &mut rng),
            vec![NodeId(0), NodeId(1), NodeId(2)]
        );
        assert_eq!(
            Victims::Leader.pick(3, Some(NodeId(2)), &mut rng),
            vec![NodeId(2)]
        );
        assert_eq!(Victims::Leader.pick(3, None, &mut rng).len(), 1);
    }

    #[test]
    fn oneway_and_the_three_node_ring_are_one_way_and_the_rest_two_way() {
        assert!(!Shape::OneWay.is_two_way(3));
        assert!(!Shape::Ring.is_two_way(3));
        assert!(Shape::Ring.is_two_way(5));
        for shape in [Shape::One, Shape::Halves, Shape::Bridge, Shape::Leader] {
            assert!(shape.is_two_way(3) && shape.is_two_way(5), "{shape}");
        }
    }
}
