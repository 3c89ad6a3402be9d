//! The `--nemesis` list: which faults a run injects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CorruptKind, Error, Shape, Victims};

/// One item of the `--nemesis` list. `None` in the option means "pick one
/// at random by seed each time".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "fault", content = "option")]
pub enum FaultSpec {
    /// `partition` or `partition:SHAPE`.
    Partition(Option<Shape>),
    /// `pause` or `pause:TARGET`.
    Pause(Option<Victims>),
    /// `kill` or `kill:TARGET`.
    Kill(Option<Victims>),
    /// `stall` or `stall:TARGET`: pause the target and cut it off from the
    /// rest, so that it wakes up still isolated (see `Fault::Stall`).
    Stall(Option<Victims>),
    /// `crash` or `crash:TARGET`: SIGKILL the target and start it again at
    /// once, as a process supervisor would (see `Fault::Crash`).
    Crash(Option<Victims>),
    /// `figure8`: the leader-watching choreography of the Raft paper's
    /// Figure 8 (see `Fault::Figure8`); takes no option.
    Figure8,
    /// `power` or `power:TARGET`: the target loses power at one instant
    /// (SIGKILL, then every unsynced write dropped); restarted at the heal
    /// (see `Fault::Power`). Needs disks (docs/disk.md).
    Power(Option<Victims>),
    /// `powercycle` or `powercycle:TARGET`: as `power`, but restarted at
    /// once, as `crash` is to `kill`.
    PowerCycle(Option<Victims>),
    /// `corrupt[:one|minority][:bitflip|truncate]`: damage the durable copy
    /// of a stopped node's file (see `Fault::Corrupt`). Needs disks.
    Corrupt {
        /// `one` or `minority`; by seed when absent.
        target: Option<Victims>,
        /// A bit flip or a truncation; by seed, each time, when absent.
        kind: Option<CorruptKind>,
    },
}

impl FaultSpec {
    /// The fault words `--nemesis` accepts.
    pub const WORDS: [&'static str; 10] = [
        "none",
        "partition",
        "pause",
        "kill",
        "stall",
        "crash",
        "figure8",
        "power",
        "powercycle",
        "corrupt",
    ];

    /// The targets `corrupt:` accepts: never a majority, so that a
    /// majority keeps its data and the cluster can serve.
    pub const CORRUPT_TARGETS: [Victims; 2] = [Victims::One, Victims::Minority];

    /// Whether this fault acts on the nodes' disks (and so needs the
    /// target's `[disk]` table and a lazyfs mount per node).
    #[must_use]
    pub fn needs_disk(&self) -> bool {
        matches!(
            self,
            FaultSpec::Power(_) | FaultSpec::PowerCycle(_) | FaultSpec::Corrupt { .. }
        )
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSpec::Partition(None) => f.write_str("partition"),
            FaultSpec::Partition(Some(shape)) => write!(f, "partition:{shape}"),
            FaultSpec::Pause(None) => f.write_str("pause"),
            FaultSpec::Pause(Some(target)) => write!(f, "pause:{target}"),
            FaultSpec::Kill(None) => f.write_str("kill"),
            FaultSpec::Kill(Some(target)) => write!(f, "kill:{target}"),
            FaultSpec::Stall(None) => f.write_str("stall"),
            FaultSpec::Stall(Some(target)) => write!(f, "stall:{target}"),
            FaultSpec::Crash(None) => f.write_str("crash"),
            FaultSpec::Crash(Some(target)) => write!(f, "crash:{target}"),
            FaultSpec::Figure8 => f.write_str("figure8"),
            FaultSpec::Power(None) => f.write_str("power"),
            FaultSpec::Power(Some(target)) => write!(f, "power:{target}"),
            FaultSpec::PowerCycle(None) => f.write_str("powercycle"),
            FaultSpec::PowerCycle(Some(target)) => write!(f, "powercycle:{target}"),
            FaultSpec::Corrupt { target, kind } => {
                f.write_str("corrupt")?;
                if let Some(target) = target {
                    write!(f, ":{target}")?;
                }
                if let Some(kind) = kind {
                    write!(f, ":{}", kind.as_str())?;
                }
                Ok(())
            }
        }
    }
}

/// The faults of a run, parsed from `--nemesis` (e.g.
/// `partition:halves,pause:leader,kill`). `none` (or an empty mix) runs no faults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultMix(pub Vec<FaultSpec>);

impl FaultMix {
    /// Whether the mix injects no faults at all.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether some fault of the mix acts on disks (`power`, `powercycle`,
    /// `corrupt`).
    #[must_use]
    pub fn needs_disk(&self) -> bool {
        self.0.iter().any(FaultSpec::needs_disk)
    }
}

impl fmt::Display for FaultMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let words: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&words.join(","))
    }
}

fn valid_list(words: impl IntoIterator<Item = &'static str>) -> String {
    words.into_iter().collect::<Vec<_>>().join(", ")
}

