//! Cycle classes inside one strongly connected component: a search per
//! class with that class's edge kinds (as Elle does), because the shortest
//! cycle of a component may be a G2-item while a G-single lives there too.
//!
//! - G0 (ww only), G1c (ww and wr, at least one wr) and G2-item (at least
//!   one rw) are decided exactly: a cycle through an edge of the special
//!   kind exists iff both its ends lie in one component of the sub-graph
//!   of the allowed kinds; a BFS inside that component gives the path.
//! - G-single (exactly one rw): for each rw edge u -> v, a BFS from v to u
//!   over ww and wr edges, within a budget.
//! - G-nonadjacent (at least two rw, no two adjacent): a BFS over
//!   (node, last edge was rw, a second rw seen) states, within a budget; a
//!   walk found must be a simple cycle to count.
//!
//! With real-time edges (strict serializability), each class is searched
//! first without them, then with them as extra dependencies: a cycle found
//! only then carries the `-realtime` suffix.

use rustc_hash::FxHashSet;

use super::graph::{components, Csr, View};
use super::infer::{RawEdge, RT, RW, WR, WW};

/// Edge visits one class search may spend in one component.
pub(super) const SEARCH_BUDGET: usize = 2_000_000;
/// Cycles tried per class for the shortest one (explanations read best short).
const CANDIDATES: usize = 8;

/// One cycle, in global transaction indexes: edges in order, the last
/// leading back to the first's source.
#[derive(Debug, Clone)]
pub(super) struct Cycle {
    pub class: String,
    pub edges: Vec<RawEdge>,
}

/// What the class searches found in one component.
#[derive(Debug, Default)]
pub(super) struct ComponentClasses {
    pub cycles: Vec<Cycle>,
    /// A G-single or G-nonadjacent search ran out of budget (or found only
    /// walks that were not simple cycles) and none of those was found.
    pub undetermined: bool,
}

enum Search {
    Found(Vec<usize>),
    None,
    Exhausted,
}

/// The component `nodes` (global indexes) of `g`, as its own small graph.
struct Local<'a> {
    nodes: &'a [u32],
    g: Csr,
}

fn local_graph<'a>(g: &Csr, nodes: &'a [u32], index: &mut [u32]) -> Local<'a> {
    for (i, &v) in nodes.iter().enumerate() {
        index[v as usize] = i as u32;
    }
    let mut edges = Vec::new();
    for (i, &v) in nodes.iter().enumerate() {
        for slot in g.edges(v) {
            let w = g.to[slot] as usize;
            let j = index[w];
            if j != u32::MAX && nodes.get(j as usize) == Some(&(w as u32)) {
                edges.push(RawEdge {
                    from: i as u32,
                    to: j,
                    key: g.key[slot],
                    kind: g.kind[slot],
                });
            }
        }
    }
    for &v in nodes {
        index[v as usize] = u32::MAX;
    }
    Local {
        nodes,
        g: Csr::build(nodes.len(), &edges),
    }
}

