//! Divergence and rollback: the lists a key's reads returned go into a trie,
//! whose branch points are divergences and whose subtrees tell, for each
//! read, the earliest longer read it should have extended.

use std::collections::BTreeMap;

use super::{KeyCheck, MAX_VALUES_LISTED};
use crate::anomalies::report::{describe_op, show_values, AnomalyKind, Finding};

impl KeyCheck<'_> {
    /// Divergence and rollback, from a trie of the reads.
    pub(super) fn check_orders(&self, found: &mut Vec<Finding>) {
        let key = self.key;
        let mut trie = Trie::new();
        let ends: Vec<usize> = self
            .reads
            .iter()
            .enumerate()
            .map(|(r, read)| trie.insert(r, &read.items))
            .collect();

        // Divergence: every branch point, each minor branch against the
        // branch most reads followed.
        for node in 0..trie.len() {
            let first = trie.first_child[node];
            if first == NO_NODE || trie.next_sibling[first] == NO_NODE {
                continue;
            }
            let children = trie.children(node);
            let main = *children
                .iter()
                .max_by_key(|&&c| (trie.passes[c], std::cmp::Reverse(trie.first_read[c])))
                .expect("a branch point has children");
            let index = trie.depth[node];
            for &other in children.iter().filter(|&&c| c != main) {
                let a = &self.reads[trie.first_read[main]];
                let b = &self.reads[trie.first_read[other]];
                let (x, y) = (
                    self.elements.value(trie.element[main]),
                    self.elements.value(trie.element[other]),
                );
                let followers = match trie.passes[other] {
                    1 => String::new(),
                    n => format!(" {n} reads followed the second order."),
                };
                found.push(Finding::about_ops(
                    AnomalyKind::Divergence,
                    key,
                    &[a.op, b.op],
                    vec![x.clone(), y.clone()],
                    format!(
                        "read {} returned {} and read {} returned {}; they differ at index {index} \
                         ({x} vs {y}), so no single order of appends explains both.{followers}",
                        describe_op(a.op),
                        self.show(a, Some(index)),
                        describe_op(b.op),
                        self.show(b, Some(index)),
                    ),
                ));
            }
        }

        // Rollback: a read that ends at a node below which some read had
        // already returned before it began. One anomaly per stale list.
        let rets: Vec<u64> = self.reads.iter().map(|read| read.ret).collect();
        let below = trie.earliest_return_below(&ends, &rets);
        let mut stale: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (r, read) in self.reads.iter().enumerate() {
            let node = ends[r];
            if let Some((ret, _)) = below[node] {
                if ret < read.op.call {
                    stale.entry(node).or_insert((r, 0)).1 += 1;
                }
            }
        }
        for (node, (r, count)) in stale {
            let (_, earlier) = below[node].expect("stale nodes have a longer read below");
            let (shorter, longer) = (&self.reads[r], &self.reads[earlier]);
            let gone = &longer.items[shorter.items.len()..];
            let gone_values = self
                .elements
                .values(&gone[..gone.len().min(MAX_VALUES_LISTED)]);
            let others = match count {
                1 => String::new(),
                n => format!(" {} later reads returned the same shorter list.", n - 1),
            };
            found.push(Finding::about_ops(
                AnomalyKind::Rollback,
                key,
                &[longer.op, shorter.op],
                gone_values.clone(),
                format!(
                    "read {} returned {}, then read {}, which began after that, returned {}, \
                     a shorter prefix: {} element(s) seen committed disappeared ({}).{others}",
                    describe_op(longer.op),
                    self.show(longer, Some(shorter.items.len())),
                    describe_op(shorter.op),
                    self.show(shorter, None),
                    gone.len(),
                    show_values(&gone_values),
                ),
            ));
        }
    }
}

/// No node: the end of a sibling or child chain.
const NO_NODE: usize = usize::MAX;