fn parse_option<T: Copy>(
    list: &str,
    fault: &str,
    word: Option<&str>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, Error> {
    let Some(word) = word else {
        return Ok(None);
    };
    all.iter()
        .copied()
        .find(|&item| name(item) == word)
        .map(Some)
        .ok_or_else(|| Error::UnknownOption {
            list: list.to_owned(),
            fault: fault.to_owned(),
            word: word.to_owned(),
            valid: valid_list(all.iter().map(|&item| name(item))),
        })
}

/// `corrupt`'s options: up to two words after it, a target (`one`,
/// `minority`) and a kind (`bitflip`, `truncate`), in that order, each
/// optional: `corrupt:one:bitflip`, `corrupt:truncate`.
fn parse_corrupt(list: &str, option: Option<&str>) -> Result<FaultSpec, Error> {
    let (mut target, mut kind) = (None, None);
    let words: Vec<&str> = option.map(|o| o.split(':').collect()).unwrap_or_default();
    for (i, word) in words.iter().enumerate() {
        let as_target = FaultSpec::CORRUPT_TARGETS
            .iter()
            .copied()
            .find(|t| t.as_str() == *word);
        let as_kind = CorruptKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == *word);
        match (as_target, as_kind) {
            (Some(t), _) if i == 0 => target = Some(t),
            (_, Some(k)) if kind.is_none() && i < 2 => kind = Some(k),
            _ => {
                return Err(Error::UnknownOption {
                    list: list.to_owned(),
                    fault: "corrupt".to_owned(),
                    word: (*word).to_owned(),
                    valid: format!(
                        "{} (a target first), then {}",
                        valid_list(FaultSpec::CORRUPT_TARGETS.iter().map(|t| t.as_str())),
                        valid_list(CorruptKind::ALL.iter().map(|k| k.as_str()))
                    ),
                })
            }
        }
    }
    Ok(FaultSpec::Corrupt { target, kind })
}

impl FromStr for FaultMix {
    type Err = Error;

