//! `figure8`: the Raft paper's Figure 8, played on a live cluster.
//!
//! Raft §5.4.2: a leader may commit an entry of an earlier term only
//! together with one of its own term. Breaking that rule loses a committed
//! entry only in one interleaving (the paper's Figure 8), which random
//! faults practically never produce: a leader's first entry of its term
//! (raftkv's no-op) leaves within microseconds of its election and makes
//! the earlier entries commit with it. This fault watches the cluster
//! ([`Observe`]) and slows links so that each step lands inside its window:
//!
//! 1. The leader `a` is cut off while clients keep writing to it: its log
//!    ends in entries of its term that nobody else has. The links between
//!    the other nodes are slowed.
//! 2. The moment one of them, `x`, is seen leading a later term, it is cut
//!    off too: its first entry of that term is still in a slowed link, and
//!    the cut drops it. `x`'s log now ends in an entry nobody else has, of
//!    a later term than `a`'s.
//! 3. `a` and just enough of the rest for a majority talk again (more could
//!    elect one of their own), `a`'s links to them slowed: `a` wins the
//!    next election (its log is the longest of the latest term they know)
//!    and sends the rest its old entries, then its own first entry. The
//!    moment `a`'s commit index moves, `a` is cut off again, dropping what
//!    was still in its slowed links. A correct node moved it for its own
//!    first entry, which the rest then hold; a node that counts replicas of
//!    earlier terms moved it for the old entries alone.
//! 4. `x` and the rest talk again: when the rest lack `a`'s first entry, `x`
//!    (whose last entry has the later term) wins, and overwrites the old
//!    entries `a` committed. `a` stays cut off; the next step heals it, and
//!    its committed entries are overwritten too.
//!
//! Every step has a deadline; when the cluster does something else (no
//! leader, another winner) the fault stops there, says so in the event's
//! errors, and leaves the cut for the next step to heal.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::time::sleep;

use super::{Action, Nemesis, NemesisEvent};
use crate::{majority, Delay, Link, NodeId, Partition, Shape};

/// What one node says about itself: enough to see who leads and when a
/// leader commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// It says it is the leader of `term`.
    pub leader: bool,
    /// Its current term.
    pub term: u64,
    /// The highest log index it knows committed.
    pub commit: u64,
}

/// Asks every node for its [`NodeView`]; `result[i]` is node i's answer,
/// `None` when it did not answer. Must return within about a second.
pub trait Observe: Send + Sync {
    /// One round of questions.
    fn observe(&self) -> Pin<Box<dyn Future<Output = Vec<Option<NodeView>>> + Send + '_>>;
}

/// Latency added to the slowed links: far above how long it takes to see a
/// new leader (a few polls) and well below raftkv's shortest election
/// timeout (500 ms), so that slowed elections still end.
pub(crate) const SLOW: Duration = Duration::from_millis(100);
/// How often the cluster is asked while waiting for a step.
const POLL: Duration = Duration::from_millis(4);
/// The longest wait for any one step.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The leader of the highest term among the answers.
fn leader_of(views: &[Option<NodeView>]) -> Option<(NodeId, NodeView)> {
    views
        .iter()
        .enumerate()
        .filter_map(|(index, view)| view.map(|view| (NodeId(index), view)))
        .filter(|(_, view)| view.leader)
        .max_by_key(|(_, view)| view.term)
}

impl Nemesis {
    /// Plays `Fault::Figure8` (see the module docs); returns its events.
    pub(super) async fn figure8(&mut self) -> Vec<NemesisEvent> {
        let mut events = Vec::new();
        let Some(observer) = self.observer.clone() else {
            let mut event = NemesisEvent::new(Action::Partition, self.now_ns());
            event.errors.push(
                "figure8 needs to see who leads: this target's client reports no node status"
                    .into(),
            );
            return vec![event];
        };
        let count = self.supervisor.len();
        let mut slowed = Vec::new();
        let outcome = self
            .figure8_steps(observer.as_ref(), count, &mut slowed, &mut events)
            .await;
        if !slowed.is_empty() {
            events.push(self.set_slow(&slowed, None));
        }
        if let Err(error) = outcome {
            if let Some(last) = events.last_mut() {
                last.errors.push(error);
            } else {
                let mut event = NemesisEvent::new(Action::Partition, self.now_ns());
                event.errors.push(error);
                events.push(event);
            }
        }
        events
    }

