//! Elections (§5.2, §5.4.1), check-quorum, and the durability of votes.

use super::*;

#[test]
fn follower_campaigns_after_a_randomized_timeout_in_min_to_twice_min() {
    for seed in 0..20 {
        let mut config = config(1, 3, Bugs::default(), 100);
        config.seed = seed;
        let mut raft = Raft::new(config, HardState::default(), Vec::new()).expect("valid config");
        let mut ticks = 0;
        while raft.role() == Role::Follower && ticks < 100 {
            raft.tick();
            ticks += 1;
        }
        assert_eq!(raft.role(), Role::Candidate);
        assert!(
            (ELECTION_TICKS..2 * ELECTION_TICKS).contains(&ticks),
            "seed {seed}: campaigned after {ticks} ticks"
        );
        assert_eq!(raft.term(), 1);
        assert_eq!(raft.vote(), Some(1), "a candidate votes for itself");
    }
}

#[test]
fn candidate_persists_its_vote_before_asking_for_votes() {
    let mut raft = node(1, 3, Bugs::default());
    raft.campaign();
    let ready = raft.ready();
    assert_eq!(
        ready.hard_state.map(|hard| (hard.term, hard.vote)),
        Some((1, Some(1)))
    );
    assert_eq!(ready.messages.len(), 2);
    assert!(
        ready
            .messages
            .iter()
            .all(|message| !message.may_send_before_persist()),
        "RequestVote waits for the fsync"
    );
}

#[test]
fn candidate_with_a_majority_becomes_leader_and_appends_a_noop() {
    let mut cluster = Cluster::new(3, Bugs::default(), 100);
    cluster.campaign(1);
    cluster.deliver_all();
    assert_eq!(cluster.node(1).role(), Role::Leader);
    assert_eq!(cluster.node(2).leader(), Some(1));
    assert_eq!(
        cluster
            .node(1)
            .entry(1)
            .map(|entry| (entry.term, entry.data.is_empty())),
        Some((1, true))
    );
    assert_eq!(
        cluster.node(1).commit(),
        1,
        "the no-op commits once a majority stores it"
    );
    cluster.heartbeat(1);
    cluster.deliver_all();
    assert_eq!(
        cluster.node(3).commit(),
        1,
        "followers learn the commit with the next heartbeat"
    );
}

#[test]
fn a_node_votes_at_most_once_per_term() {
    let mut raft = node(1, 3, Bugs::default());
    raft.step(request_vote(2, 1, 1, 0, 0));
    assert_eq!(vote_granted(&flush(&mut raft)), Some(true));
    raft.step(request_vote(3, 1, 1, 0, 0));
    assert_eq!(
        vote_granted(&flush(&mut raft)),
        Some(false),
        "already voted for 2 in term 1"
    );
    raft.step(request_vote(2, 1, 1, 0, 0));
    assert_eq!(
        vote_granted(&flush(&mut raft)),
        Some(true),
        "a repeated request from the same candidate is granted again"
    );
}

#[test]
fn a_restarted_node_remembers_its_vote() {
    let mut cluster = Cluster::new(3, Bugs::default(), 100);
    cluster.node_mut(1).step(request_vote(2, 1, 1, 0, 0));
    cluster.pump(1);
    cluster.crash(1);
    cluster.restart(1);
    cluster.node_mut(1).step(request_vote(3, 1, 1, 0, 0));
    assert_eq!(vote_granted(&flush(cluster.node_mut(1))), Some(false));
}

#[test]
fn vote_is_denied_to_a_candidate_whose_log_is_behind() {
    // Raft §5.4.1: our last entry has term 2; the candidate's has term 1.
    let mut raft = restored(1, 3, Bugs::default(), 2, &[1, 2]);
    raft.step(request_vote(2, 1, 3, 5, 1));
    assert_eq!(
        vote_granted(&flush(&mut raft)),
        Some(false),
        "an older last term loses even with a longer log"
    );
    let mut raft = restored(1, 3, Bugs::default(), 2, &[1, 2]);
    raft.step(request_vote(2, 1, 3, 1, 2));
    assert_eq!(
        vote_granted(&flush(&mut raft)),
        Some(false),
        "same last term, shorter log"
    );
    let mut raft = restored(1, 3, Bugs::default(), 2, &[1, 2]);
    raft.step(request_vote(2, 1, 3, 2, 2));
    assert_eq!(
        vote_granted(&flush(&mut raft)),
        Some(true),
        "an equal log is up to date"
    );
}