    /// Parses a comma list; spaces around items are ignored.
    ///
    /// # Errors
    /// `UnknownFault` or `UnknownOption` naming the bad word and the valid
    /// ones; `BadFaultList` for an empty item or `none` next to real faults.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let bad = |reason| Error::BadFaultList {
            list: list.to_owned(),
            reason,
        };
        let items: Vec<&str> = list.split(',').map(str::trim).collect();
        if items.iter().any(|item| item.is_empty()) {
            return Err(bad("an item is empty (two commas, or a comma at an end)"));
        }
        if items.contains(&"none") {
            return if items.len() == 1 {
                Ok(FaultMix::default())
            } else {
                Err(bad("`none` cannot be combined with faults"))
            };
        }
        let mut faults = Vec::with_capacity(items.len());
        for item in items {
            let (fault, option) = match item.split_once(':') {
                Some((fault, option)) => (fault, Some(option)),
                None => (item, None),
            };
            let target = || parse_option(list, fault, option, &Victims::ALL, Victims::as_str);
            let spec = match fault {
                "partition" => FaultSpec::Partition(parse_option(
                    list,
                    fault,
                    option,
                    &Shape::ALL,
                    Shape::as_str,
                )?),
                "pause" => FaultSpec::Pause(target()?),
                "kill" => FaultSpec::Kill(target()?),
                "stall" => FaultSpec::Stall(target()?),
                "crash" => FaultSpec::Crash(target()?),
                "power" => FaultSpec::Power(target()?),
                "powercycle" => FaultSpec::PowerCycle(target()?),
                "corrupt" => parse_corrupt(list, option)?,
                "figure8" => match option {
                    None => FaultSpec::Figure8,
                    Some(word) => {
                        return Err(Error::UnknownOption {
                            list: list.to_owned(),
                            fault: fault.to_owned(),
                            word: word.to_owned(),
                            valid: "none: figure8 takes no option".to_owned(),
                        })
                    }
                },
                _ => {
                    return Err(Error::UnknownFault {
                        list: list.to_owned(),
                        word: fault.to_owned(),
                        valid: valid_list(FaultSpec::WORDS),
                    })
                }
            };
            faults.push(spec);
        }
        Ok(FaultMix(faults))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_faults_with_and_without_options() {
        let mix: FaultMix = "partition:halves, pause:leader,kill,partition"
            .parse()
            .expect("a valid list");
        assert_eq!(
            mix.0,
            vec![
                FaultSpec::Partition(Some(Shape::Halves)),
                FaultSpec::Pause(Some(Victims::Leader)),
                FaultSpec::Kill(None),
                FaultSpec::Partition(None),
            ]
        );
        assert_eq!(
            mix.to_string(),
            "partition:halves,pause:leader,kill,partition"
        );
    }

    #[test]
    fn none_means_no_faults() {
        let mix: FaultMix = "none".parse().expect("none is valid");
        assert!(mix.is_none());
        assert!("none,kill".parse::<FaultMix>().is_err());
    }

    #[test]
    fn typo_in_a_fault_names_the_word_and_the_valid_ones() {
        let error = "partition,pasue"
            .parse::<FaultMix>()
            .expect_err("pasue is a typo")
            .to_string();
        assert!(error.contains("\"pasue\""), "{error}");
        assert!(error.contains("none, partition, pause, kill"), "{error}");
    }

    #[test]
    fn typo_in_a_shape_names_the_word_and_the_valid_shapes() {
        let error = "partition:halfs"
            .parse::<FaultMix>()
            .expect_err("halfs is a typo")
            .to_string();
        assert!(error.contains("\"halfs\""), "{error}");
        assert!(
            error.contains("one, halves, ring, bridge, leader, oneway"),
            "{error}"
        );
        let error = "kill:ring"
            .parse::<FaultMix>()
            .expect_err("ring is a shape, not a target")
            .to_string();
        assert!(
            error.contains("one, minority, majority, leader, all"),
            "{error}"
        );
    }

    #[test]
    fn stall_and_crash_take_the_targets_of_pause_and_kill() {
        let mix: FaultMix = "stall:leader,stall,crash:majority,crash"
            .parse()
            .expect("a valid list");
        assert_eq!(
            mix.0,
            vec![
                FaultSpec::Stall(Some(Victims::Leader)),
                FaultSpec::Stall(None),
                FaultSpec::Crash(Some(Victims::Majority)),
                FaultSpec::Crash(None),
            ]
        );
        assert_eq!(mix.to_string(), "stall:leader,stall,crash:majority,crash");
        for (list, bad) in [("stall:halves", "halves"), ("crash:ring", "ring")] {
            let error = list.parse::<FaultMix>().expect_err("a shape, not a target");
            let error = error.to_string();
            assert!(error.contains(&format!("\"{bad}\"")), "{error}");
            assert!(
                error.contains("one, minority, majority, leader, all"),
                "{error}"
            );
        }
        let error = "stal".parse::<FaultMix>().expect_err("a typo").to_string();
        assert!(
            error.contains("none, partition, pause, kill, stall, crash"),
            "{error}"
        );
    }

    #[test]
    fn figure8_is_a_word_without_options() {
        let mix: FaultMix = "figure8,partition".parse().expect("a valid list");
        assert_eq!(mix.0, vec![FaultSpec::Figure8, FaultSpec::Partition(None)]);
        assert_eq!(mix.to_string(), "figure8,partition");
        let error = "figure8:leader"
            .parse::<FaultMix>()
            .expect_err("no options")
            .to_string();
        assert!(error.contains("\"leader\""), "{error}");
    }

    #[test]
    fn disk_faults_parse_with_their_targets_and_say_they_need_disks() {
        let mix: FaultMix = "power:all,powercycle,corrupt:minority,corrupt"
            .parse()
            .expect("a valid list");
        assert_eq!(
            mix.0,
            vec![
                FaultSpec::Power(Some(Victims::All)),
                FaultSpec::PowerCycle(None),
                FaultSpec::Corrupt {
                    target: Some(Victims::Minority),
                    kind: None
                },
                FaultSpec::Corrupt {
                    target: None,
                    kind: None
                },
            ]
        );
        assert_eq!(
            mix.to_string(),
            "power:all,powercycle,corrupt:minority,corrupt"
        );
        assert!(mix.needs_disk());
        assert!(!"kill,crash:all".parse::<FaultMix>().unwrap().needs_disk());
    }

    #[test]
    fn corrupting_a_majority_is_refused_naming_the_valid_targets() {
        let error = "corrupt:majority"
            .parse::<FaultMix>()
            .expect_err("a majority would lose its data")
            .to_string();
        assert!(error.contains("\"majority\""), "{error}");
        assert!(error.contains("one, minority"), "{error}");
    }

    #[test]
    fn corrupt_takes_a_target_then_a_kind_each_optional() {
        let mix: FaultMix = "corrupt:one:bitflip,corrupt:truncate,corrupt:minority"
            .parse()
            .expect("a valid list");
        assert_eq!(
            mix.0,
            vec![
                FaultSpec::Corrupt {
                    target: Some(Victims::One),
                    kind: Some(CorruptKind::Bitflip)
                },
                FaultSpec::Corrupt {
                    target: None,
                    kind: Some(CorruptKind::Truncate)
                },
                FaultSpec::Corrupt {
                    target: Some(Victims::Minority),
                    kind: None
                },
            ]
        );
        assert_eq!(
            mix.to_string(),
            "corrupt:one:bitflip,corrupt:truncate,corrupt:minority"
        );
        for bad in [
            "corrupt:bitflip:one",
            "corrupt:one:one",
            "corrupt:one:bitflip:truncate",
            "corrupt:smash",
        ] {
            let error = bad.parse::<FaultMix>().expect_err(bad).to_string();
            assert!(error.contains("bitflip, truncate"), "{bad}: {error}");
        }
    }

    #[test]
    fn rejects_empty_items() {
        assert!("kill,,pause".parse::<FaultMix>().is_err());
        assert!("".parse::<FaultMix>().is_err());
    }
}
