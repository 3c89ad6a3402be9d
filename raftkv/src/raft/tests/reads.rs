//! Client acknowledgements and linearizable reads (ReadIndex, thesis §6.4).

use super::*;

#[test]
fn a_write_is_acknowledged_only_once_committed() {
    let mut cluster = three_node_cluster_led_by_1(Bugs::default());
    let (index, _) = cluster
        .node_mut(1)
        .propose(b"x".to_vec())
        .expect("node 1 leads");
    cluster.pump(1);
    assert_eq!(
        cluster.node(1).stable_index(),
        index,
        "in the leader's durable log"
    );
    assert!(
        cluster.node(1).acknowledged_index() < index,
        "but not on a majority yet"
    );
    cluster.deliver_all();
    assert_eq!(cluster.node(1).acknowledged_index(), index);
}

#[test]
fn bug_early_ack_acknowledges_a_write_once_in_the_leaders_own_log() {
    let bugs = Bugs {
        early_ack: true,
        ..Bugs::default()
    };
    let mut cluster = three_node_cluster_led_by_1(bugs);
    let (index, _) = cluster
        .node_mut(1)
        .propose(b"x".to_vec())
        .expect("node 1 leads");
    cluster.pump(1);
    assert!(cluster.node(1).commit() < index);
    assert_eq!(cluster.node(1).acknowledged_index(), index);
}

fn read_states(raft: &mut Raft) -> Vec<ReadState> {
    let mut states = Vec::new();
    for _ in 0..10 {
        if !raft.has_ready() {
            break;
        }
        let mut ready = raft.ready();
        states.append(&mut ready.read_states);
        raft.advance(&ready);
    }
    states
}

#[test]
fn read_index_waits_for_a_heartbeat_round_from_a_majority() {
    let mut cluster = three_node_cluster_led_by_1(Bugs::default());
    cluster.node_mut(1).read_index(7).expect("node 1 leads");
    let ready = cluster.node_mut(1).ready();
    assert!(ready.read_states.is_empty(), "leadership not yet confirmed");
    let round = ready
        .messages
        .iter()
        .find_map(|message| match message.body {
            MessageBody::AppendEntries { read_round, .. } => Some(read_round),
            _ => None,
        })
        .expect("the read triggers a heartbeat");
    cluster.node_mut(1).advance(&ready);
    let confirm = MessageBody::AppendEntriesResponse {
        success: true,
        match_index: 1,
        hint: 0,
        read_round: round,
    };
    cluster.node_mut(1).step(message(2, 1, 1, confirm));
    let commit = cluster.node(1).commit();
    assert_eq!(
        read_states(cluster.node_mut(1)),
        vec![ReadState {
            ctx: 7,
            index: commit
        }]
    );
}

#[test]
fn read_index_waits_for_the_noop_of_the_term_to_commit() {
    let mut raft = node(1, 3, Bugs::default());
    raft.campaign();
    flush(&mut raft);
    raft.step(message(
        2,
        1,
        1,
        MessageBody::RequestVoteResponse { granted: true },
    ));
    flush(&mut raft);
    raft.read_index(1).expect("node 1 leads");
    flush(&mut raft);
    // Node 2 confirms the round but has not stored the no-op yet.
    raft.step(message(
        2,
        1,
        1,
        MessageBody::AppendEntriesResponse {
            success: false,
            match_index: 0,
            hint: 1,
            read_round: 1,
        },
    ));
    assert!(
        read_states(&mut raft).is_empty(),
        "commit index of the new leader is not known yet"
    );
    raft.step(message(
        2,
        1,
        1,
        MessageBody::AppendEntriesResponse {
            success: true,
            match_index: 1,
            hint: 0,
            read_round: 1,
        },
    ));
    assert_eq!(read_states(&mut raft), vec![ReadState { ctx: 1, index: 1 }]);
}

#[test]
fn a_follower_refuses_reads_and_names_the_leader() {
    let mut cluster = three_node_cluster_led_by_1(Bugs::default());
    assert_eq!(
        cluster.node_mut(2).read_index(1),
        Err(NotLeader { leader: Some(1) })
    );
    assert_eq!(
        cluster.node_mut(2).propose(Vec::new()),
        Err(NotLeader { leader: Some(1) })
    );
}

#[test]
fn bug_stale_read_lets_a_follower_read_its_local_state() {
    let bugs = Bugs {
        stale_read: true,
        ..Bugs::default()
    };
    let mut cluster = three_node_cluster_led_by_1(bugs);
    cluster
        .node_mut(2)
        .read_index(1)
        .expect("any node reads under the bug");
    let commit = cluster.node(2).commit();
    assert_eq!(
        read_states(cluster.node_mut(2)),
        vec![ReadState {
            ctx: 1,
            index: commit
        }]
    );
}

#[test]
fn without_lease_read_a_leader_always_confirms_with_a_round() {
    let mut cluster = three_node_cluster_led_by_1(Bugs::default());
    cluster.node_mut(1).read_index(1).expect("node 1 leads");
    assert!(read_states(cluster.node_mut(1)).is_empty());
}

#[test]
fn bug_lease_read_serves_a_deposed_leader_that_saw_no_ticks() {
    let bugs = Bugs {
        lease_read: true,
        ..Bugs::default()
    };
    let mut cluster = three_node_cluster_led_by_1(bugs);
    cluster.node_mut(1).read_index(1).expect("node 1 leads");
    assert_eq!(
        read_states(cluster.node_mut(1)).len(),
        1,
        "answered at once while the lease looks valid"
    );
    // Node 1 is paused: no ticks, no messages. Node 2 takes over and commits a write.
    cluster.campaign(2);
    cluster.deliver(|message| (message.to != 1 && message.from != 1).then_some(message));
    assert_eq!(cluster.node(2).role(), Role::Leader);
    cluster
        .node_mut(2)
        .propose(b"new".to_vec())
        .expect("node 2 leads");
    cluster.deliver(|message| (message.to != 1).then_some(message));
    assert!(cluster.node(2).commit() > cluster.node(1).commit());
    // Resumed, node 1 still believes in its lease and reads stale state.
    cluster
        .node_mut(1)
        .read_index(2)
        .expect("node 1 still thinks it leads");
    let stale = read_states(cluster.node_mut(1));
    assert_eq!(stale.len(), 1);
    assert!(
        stale[0].index < cluster.node(2).commit(),
        "the read misses the committed write"
    );
    // Ticks advance; the lease runs out and reads need a round again.
    for _ in 0..ELECTION_TICKS {
        cluster.node_mut(1).tick();
    }
    if cluster.node(1).role() == Role::Leader {
        cluster
            .node_mut(1)
            .read_index(3)
            .expect("still leader until it hears otherwise");
        assert!(read_states(cluster.node_mut(1))
            .iter()
            .all(|read| read.ctx != 3));
    }
}