#[test]
fn bug_vote_without_log_check_grants_the_vote_to_a_candidate_that_is_behind() {
    let bugs = Bugs {
        vote_without_log_check: true,
        ..Bugs::default()
    };
    let mut raft = restored(1, 3, bugs, 2, &[1, 2]);
    raft.step(request_vote(2, 1, 3, 5, 1));
    assert_eq!(vote_granted(&flush(&mut raft)), Some(true));
}

#[test]
fn a_higher_term_makes_a_leader_step_down() {
    let mut cluster = Cluster::new(3, Bugs::default(), 100);
    cluster.campaign(1);
    cluster.deliver_all();
    let leader = cluster.node_mut(1);
    leader.step(append(2, 1, 5, (0, 0), Vec::new(), 0));
    assert_eq!(
        (leader.role(), leader.term(), leader.leader(), leader.vote()),
        (Role::Follower, 5, Some(2), None)
    );
}

#[test]
fn a_candidate_denied_by_a_majority_steps_back() {
    let mut raft = node(1, 3, Bugs::default());
    raft.campaign();
    flush(&mut raft);
    raft.step(message(
        2,
        1,
        1,
        MessageBody::RequestVoteResponse { granted: false },
    ));
    assert_eq!(raft.role(), Role::Candidate);
    raft.step(message(
        3,
        1,
        1,
        MessageBody::RequestVoteResponse { granted: false },
    ));
    assert_eq!(raft.role(), Role::Follower);
}

#[test]
fn a_stale_term_message_is_rejected_with_the_newer_term() {
    let mut raft = restored(1, 3, Bugs::default(), 4, &[1]);
    raft.step(append(2, 1, 3, (1, 1), vec![entry(2, 3)], 2));
    let messages = flush(&mut raft);
    assert_eq!(
        append_response(&messages).map(|(success, ..)| success),
        Some(false)
    );
    assert_eq!(messages[0].term, 4);
    assert_eq!(
        raft.last_index(),
        1,
        "nothing from a stale leader is stored"
    );
}

#[test]
fn a_single_node_cluster_elects_itself_and_commits_alone() {
    let mut raft = Raft::new(
        config(1, 1, Bugs::default(), 100),
        HardState::default(),
        Vec::new(),
    )
    .expect("valid config");
    for _ in 0..2 * ELECTION_TICKS {
        raft.tick();
    }
    assert_eq!(raft.role(), Role::Leader);
    flush(&mut raft);
    assert_eq!(raft.commit(), 1);
}

#[test]
fn a_leader_that_hears_from_no_majority_steps_down() {
    let mut cluster = three_node_cluster_led_by_1(Bugs::default());
    for _ in 0..2 * ELECTION_TICKS {
        cluster.node_mut(1).tick();
    }
    assert_eq!(cluster.node(1).role(), Role::Follower);
    assert_eq!(cluster.node(1).leader(), None);
}

#[test]
fn a_leader_in_contact_with_a_majority_keeps_leading() {
    let mut cluster = three_node_cluster_led_by_1(Bugs::default());
    for _ in 0..5 * ELECTION_TICKS {
        cluster.node_mut(1).tick();
        cluster.deliver_all();
    }
    assert_eq!(cluster.node(1).role(), Role::Leader);
    assert_eq!(cluster.node(1).term(), 1);
}

#[test]
fn bug_volatile_state_lets_a_restarted_node_vote_twice_in_a_term() {
    // The Raft core always hands its hard state out for persisting; the bug
    // is in the log file (see wal.rs). A node restarted from an empty disk
    // forgets its vote:
    let mut cluster = Cluster::new(3, Bugs::default(), 100);
    cluster.node_mut(1).step(request_vote(2, 1, 1, 0, 0));
    cluster.pump(1);
    cluster.crash(1);
    cluster.disks.insert(1, Disk::default());
    cluster.restart(1);
    cluster.node_mut(1).step(request_vote(3, 1, 1, 0, 0));
    assert_eq!(
        vote_granted(&flush(cluster.node_mut(1))),
        Some(true),
        "a second vote in term 1"
    );
}

#[test]
fn config_validation_rejects_unworkable_settings() {
    let mut bad = config(1, 3, Bugs::default(), 100);
    bad.heartbeat_ticks = ELECTION_TICKS;
    assert!(matches!(
        bad.validate(),
        Err(ConfigError::HeartbeatNotShorterThanElection { .. })
    ));
    let mut bad = config(1, 3, Bugs::default(), 100);
    bad.peers.push(1);
    assert_eq!(bad.validate(), Err(ConfigError::SelfAsPeer { id: 1 }));
    let mut bad = config(1, 3, Bugs::default(), 100);
    bad.peers.push(2);
    assert_eq!(bad.validate(), Err(ConfigError::DuplicatePeer { peer: 2 }));
}
