//! The dependency graph: CSR adjacency over dense transaction indexes,
//! real-time edges by a frontier sweep, a topological order (Kahn) and
//! strongly connected components (petgraph's Tarjan).

use petgraph::algo::TarjanScc;
use petgraph::visit::{GraphBase, GraphRef, IntoNeighbors, IntoNodeIdentifiers, NodeIndexable};

use super::infer::{RawEdge, NO_KEY, RT};
use super::{Status, TxnHistory};

/// A directed graph in compressed sparse rows: the out-edges of node `v`
/// are `to[offs[v]..offs[v + 1]]`, with their kinds and keys alongside.
#[derive(Debug, Default)]
pub(super) struct Csr {
    pub offs: Vec<usize>,
    pub to: Vec<u32>,
    pub kind: Vec<u8>,
    pub key: Vec<u32>,
}

impl Csr {
    /// Builds the rows from an edge list (a counting sort by source).
    pub fn build(n: usize, edges: &[RawEdge]) -> Csr {
        Csr::build_from(n, &[edges])
    }

    /// Builds the rows from several edge lists.
    pub fn build_from(n: usize, lists: &[&[RawEdge]]) -> Csr {
        let edges = || lists.iter().flat_map(|list| list.iter());
        let total: usize = lists.iter().map(|list| list.len()).sum();
        let mut offs = vec![0usize; n + 1];
        for e in edges() {
            offs[e.from as usize + 1] += 1;
        }
        for v in 0..n {
            offs[v + 1] += offs[v];
        }
        let mut fill = offs.clone();
        let mut to = vec![0u32; total];
        let mut kind = vec![0u8; total];
        let mut key = vec![0u32; total];
        for e in edges() {
            let slot = &mut fill[e.from as usize];
            to[*slot] = e.to;
            kind[*slot] = e.kind;
            key[*slot] = e.key;
            *slot += 1;
        }
        Csr {
            offs,
            to,
            kind,
            key,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.offs.len() - 1
    }

    /// The out-edge slots of `v`.
    pub fn edges(&self, v: u32) -> std::ops::Range<usize> {
        self.offs[v as usize]..self.offs[v as usize + 1]
    }
}

/// Real-time edges: A -> B when A committed and completed before B was
/// invoked. Each invoke links only the frontier (completed transactions no
/// later completion is known to follow), so the edges are about
/// (transactions x concurrency), and every real-time order is a path.
pub(super) fn realtime_edges(h: &TxnHistory, node: &[bool], out: &mut Vec<RawEdge>) {
    let mut completions: Vec<(u64, u32)> = h
        .txns
        .iter()
        .enumerate()
        .filter(|(t, txn)| node[*t] && txn.status == Status::Committed)
        .filter_map(|(t, txn)| txn.ret.map(|ret| (ret, t as u32)))
        .collect();
    completions.sort_unstable();
    out.reserve(completions.len() * 4);
    // Per transaction: how many completions came before its invoke.
    let mut seen_at_invoke = vec![0u32; h.txns.len()];
    // The frontier, as (completion sequence number, txn), oldest first.
    let mut frontier: std::collections::VecDeque<(u32, u32)> = Default::default();
    let mut next_completion = 0usize;
    let mut invokes = h
        .txns
        .iter()
        .enumerate()
        .filter(|(t, _)| node[*t])
        .peekable();
    loop {
        let next_invoke = invokes.peek().map(|(_, txn)| txn.call);
        let next_ret = completions.get(next_completion).map(|c| c.0);
        match (next_invoke, next_ret) {
            (None, None) => break,
            (Some(call), ret) if ret.is_none_or(|ret| call < ret) => {
                let (t, _) = invokes.next().expect("peeked");
                for &(_, a) in &frontier {
                    out.push(RawEdge {
                        from: a,
                        to: t as u32,
                        key: NO_KEY,
                        kind: RT,
                    });
                }
                seen_at_invoke[t] = next_completion as u32;
            }
            _ => {
                let (_, a) = completions[next_completion];
                let seen = seen_at_invoke[a as usize];
                while frontier.front().is_some_and(|&(seq, _)| seq < seen) {
                    frontier.pop_front();
                }
                frontier.push_back((next_completion as u32, a));
                next_completion += 1;
            }
        }
    }
}

/// Kahn's topological sort: the order of the nodes it could sort (smallest
/// index first among the ready), and whether each node was sorted. Nodes
/// left unsorted lie on or after a cycle.
pub(super) fn topological(g: &Csr) -> (Vec<u32>, Vec<bool>) {
    let n = g.len();
    let mut indeg = vec![0u32; n];
    for &t in &g.to {
        indeg[t as usize] += 1;
    }
    let mut order: Vec<u32> = (0..n as u32).filter(|&v| indeg[v as usize] == 0).collect();
    let mut head = 0;
    while head < order.len() {
        let v = order[head];
        head += 1;
        for slot in g.edges(v) {
            let w = g.to[slot] as usize;
            indeg[w] -= 1;
            if indeg[w] == 0 {
                order.push(w as u32);
            }
        }
    }
    let mut sorted = vec![false; n];
    for &v in &order {
        sorted[v as usize] = true;
    }
    (order, sorted)
}

/// A view of a [`Csr`] for petgraph: only nodes `alive`, only edges whose
/// kind is in `mask`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub g: &'a Csr,
    pub alive: &'a [bool],
    pub nodes: &'a [u32],
    pub mask: u8,
}

