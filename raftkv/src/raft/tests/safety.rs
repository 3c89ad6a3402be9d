//! Randomized schedules checked against Raft's safety properties.

use super::*;

/// A tiny deterministic generator for schedules.
struct Schedule(u64);

impl Schedule {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Runs random schedules of ticks, losses, reorders and crashes on five
/// nodes; returns the first violation of election or state machine safety.
fn random_schedules(bugs: Bugs, seeds: std::ops::RangeInclusive<u64>) -> Result<(), String> {
    for seed in seeds {
        let mut schedule = Schedule(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut cluster = Cluster::new(5, bugs, 3);
        let mut leaders: BTreeMap<Term, NodeId> = BTreeMap::new();
        let mut applied: BTreeMap<LogIndex, (Term, Vec<u8>)> = BTreeMap::new();
        let mut crashed: Vec<NodeId> = Vec::new();
        for step in 0..3000 {
            match schedule.below(100) {
                0..=29 => {
                    let id = schedule.below(5) as NodeId + 1;
                    if let Some(raft) = cluster.nodes.get_mut(&id) {
                        raft.tick();
                        cluster.pump(id);
                    }
                }
                30..=79 if !cluster.network.is_empty() => {
                    // Deliver a random in-flight message: reordering.
                    let position = schedule.below(cluster.network.len());
                    let message = cluster
                        .network
                        .remove(position)
                        .expect("position is in range");
                    // 10% loss.
                    if schedule.below(10) != 0 {
                        if let Some(raft) = cluster.nodes.get_mut(&message.to) {
                            raft.step(message.clone());
                            cluster.pump(message.to);
                        }
                    }
                }
                80..=91 => {
                    let id = schedule.below(5) as NodeId + 1;
                    if let Some(raft) = cluster.nodes.get_mut(&id) {
                        let _ = raft.propose(format!("{seed}-{step}").into_bytes());
                        let _ = raft.read_index(step);
                        cluster.pump(id);
                    }
                }
                92..=94 if crashed.len() < 2 => {
                    let id = schedule.below(5) as NodeId + 1;
                    if cluster.nodes.contains_key(&id) {
                        cluster.crash(id);
                        crashed.push(id);
                    }
                }
                95..=99 if !crashed.is_empty() => {
                    let id = crashed.remove(schedule.below(crashed.len()));
                    cluster.restart(id);
                }
                _ => {}
            }
            // Election safety (Figure 3): at most one leader per term.
            for (&id, raft) in &cluster.nodes {
                if raft.role() == Role::Leader {
                    let leader = *leaders.entry(raft.term()).or_insert(id);
                    if leader != id {
                        let term = raft.term();
                        return Err(format!(
                            "seed {seed} step {step}: nodes {leader} and {id} lead term {term}"
                        ));
                    }
                }
            }
            // State machine safety: no two nodes apply different entries at one index.
            for (id, entries) in std::mem::take(&mut cluster.applied) {
                for entry in entries {
                    let first = applied
                        .entry(entry.index)
                        .or_insert((entry.term, entry.data.clone()));
                    if *first != (entry.term, entry.data) {
                        let index = entry.index;
                        return Err(format!("seed {seed} step {step}: node {id} applied another entry at index {index}"));
                    }
                }
            }
        }
        assert!(
            leaders.len() > 1,
            "seed {seed}: the schedule should exercise several terms"
        );
        assert!(
            applied.len() > 5,
            "seed {seed}: the schedule should commit entries"
        );
    }
    Ok(())
}

#[test]
fn random_schedules_of_ticks_losses_reorders_and_crashes_keep_raft_safe() {
    assert_eq!(random_schedules(Bugs::default(), 1..=40), Ok(()));
}

#[test]
fn bug_vote_without_log_check_is_caught_by_random_schedules() {
    let bugs = Bugs {
        vote_without_log_check: true,
        ..Bugs::default()
    };
    let violation = random_schedules(bugs, 1..=40)
        .expect_err("a node missing committed entries wins and overwrites them");
    assert!(violation.contains("applied another entry"), "{violation}");
}