/// Classifies the cycles of one component. `index` is scratch of the
/// whole graph's size, all `u32::MAX`, and is left so.
pub(super) fn classify(
    g: &Csr,
    nodes: &[u32],
    index: &mut [u32],
    realtime: bool,
) -> ComponentClasses {
    let local = local_graph(g, nodes, index);
    let lg = &local.g;
    let mut out = ComponentClasses::default();
    let found = |out: &mut ComponentClasses, class: &str, path: Vec<usize>| {
        let edges = path
            .iter()
            .map(|&slot| RawEdge {
                from: local.nodes[source_of(lg, slot) as usize],
                to: local.nodes[lg.to[slot] as usize],
                key: lg.key[slot],
                kind: lg.kind[slot],
            })
            .collect();
        out.cycles.push(Cycle {
            class: class.to_string(),
            edges,
        });
    };
    // Each class, without real-time edges first.
    let exact = |special: u8, allowed: u8| search_in_components(lg, special, allowed);
    for (class, special, allowed) in [("G0", WW, WW), ("G1c", WR, WW | WR)] {
        if let Some(path) = exact(special, allowed) {
            found(&mut out, class, path);
        } else if realtime {
            if let Some(path) = exact(special, allowed | RT) {
                found(&mut out, &format!("{class}-realtime"), path);
            }
        }
    }
    let mut undetermined = false;
    let mut single = false;
    let mut single_base = false;
    match g_single(lg, WW | WR) {
        Search::Found(path) => {
            found(&mut out, "G-single", path);
            single = true;
            single_base = true;
        }
        result => {
            undetermined |= matches!(result, Search::Exhausted);
            if realtime {
                match g_single(lg, WW | WR | RT) {
                    Search::Found(path) => {
                        found(&mut out, "G-single-realtime", path);
                        single = true;
                    }
                    Search::Exhausted => undetermined = true,
                    Search::None => {}
                }
            }
        }
    }
    let mut nonadjacent = false;
    let mut nonadjacent_base = false;
    match g_nonadjacent(lg, WW | WR) {
        Search::Found(path) => {
            found(&mut out, "G-nonadjacent", path);
            nonadjacent = true;
            nonadjacent_base = true;
        }
        result => {
            undetermined |= matches!(result, Search::Exhausted);
            if realtime {
                match g_nonadjacent(lg, WW | WR | RT) {
                    Search::Found(path) => {
                        found(&mut out, "G-nonadjacent-realtime", path);
                        nonadjacent = true;
                    }
                    Search::Exhausted => undetermined = true,
                    Search::None => {}
                }
            }
        }
    }
    let mut g2_base = false;
    if !single_base && !nonadjacent_base {
        if let Some(path) = exact(RW, WW | WR | RW) {
            found(&mut out, "G2-item", path);
            g2_base = true;
        }
    }
    if realtime && !single && !nonadjacent && !g2_base {
        if let Some(path) = exact(RW, WW | WR | RW | RT) {
            found(&mut out, "G2-item-realtime", path);
        }
    }
    out.undetermined = undetermined && !single && !nonadjacent;
    if out.cycles.is_empty() {
        // Never silence: every cycle has some class above, but should one
        // slip through, the component is still reported.
        if let Some(path) = any_cycle(lg) {
            found(&mut out, "cycle", path);
        }
    }
    out
}

/// The source node of edge `slot` (a binary search over the rows).
fn source_of(g: &Csr, slot: usize) -> u32 {
    (g.offs.partition_point(|&o| o <= slot) - 1) as u32
}

/// A shortest path from `from` to `to` over edges of kinds `allowed`
/// between nodes `inside` allows, as edge slots; spends `budget`.
fn bfs(
    g: &Csr,
    from: u32,
    to: u32,
    allowed: u8,
    inside: &dyn Fn(u32) -> bool,
    budget: &mut usize,
) -> Option<Vec<usize>> {
    let n = g.len();
    let mut parent = vec![usize::MAX; n];
    let mut visited = vec![false; n];
    let mut queue = vec![from];
    visited[from as usize] = true;
    *budget = budget.saturating_sub(n / 8 + 1);
    let mut head = 0;
    while head < queue.len() {
        let v = queue[head];
        head += 1;
        if v == to {
            let mut path = Vec::new();
            let mut at = to;
            while at != from {
                let slot = parent[at as usize];
                path.push(slot);
                at = source_of(g, slot);
            }
            path.reverse();
            return Some(path);
        }
        for slot in g.edges(v) {
            *budget = budget.saturating_sub(1);
            let w = g.to[slot];
            if g.kind[slot] & allowed != 0 && !visited[w as usize] && inside(w) {
                visited[w as usize] = true;
                parent[w as usize] = slot;
                queue.push(w);
            }
        }
        if *budget == 0 {
            return None;
        }
    }
    None
}

/// The shortest of a few cycles through an edge of kind `special`, the rest
/// over `allowed` kinds, or none: exact, by the components of `allowed`.
fn search_in_components(g: &Csr, special: u8, allowed: u8) -> Option<Vec<usize>> {
    let alive = vec![true; g.len()];
    let nodes: Vec<u32> = (0..g.len() as u32).collect();
    let (_, comp_of) = components(View {
        g,
        alive: &alive,
        nodes: &nodes,
        mask: allowed,
    });
    let mut best: Option<Vec<usize>> = None;
    let mut tried = 0;
    let mut budget = SEARCH_BUDGET;
    for v in 0..g.len() as u32 {
        for slot in g.edges(v) {
            let w = g.to[slot];
            let c = comp_of[v as usize];
            if g.kind[slot] & special == 0 || c == u32::MAX || comp_of[w as usize] != c {
                continue;
            }
            // Inside one component a path back always exists; the budget
            // only stops the search for a shorter one.
            let limit = if best.is_none() { usize::MAX } else { budget };
            let mut spend = limit;
            let inside = |x: u32| comp_of[x as usize] == c;
            if let Some(path) = bfs(g, w, v, allowed, &inside, &mut spend) {
                if best.as_ref().is_none_or(|b| path.len() + 1 < b.len()) {
                    let mut cycle = vec![slot];
                    cycle.extend(path);
                    best = Some(cycle);
                }
            }
            budget = budget.saturating_sub(limit - spend);
            tried += 1;
            if tried >= CANDIDATES || budget == 0 || best.as_ref().is_some_and(|b| b.len() == 2) {
                return best;
            }
        }
    }
    best
}