/// A trie of read lists: node 0 is the empty list, each other node one
/// element after its parent's prefix. Children are chained through
/// `first_child` / `next_sibling`, since almost every node has one child.
struct Trie {
    element: Vec<u32>,
    parent: Vec<usize>,
    depth: Vec<usize>,
    first_child: Vec<usize>,
    next_sibling: Vec<usize>,
    /// The first read (by call) whose list passes through the node.
    first_read: Vec<usize>,
    /// How many reads pass through (or end at) the node.
    passes: Vec<usize>,
}

impl Trie {
    fn new() -> Self {
        Trie {
            element: vec![u32::MAX],
            parent: vec![NO_NODE],
            depth: vec![0],
            first_child: vec![NO_NODE],
            next_sibling: vec![NO_NODE],
            first_read: vec![0],
            passes: vec![0],
        }
    }

    fn len(&self) -> usize {
        self.element.len()
    }

    /// Adds read `read` (reads come in call order) and returns its end node.
    fn insert(&mut self, read: usize, items: &[u32]) -> usize {
        let mut node = 0;
        self.passes[0] += 1;
        for &element in items {
            let mut child = self.first_child[node];
            while child != NO_NODE && self.element[child] != element {
                child = self.next_sibling[child];
            }
            if child == NO_NODE {
                child = self.len();
                self.element.push(element);
                self.parent.push(node);
                self.depth.push(self.depth[node] + 1);
                self.first_child.push(NO_NODE);
                self.next_sibling.push(self.first_child[node]);
                self.first_read.push(read);
                self.passes.push(0);
                self.first_child[node] = child;
            }
            self.passes[child] += 1;
            node = child;
        }
        node
    }

    fn children(&self, node: usize) -> Vec<usize> {
        let mut children = Vec::new();
        let mut child = self.first_child[node];
        while child != NO_NODE {
            children.push(child);
            child = self.next_sibling[child];
        }
        children
    }

    /// For each node, the earliest completion (position, read) among reads
    /// that end strictly below it: the reads a read ending at the node should
    /// have extended, had they returned before it began.
    fn earliest_return_below(&self, ends: &[usize], rets: &[u64]) -> Vec<Option<(u64, usize)>> {
        let mut at = vec![None; self.len()];
        for (r, &node) in ends.iter().enumerate() {
            at[node] = earlier(at[node], Some((rets[r], r)));
        }
        let mut below: Vec<Option<(u64, usize)>> = vec![None; self.len()];
        // Children are created after their parent, so walking nodes
        // backwards finishes every subtree before its parent reads it.
        for node in (1..self.len()).rev() {
            let subtree = earlier(at[node], below[node]);
            let parent = self.parent[node];
            below[parent] = earlier(below[parent], subtree);
        }
        below
    }
}

fn earlier(a: Option<(u64, usize)>, b: Option<(u64, usize)>) -> Option<(u64, usize)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_share_nodes_and_branches_are_found() {
        let mut trie = Trie::new();
        let a = trie.insert(0, &[1, 2, 3]);
        let b = trie.insert(1, &[1, 2]);
        let c = trie.insert(2, &[1, 4]);
        // Root, 1, 2, 3, 4.
        assert_eq!(trie.len(), 5);
        assert_eq!(trie.depth[a], 3);
        assert_eq!(trie.parent[a], b);
        let branch = trie.parent[c];
        assert_eq!(trie.children(branch).len(), 2);
        assert_eq!(trie.passes[branch], 3);
        assert_eq!(trie.first_read[c], 2);
    }

    #[test]
    fn earliest_return_below_ignores_the_node_itself_and_other_branches() {
        let mut trie = Trie::new();
        let ends = vec![
            trie.insert(0, &[1, 2, 3]),
            trie.insert(1, &[1, 2]),
            trie.insert(2, &[1, 4]),
            trie.insert(3, &[1]),
        ];
        let rets = [50, 10, 5, 7];
        let below = trie.earliest_return_below(&ends, &rets);
        // Below [1, 2] only [1, 2, 3] ended.
        assert_eq!(below[ends[1]], Some((50, 0)));
        // Below [1]: [1, 2, 3], [1, 2] and [1, 4]; [1, 4] returned first.
        assert_eq!(below[ends[3]], Some((5, 2)));
        assert_eq!(below[ends[0]], None);
    }
}
