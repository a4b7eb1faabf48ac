//! Who is in a system's consumer group and which task partitions each member has, as
//! the group coordinator tells (`DescribeGroups`): what `/api/v1/systems` shows.

use std::time::Duration;

use rdkafka::producer::Producer;
use serde::Serialize;

use super::Cluster;
use super::task::{group, tasks_topic};

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The process (`host:pid`, its client id).
    pub node: String,
    /// The host the coordinator saw it connect from.
    pub host: String,
    /// The task partitions it has.
    pub partitions: Vec<i32>,
}

/// How long the coordinator may take to answer.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Cluster {
    /// The members of `system`'s group, by node name. Blocking: call it off the
    /// async threads.
    pub fn members(&self, system: &str) -> Result<Vec<Member>, String> {
        let group = group(system);
        let topic = tasks_topic(system);
        let groups = self
            .producer
            .client()
            .fetch_group_list(Some(&group), DESCRIBE_TIMEOUT)
            .map_err(|e| format!("cannot describe the group {group}: {e}"))?;
        let mut members: Vec<Member> = groups
            .groups()
            .iter()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.members())
            .map(|m| Member {
                node: m.client_id().to_string(),
                host: m.client_host().trim_start_matches('/').to_string(),
                partitions: m
                    .assignment()
                    .map(|a| assigned_partitions(a, &topic))
                    .unwrap_or_default(),
            })
            .collect();
        members.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(members)
    }
}

/// The partitions of `topic` in a member's assignment (Kafka's consumer protocol:
/// version, then per topic its name and partitions, then user data); nothing when the
/// bytes are not such an assignment.
pub fn assigned_partitions(assignment: &[u8], topic: &str) -> Vec<i32> {
    let mut reader = Reader(assignment);
    let mut partitions = Vec::new();
    let mut read = || -> Option<()> {
        reader.take(2)?;
        for _ in 0..reader.i32()? {
            let name_length = usize::try_from(reader.i16()?).ok()?;
            let name = reader.take(name_length)?;
            for _ in 0..reader.i32()? {
                let partition = reader.i32()?;
                if name == topic.as_bytes() {
                    partitions.push(partition);
                }
            }
        }
        Some(())
    };
    if read().is_none() {
        return Vec::new();
    }
    partitions.sort_unstable();
    partitions
}

/// Big-endian reads over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut bytes = 0i16.to_be_bytes().to_vec();
        bytes.extend((topics.len() as i32).to_be_bytes());
        for (name, partitions) in topics {
            bytes.extend((name.len() as i16).to_be_bytes());
            bytes.extend(name.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        bytes.extend((-1i32).to_be_bytes());
        bytes
    }

    #[test]
    fn the_partitions_of_the_task_topic_are_read_from_an_assignment() {
        let bytes = assignment(&[("other", &[0]), ("pmflow.tasks.5ga", &[7, 1, 4])]);
        assert_eq!(assigned_partitions(&bytes, "pmflow.tasks.5ga"), [1, 4, 7]);
        assert_eq!(assigned_partitions(&bytes, "pmflow.tasks.4ga"), [] as [i32; 0]);
    }

    #[test]
    fn bytes_that_are_no_assignment_give_no_partition() {
        let bytes = assignment(&[("pmflow.tasks.5ga", &[1, 2])]);
        for cut in 0..bytes.len() - 4 {
            let got = assigned_partitions(&bytes[..cut], "pmflow.tasks.5ga");
            assert!(got.is_empty(), "cut at {cut}: {got:?}");
        }
        assert!(assigned_partitions(&[], "t").is_empty());
    }
}
