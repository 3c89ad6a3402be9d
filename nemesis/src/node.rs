//! Node identities: `n1`, `n2`, ... on the wire, a zero-based index inside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One node of the cluster under test.
///
/// Inside the crate a node is its zero-based position in the cluster (the
/// index into the `NodeSpec` list); everywhere people read it (logs, errors,
/// history values, `{id}` in target specs) it is the one-based name `n1`,
/// `n2`, ... `NodeId(0)` is `n1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

impl NodeId {
    /// The zero-based position of the node in its cluster.
    #[must_use]
    pub fn index(self) -> usize {
        self.0
    }

    /// Every node of a cluster of `count` nodes, in order.
    pub fn all(count: usize) -> impl Iterator<Item = NodeId> {
        (0..count).map(NodeId)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0 + 1)
    }
}

/// A node name that is not `n` followed by a number from 1 on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad node name {0:?}: expected n1, n2, ...")]
pub struct BadNodeName(pub String);

impl FromStr for NodeId {
    type Err = BadNodeName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        name.strip_prefix('n')
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|&number| number >= 1)
            .map(|number| NodeId(number - 1))
            .ok_or_else(|| BadNodeName(name.to_owned()))
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_based_and_round_trip() {
        assert_eq!(NodeId(0).to_string(), "n1");
        assert_eq!("n3".parse::<NodeId>(), Ok(NodeId(2)));
        let json = serde_json::to_string(&NodeId(4)).expect("a string serializes");
        assert_eq!(json, "\"n5\"");
        let back: NodeId = serde_json::from_str(&json).expect("n5 is a node name");
        assert_eq!(back, NodeId(4));
    }

    #[test]
    fn rejects_zero_and_other_names() {
        for bad in ["n0", "1", "node1", "n", "nx"] {
            assert!(bad.parse::<NodeId>().is_err(), "{bad} must be rejected");
        }
    }
}