    async fn figure8_steps(
        &mut self,
        observer: &dyn Observe,
        count: usize,
        slowed: &mut Vec<Link>,
        events: &mut Vec<NemesisEvent>,
    ) -> Result<(), String> {
        if count < 3 {
            return Err(format!("figure8 needs at least 3 nodes, not {count}"));
        }
        let views = observer.observe().await;
        if views.iter().all(Option::is_none) {
            return Err("figure8: no node reported its status (role, term, commit index)".into());
        }
        let (a, a_view) = leader_of(&views).ok_or("figure8: no leader to start from")?;
        let rest: Vec<NodeId> = NodeId::all(count).filter(|&node| node != a).collect();

        // 1. Cut the leader off; slow the links among the others.
        let among: Vec<Link> = rest
            .iter()
            .flat_map(|&from| {
                rest.iter()
                    .filter(move |&&to| to != from)
                    .map(move |&to| Link::new(from, to))
            })
            .collect();
        events.push(self.set_slow(&among, Some(SLOW)));
        slowed.clone_from(&among);
        events.push(self.cut_groups(count, vec![vec![a], rest.clone()]));

        // 2. Cut off the next leader the moment it is seen.
        let (x, x_view) = self
            .wait_for(observer, "a new leader among the others", |views| {
                leader_of(views).filter(|(node, view)| *node != a && view.term > a_view.term)
            })
            .await
            .map_err(|error| {
                // The likeliest cause, and the one a user can fix.
                format!(
                    "{error} (their links are {} ms slower: with an election timeout near \
                     that, no election ends; see docs/nemesis.md, figure8)",
                    SLOW.as_millis()
                )
            })?;
        let others: Vec<NodeId> = rest.iter().copied().filter(|&node| node != x).collect();
        events.push(self.cut_groups(count, vec![vec![a], vec![x], others.clone()]));

        // 3. The old leader and just enough others for a majority (so that
        //    they cannot elect one of their own without its vote), its links
        //    to them slowed; any further others wait alone.
        let quorum = majority(count);
        let (followers, waiting) = others.split_at((quorum - 1).min(others.len()));
        events.push(self.set_slow(slowed, None));
        let outward: Vec<Link> = followers.iter().map(|&to| Link::new(a, to)).collect();
        events.push(self.set_slow(&outward, Some(SLOW)));
        *slowed = outward;
        let mut joined = vec![a];
        joined.extend(followers);
        let mut groups = vec![vec![x], joined];
        if !waiting.is_empty() {
            groups.push(waiting.to_vec());
        }
        events.push(self.cut_groups(count, groups));
        let (winner, won) = self
            .wait_for(observer, "a leader after the second one", |views| {
                leader_of(views).filter(|(_, view)| view.term > x_view.term)
            })
            .await?;
        if winner != a {
            return Err(format!(
                "figure8: {winner} won term {} instead of the old leader {a}",
                won.term
            ));
        }
        self.wait_for(observer, "the old leader's commit index to move", |views| {
            let view = views.get(a.index()).copied().flatten()?;
            (view.commit > won.commit || !view.leader || view.term != won.term).then_some(view)
        })
        .await?;
        events.push(self.cut_groups(count, vec![vec![a], vec![x], others.clone()]));
        events.push(self.set_slow(slowed, None));
        slowed.clear();

        // 4. The second leader and every other node again; the old one
        //    stays cut off until the next step heals.
        let mut joined = vec![x];
        joined.extend(&others);
        events.push(self.cut_groups(count, vec![vec![a], joined]));
        self.wait_for(observer, "a leader without the old one", |views| {
            leader_of(views).filter(|(node, view)| *node != a && view.term > won.term)
        })
        .await?;
        Ok(())
    }

    /// Polls until `found` picks something out of an answer, or fails
    /// after `STEP_TIMEOUT` naming `what`.
    async fn wait_for<T>(
        &self,
        observer: &dyn Observe,
        what: &str,
        mut found: impl FnMut(&[Option<NodeView>]) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let views = observer.observe().await;
            if let Some(value) = found(&views) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "figure8: no sign of {what} within {} s; stopped there",
                    STEP_TIMEOUT.as_secs()
                ));
            }
            sleep(POLL).await;
        }
    }

    /// Cuts exactly the links between `groups` (shape `leader`: every cut
    /// of this fault isolates a leader, the current or a just-elected one).
    fn cut_groups(&mut self, count: usize, groups: Vec<Vec<NodeId>>) -> NemesisEvent {
        let partition = Partition::from_groups(Shape::Leader, count, groups);
        self.cut(&partition)
    }

    /// Sets (or with `None` removes) the latency of `links`.
    fn set_slow(&self, links: &[Link], delay: Option<Duration>) -> NemesisEvent {
        let mut event = NemesisEvent::new(Action::Delay, self.now_ns());
        for &link in links {
            self.network.set_delay(
                link,
                delay.map(|fixed| Delay {
                    fixed,
                    jitter: Duration::ZERO,
                }),
            );
        }
        event.links = links.to_vec();
        let mut nodes: Vec<NodeId> = links.iter().flat_map(|l| [l.from, l.to]).collect();
        nodes.sort_unstable();
        nodes.dedup();
        event.nodes = nodes;
        event.delay_ms = Some(delay.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0)));
        event.end_ns = self.now_ns();
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(leader: bool, term: u64) -> Option<NodeView> {
        Some(NodeView {
            leader,
            term,
            commit: 0,
        })
    }

    #[test]
    fn the_leader_is_the_one_of_the_highest_term() {
        let views = [view(true, 3), None, view(true, 5), view(false, 9)];
        assert_eq!(leader_of(&views).map(|(node, _)| node), Some(NodeId(2)));
        assert_eq!(leader_of(&[view(false, 2), None]), None);
    }
}
