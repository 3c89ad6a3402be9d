//! Commitment (§5.4.2) and the paper's Figure 8.

use super::*;

/// A leader of term 3 whose log is [1@1, 2@2, 3@3(no-op)]; followers 2 and 3
/// acknowledge index 2 (the earlier-term entry) but not the no-op.
fn leader_with_previous_term_entry_on_a_majority(bugs: Bugs) -> Raft {
    let mut leader = restored(1, 3, bugs, 2, &[1, 2]);
    leader.campaign();
    flush(&mut leader);
    leader.step(message(
        2,
        1,
        3,
        MessageBody::RequestVoteResponse { granted: true },
    ));
    assert_eq!(leader.role(), Role::Leader);
    flush(&mut leader);
    assert_eq!(leader.term_at(3), Some(3), "the no-op of term 3");
    leader.step(message(
        2,
        1,
        3,
        MessageBody::AppendEntriesResponse {
            success: true,
            match_index: 2,
            hint: 0,
            read_round: 0,
        },
    ));
    leader
}

#[test]
fn leader_does_not_commit_an_earlier_term_entry_by_counting_replicas() {
    let mut leader = leader_with_previous_term_entry_on_a_majority(Bugs::default());
    assert_eq!(
        leader.commit(),
        0,
        "entry 2 is on a majority but from term 2 (Raft §5.4.2)"
    );
    leader.step(message(
        2,
        1,
        3,
        MessageBody::AppendEntriesResponse {
            success: true,
            match_index: 3,
            hint: 0,
            read_round: 0,
        },
    ));
    assert_eq!(
        leader.commit(),
        3,
        "the no-op of term 3 commits, and entry 2 with it"
    );
}

#[test]
fn bug_commit_previous_term_commits_an_earlier_term_entry_by_counting_replicas() {
    let bugs = Bugs {
        commit_previous_term: true,
        ..Bugs::default()
    };
    let leader = leader_with_previous_term_entry_on_a_majority(bugs);
    assert_eq!(leader.commit(), 2);
}

/// Strips from AppendEntries every entry of `term`, as if the leader had
/// sent only the prefix before them.
fn without_entries_of(term: Term) -> impl FnMut(Message) -> Option<Message> {
    move |mut message| {
        if let MessageBody::AppendEntries { entries, .. } = &mut message.body {
            if let Some(position) = entries.iter().position(|entry| entry.term == term) {
                entries.truncate(position);
            }
        }
        Some(message)
    }
}

/// Raft paper, Figure 8, on five nodes; returns the cluster after (d) and
/// what node 1 had committed at index 2 in (c).
fn figure_8(bugs: Bugs) -> (Cluster, Option<Term>) {
    let mut cluster = Cluster::new(5, bugs, 1);
    // Term 1: everyone stores and commits entry 1.
    cluster.campaign(1);
    cluster.deliver_all();
    assert_eq!(cluster.node(1).commit(), 1);
    // (a) Node 1 leads term 2; its entry 2 reaches node 2 only.
    cluster.campaign(1);
    cluster.deliver(|message| match message.body {
        MessageBody::AppendEntries { .. } if message.from == 1 && message.to > 2 => None,
        _ => Some(message),
    });
    assert_eq!(
        (cluster.node(1).role(), cluster.node(1).term()),
        (Role::Leader, 2)
    );
    assert_eq!(cluster.log_terms(2), vec![1, 2]);
    assert_eq!(cluster.log_terms(3), vec![1]);
    // (b) Node 1 crashes; node 5 wins term 3 with votes of 3 and 4, and
    // appends its no-op (index 2, term 3) before crashing in (c).
    cluster.crash(1);
    cluster.campaign(5);
    cluster.deliver(|message| {
        (!matches!(message.body, MessageBody::AppendEntries { .. })).then_some(message)
    });
    assert_eq!(
        (cluster.node(5).role(), cluster.node(5).term()),
        (Role::Leader, 3)
    );
    assert_eq!(cluster.log_terms(5), vec![1, 3]);
    // (c) Node 5 crashes; node 1 restarts and wins term 4 (term 3 is taken:
    // 3 and 4 voted for node 5), then copies entry 2@2 to node 3, but not
    // its own entry 3@4 to anyone.
    cluster.crash(5);
    cluster.restart(1);
    for _ in 0..3 {
        if cluster.node(1).role() == Role::Leader {
            break;
        }
        cluster.campaign(1);
        cluster.deliver(without_entries_of(4));
    }
    assert_eq!(
        (cluster.node(1).role(), cluster.node(1).term()),
        (Role::Leader, 4)
    );
    cluster.heartbeat(1);
    cluster.deliver(|message| match message.body {
        MessageBody::AppendEntries { .. } if message.to == 4 => None,
        _ => without_entries_of(4)(message),
    });
    assert_eq!(
        cluster.log_terms(3),
        vec![1, 2],
        "entry 2@2 is now on nodes 1, 2 and 3"
    );
    let committed_at_2 = (cluster.node(1).commit() >= 2)
        .then(|| cluster.node(1).term_at(2))
        .flatten();
    // Followers learn node 1's commit index.
    cluster.heartbeat(1);
    cluster.deliver(without_entries_of(4));
    // (d) Node 1 crashes; node 5 restarts and wins with votes of 2, 3 and 4
    // (its last term 3 beats their 2), then overwrites index 2 everywhere.
    cluster.crash(1);
    cluster.restart(5);
    for _ in 0..3 {
        if cluster.node(5).role() == Role::Leader {
            break;
        }
        cluster.campaign(5);
        cluster.deliver_all();
    }
    assert_eq!(cluster.node(5).role(), Role::Leader);
    cluster.heartbeat(5);
    cluster.deliver_all();
    (cluster, committed_at_2)
}

#[test]
fn figure_8_an_entry_of_an_earlier_term_on_a_majority_is_not_committed_and_may_be_overwritten() {
    let (cluster, committed_at_2) = figure_8(Bugs::default());
    assert_eq!(committed_at_2, None, "node 1 must not commit 2@2 in (c)");
    for id in 2..=5 {
        assert_eq!(
            cluster.log_terms(id)[1],
            3,
            "node {id}: index 2 holds node 5's entry, which is fine: 2@2 never committed"
        );
        let applied: Vec<Term> = cluster.applied[&id]
            .iter()
            .filter(|entry| entry.index == 2)
            .map(|entry| entry.term)
            .collect();
        assert!(
            applied.iter().all(|&term| term == 3),
            "node {id} applied {applied:?} at index 2"
        );
    }
}

#[test]
fn bug_commit_previous_term_lets_figure_8_overwrite_a_committed_entry() {
    let bugs = Bugs {
        commit_previous_term: true,
        ..Bugs::default()
    };
    let (cluster, committed_at_2) = figure_8(bugs);
    assert_eq!(
        committed_at_2,
        Some(2),
        "node 1 committed 2@2 by counting replicas in (c)"
    );
    assert_eq!(cluster.log_terms(2)[1], 3, "and node 5 overwrote it in (d)");
    let applied_terms: Vec<Term> = cluster.applied[&2]
        .iter()
        .filter(|entry| entry.index == 2)
        .map(|entry| entry.term)
        .collect();
    assert_eq!(
        applied_terms.first(),
        Some(&2),
        "node 2 applied the entry that was later overwritten"
    );
}