impl GraphBase for View<'_> {
    type NodeId = u32;
    type EdgeId = usize;
}

impl GraphRef for View<'_> {}

/// The out-neighbours of a node in a [`View`].
pub(super) struct Neighbors<'a> {
    view: View<'a>,
    slots: std::ops::Range<usize>,
}

impl Iterator for Neighbors<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        for slot in self.slots.by_ref() {
            let w = self.view.g.to[slot];
            if self.view.g.kind[slot] & self.view.mask != 0 && self.view.alive[w as usize] {
                return Some(w);
            }
        }
        None
    }
}

impl<'a> IntoNeighbors for View<'a> {
    type Neighbors = Neighbors<'a>;
    fn neighbors(self, a: u32) -> Neighbors<'a> {
        Neighbors {
            view: self,
            slots: self.g.edges(a),
        }
    }
}

impl<'a> IntoNodeIdentifiers for View<'a> {
    type NodeIdentifiers = std::iter::Copied<std::slice::Iter<'a, u32>>;
    fn node_identifiers(self) -> Self::NodeIdentifiers {
        self.nodes.iter().copied()
    }
}

impl NodeIndexable for View<'_> {
    fn node_bound(&self) -> usize {
        self.g.len()
    }
    fn to_index(&self, a: u32) -> usize {
        a as usize
    }
    fn from_index(&self, i: usize) -> u32 {
        i as u32
    }
}

/// Stack bytes per node petgraph's (recursive) Tarjan may need: a
/// generous bound on one frame of its `visit`.
const STACK_PER_NODE: usize = 512;

/// The strongly connected components of `view` with at least two nodes,
/// and each node's component (`u32::MAX` for none). petgraph's Tarjan
/// recurses once per node of a path, so it runs on a thread whose stack
/// fits the longest possible path.
pub(super) fn components(view: View<'_>) -> (Vec<Vec<u32>>, Vec<u32>) {
    let stack = (8 << 20) + view.nodes.len() * STACK_PER_NODE;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("txn-scc".into())
            .stack_size(stack)
            .spawn_scoped(scope, || {
                let mut comps: Vec<Vec<u32>> = Vec::new();
                let mut comp_of = vec![u32::MAX; view.g.len()];
                TarjanScc::new().run(view, |scc| {
                    if scc.len() > 1 {
                        for &v in scc {
                            comp_of[v as usize] = comps.len() as u32;
                        }
                        comps.push(scc.to_vec());
                    }
                });
                (comps, comp_of)
            })
            .expect("spawning the SCC thread: the stack size is bounded by the history's size")
            .join()
            .expect("the SCC thread does not panic")
    })
}
