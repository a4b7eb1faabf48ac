//! A task: one file of a system's source for one node of the cluster to process, as
//! it travels on the task topic (JSON, keyed by the file's source and path so that
//! every task of one file lands in one partition).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::source::SourceFile;

/// The task topic of `system`: where the leader publishes its files.
pub fn tasks_topic(system: &str) -> String {
    format!("pmflow.tasks.{system}")
}

/// The dead-letter topic of `system`: tasks whose file was quarantined.
pub fn dead_letter_topic(system: &str) -> String {
    format!("pmflow.dlq.{system}")
}

/// The consumer group every node of `system` consumes its tasks in.
pub fn group(system: &str) -> String {
    format!("pmflow.{system}")
}

/// One file to process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The source the file is in, described without secrets (every node reads the
    /// same plan; this names it for people and for the key).
    pub source: String,
    /// The folder the file is in.
    pub folder: String,
    /// The file's name.
    pub name: String,
    /// Its size as listed.
    pub size: u64,
    /// Its modification time as listed, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ms: Option<u64>,
    /// How many times it was tried before (0: first try).
    #[serde(default)]
    pub attempt: u32,
    /// Not to be tried before this moment, in milliseconds since the epoch (a retry's
    /// backoff; 0: at once).
    #[serde(default)]
    pub not_before_ms: u64,
}

impl Task {
    /// The first task of a listed file.
    pub fn of(source: &str, file: &SourceFile) -> Self {
        Self {
            source: source.to_string(),
            folder: file.folder.clone(),
            name: file.name.clone(),
            size: file.size,
            modified_ms: file.modified.map(epoch_ms),
            attempt: 0,
            not_before_ms: 0,
        }
    }

    /// The file to fetch.
    pub fn file(&self) -> SourceFile {
        SourceFile {
            folder: self.folder.clone(),
            name: self.name.clone(),
            size: self.size,
            modified: self
                .modified_ms
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    /// The message key: the file's source and path.
    pub fn key(&self) -> String {
        format!("{} {}", self.source, self.file().path())
    }

    /// The next attempt of this task, due `backoff` after `now`.
    pub fn retry(&self, now: SystemTime, backoff: Duration) -> Self {
        Self {
            attempt: self.attempt + 1,
            not_before_ms: epoch_ms(now + backoff),
            ..self.clone()
        }
    }

    /// How long from `now` until the task is due (zero when it is).
    pub fn wait(&self, now: SystemTime) -> Duration {
        Duration::from_millis(self.not_before_ms.saturating_sub(epoch_ms(now)))
    }

    /// The message payload.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a task is plain data")
    }

    /// A task from a message payload.
    pub fn decode(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> SourceFile {
        SourceFile {
            folder: "/pm/5ga".into(),
            name: "A20261206.0000+0000-0015+0000_gnb1.xml".into(),
            size: 1234,
            modified: Some(UNIX_EPOCH + Duration::from_millis(1_765_000_000_123)),
        }
    }

    #[test]
    fn a_task_carries_its_file_through_the_topic() {
        let task = Task::of("ftp://pm@ftp1/pm", &file());
        let decoded = Task::decode(&task.encode()).unwrap();
        assert_eq!(decoded, task);
        assert_eq!(decoded.file(), file());
        assert_eq!(
            task.key(),
            "ftp://pm@ftp1/pm /pm/5ga/A20261206.0000+0000-0015+0000_gnb1.xml"
        );
    }

    #[test]
    fn a_retry_counts_the_attempt_and_waits_its_backoff() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let task = Task::of("inbox", &file());
        assert_eq!(task.wait(now), Duration::ZERO);
        let retry = task
            .retry(now, Duration::from_secs(5))
            .retry(now, Duration::from_secs(10));
        assert_eq!(retry.attempt, 2);
        assert_eq!(retry.wait(now), Duration::from_secs(10));
        assert_eq!(retry.wait(now + Duration::from_secs(11)), Duration::ZERO);
    }

    #[test]
    fn a_payload_that_is_no_task_is_an_error() {
        assert!(Task::decode(b"not json").is_err());
        assert!(Task::decode(br#"{"folder":"a"}"#).is_err());
    }
}
