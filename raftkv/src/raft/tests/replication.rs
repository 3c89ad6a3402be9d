//! Log replication (§5.3): the consistency check, truncation, backtracking.

use super::*;

#[test]
fn append_is_rejected_when_the_previous_entry_is_missing_with_a_hint_to_our_end() {
    let mut raft = restored(1, 3, Bugs::default(), 1, &[1]);
    raft.step(append(2, 1, 2, (5, 2), vec![entry(6, 2)], 0));
    assert_eq!(append_response(&flush(&mut raft)), Some((false, 0, 2)));
}

#[test]
fn append_is_rejected_on_a_term_mismatch_with_a_hint_to_the_start_of_that_term() {
    // Our log: terms 1 1 2 2 2; the leader's entry 5 has term 3.
    let mut raft = restored(1, 3, Bugs::default(), 2, &[1, 1, 2, 2, 2]);
    raft.step(append(2, 1, 3, (5, 3), Vec::new(), 0));
    assert_eq!(
        append_response(&flush(&mut raft)),
        Some((false, 0, 3)),
        "skip all of term 2 at once"
    );
}

#[test]
fn conflicting_suffix_is_truncated_durably_and_replaced() {
    let mut raft = restored(1, 3, Bugs::default(), 2, &[1, 2, 2]);
    raft.step(append(2, 1, 3, (1, 1), vec![entry(2, 3)], 0));
    let ready = raft.ready();
    assert_eq!(
        ready.truncate_from,
        Some(2),
        "the log file must drop entries 2 and 3"
    );
    assert_eq!(ready.entries, vec![entry(2, 3)]);
    assert_eq!(append_response(&ready.messages), Some((true, 2, 0)));
    raft.advance(&ready);
    assert_eq!(raft.last_index(), 2);
    assert_eq!(raft.stable_index(), 2);
}

#[test]
fn matching_entries_are_kept_and_a_stale_shorter_append_truncates_nothing() {
    let mut raft = restored(1, 3, Bugs::default(), 2, &[1, 2, 2]);
    raft.step(append(2, 1, 2, (1, 1), vec![entry(2, 2)], 0));
    let ready = raft.ready();
    assert_eq!(ready.truncate_from, None);
    assert_eq!(append_response(&ready.messages), Some((true, 2, 0)));
    assert_eq!(
        raft.last_index(),
        3,
        "entry 3 is not in conflict with anything sent"
    );
}

#[test]
fn follower_commit_is_the_minimum_of_leader_commit_and_last_new_entry() {
    let mut raft = restored(1, 3, Bugs::default(), 1, &[1, 1, 1]);
    raft.step(append(2, 1, 2, (1, 1), vec![entry(2, 1)], 9));
    flush(&mut raft);
    assert_eq!(
        raft.commit(),
        2,
        "entry 3 was not part of this append, so it is not known to match the leader"
    );
}

#[test]
fn responses_to_appends_wait_for_the_fsync_but_the_leaders_appends_do_not() {
    let mut raft = restored(1, 3, Bugs::default(), 1, &[1]);
    raft.step(append(2, 1, 1, (1, 1), vec![entry(2, 1)], 0));
    let ready = raft.ready();
    assert!(ready
        .messages
        .iter()
        .all(|message| !message.may_send_before_persist()));
    let mut cluster = Cluster::new(3, Bugs::default(), 100);
    cluster.campaign(1);
    cluster.deliver_all();
    cluster
        .node_mut(1)
        .propose(b"x".to_vec())
        .expect("node 1 leads");
    let ready = cluster.node_mut(1).ready();
    assert!(ready.messages.iter().all(Message::may_send_before_persist));
}

#[test]
fn leader_backtracks_a_diverged_follower_and_repairs_its_log() {
    let mut cluster = Cluster::new(3, Bugs::default(), 2);
    // Node 3 holds entries of a term that never committed.
    cluster.disks.insert(
        3,
        Disk {
            hard_state: HardState {
                term: 2,
                vote: None,
                commit: 0,
            },
            entries: vec![entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 2)],
        },
    );
    cluster.disks.insert(
        1,
        Disk {
            hard_state: HardState {
                term: 3,
                vote: None,
                commit: 0,
            },
            entries: vec![entry(1, 1), entry(2, 3)],
        },
    );
    cluster.disks.insert(
        2,
        Disk {
            hard_state: HardState {
                term: 3,
                vote: None,
                commit: 0,
            },
            entries: vec![entry(1, 1), entry(2, 3)],
        },
    );
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster.campaign(1);
    cluster.deliver_all();
    assert_eq!(cluster.node(1).role(), Role::Leader);
    for id in 1..=3 {
        cluster
            .node_mut(1)
            .propose(format!("command {id}").into_bytes())
            .expect("node 1 leads");
    }
    cluster.deliver_all();
    cluster.heartbeat(1);
    cluster.deliver_all();
    assert_eq!(cluster.log_terms(3), cluster.log_terms(1));
    assert_eq!(cluster.log_terms(3), vec![1, 3, 4, 4, 4, 4]);
    assert_eq!(cluster.node(3).commit(), 6);
}

#[test]
fn leader_counts_itself_only_after_its_own_fsync() {
    let mut cluster = Cluster::new(3, Bugs::default(), 100);
    cluster.campaign(1);
    cluster.deliver_all();
    let leader = cluster.node_mut(1);
    let before = leader.commit();
    let (index, _) = leader.propose(b"x".to_vec()).expect("node 1 leads");
    let ready = leader.ready();
    // A follower acknowledges before the leader's own fsync finished.
    leader.step(message(
        2,
        1,
        1,
        MessageBody::AppendEntriesResponse {
            success: true,
            match_index: index,
            hint: 0,
            read_round: 0,
        },
    ));
    assert_eq!(
        leader.commit(),
        before,
        "the leader's unpersisted copy does not count"
    );
    leader.advance(&ready);
    assert_eq!(
        leader.commit(),
        index,
        "now the leader and node 2 have it durably"
    );
}