/// A cycle with exactly one rw edge: rw u -> v, then v back to u over
/// `allowed` (no rw).
fn g_single(g: &Csr, allowed: u8) -> Search {
    let mut budget = SEARCH_BUDGET;
    let mut best: Option<Vec<usize>> = None;
    let mut found = 0;
    for v in 0..g.len() as u32 {
        for slot in g.edges(v) {
            if g.kind[slot] != RW {
                continue;
            }
            if budget == 0 {
                return best.map_or(Search::Exhausted, Search::Found);
            }
            let w = g.to[slot];
            if let Some(path) = bfs(g, w, v, allowed, &|_| true, &mut budget) {
                if best.as_ref().is_none_or(|b| path.len() + 1 < b.len()) {
                    let mut cycle = vec![slot];
                    cycle.extend(path);
                    best = Some(cycle);
                }
                found += 1;
                if found >= CANDIDATES {
                    return Search::Found(best.expect("found"));
                }
            }
        }
    }
    best.map_or(Search::None, Search::Found)
}

/// A cycle with at least two rw edges, no two adjacent: rw u -> v, then a
/// walk from v to u whose rw edges are never consecutive, neither first
/// nor last, and at least one. `allowed` are the other kinds.
fn g_nonadjacent(g: &Csr, allowed: u8) -> Search {
    let n = g.len();
    let mut budget = SEARCH_BUDGET;
    let mut non_simple = false;
    // State: node * 4 + (last edge rw) * 2 + (second rw seen).
    let state = |v: u32, last_rw: bool, second: bool| {
        v as usize * 4 + (last_rw as usize) * 2 + second as usize
    };
    for u in 0..n as u32 {
        for first in g.edges(u) {
            if g.kind[first] != RW {
                continue;
            }
            if budget == 0 {
                return Search::Exhausted;
            }
            let v = g.to[first];
            let start = state(v, true, false);
            let goal = state(u, false, true);
            let mut parent = vec![(usize::MAX, usize::MAX); n * 4];
            let mut visited = vec![false; n * 4];
            visited[start] = true;
            let mut queue = vec![start];
            let mut head = 0;
            budget = budget.saturating_sub(n / 2 + 1);
            let mut reached = false;
            while head < queue.len() && budget > 0 {
                let s = queue[head];
                head += 1;
                if s == goal {
                    reached = true;
                    break;
                }
                let x = (s / 4) as u32;
                let last_rw = s & 2 != 0;
                let second = s & 1 != 0;
                if x == u {
                    // The walk may not pass through its start.
                    continue;
                }
                for slot in g.edges(x) {
                    budget = budget.saturating_sub(1);
                    let kind = g.kind[slot];
                    let next = if kind == RW {
                        if last_rw {
                            continue;
                        }
                        state(g.to[slot], true, true)
                    } else if kind & allowed != 0 {
                        state(g.to[slot], false, second)
                    } else {
                        continue;
                    };
                    if !visited[next] {
                        visited[next] = true;
                        parent[next] = (s, slot);
                        queue.push(next);
                    }
                }
            }
            if !reached {
                continue;
            }
            let mut path = Vec::new();
            let mut at = goal;
            while at != start {
                let (prev, slot) = parent[at];
                path.push(slot);
                at = prev;
            }
            path.reverse();
            let mut seen = FxHashSet::default();
            seen.insert(v);
            let simple = path.iter().all(|&slot| seen.insert(g.to[slot]));
            if simple {
                let mut cycle = vec![first];
                cycle.extend(path);
                return Search::Found(cycle);
            }
            non_simple = true;
        }
    }
    if non_simple {
        Search::Exhausted
    } else {
        Search::None
    }
}

/// Any cycle of `g` (a strongly connected graph): an edge and a way back.
fn any_cycle(g: &Csr) -> Option<Vec<usize>> {
    search_in_components(g, WW | WR | RW | RT, WW | WR | RW | RT)
}
