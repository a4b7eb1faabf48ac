//! A source whose files are held in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use super::Journal;
use crate::source::{Completion, Source, SourceError, SourceFile};

/// The folder every file of a [`MemorySource`] is in.
const FOLDER: &str = "memory";

/// A small valid 3GPP file of node `ne`: one table `Cells`, rows `Cell=1` to
/// `Cell=<cells>` of one counter.
pub fn pm_file(ne: &str, cells: usize) -> Bytes {
    let rows: String = (1..=cells)
        .map(|i| format!("<measValue measObjLdn=\"Cell={i}\"><r p=\"1\">{i}</r></measValue>"))
        .collect();
    Bytes::from(format!(
        "<measCollecFile><measData><managedElement localDn=\"{ne}\"/>\
         <measInfo measInfoId=\"Cells\"><granPeriod duration=\"PT900S\" endTime=\"2026-01-05T00:15:00Z\"/>\
         <measType p=\"1\">pmFoo</measType>{rows}</measInfo></measData></measCollecFile>"
    ))
}

/// An inbox in memory: lists its files, hands out their bytes, and on completion
/// removes them and journals where they went. Counts the files fetched but not yet
/// completed, and the most there ever were.
pub struct MemorySource {
    inbox: Mutex<BTreeMap<String, Bytes>>,
    reasons: Mutex<BTreeMap<String, String>>,
    journal: Arc<Journal>,
    in_memory: AtomicUsize,
    most_in_memory: AtomicUsize,
}

impl MemorySource {
    /// A source holding `files` (name, bytes), journaling into `journal`.
    pub fn new(files: Vec<(String, Bytes)>, journal: Arc<Journal>) -> Self {
        Self {
            inbox: Mutex::new(files.into_iter().collect()),
            reasons: Mutex::default(),
            journal,
            in_memory: AtomicUsize::new(0),
            most_in_memory: AtomicUsize::new(0),
        }
    }

    /// The names of the files still in the inbox.
    pub fn inbox(&self) -> Vec<String> {
        self.inbox
            .lock()
            .expect("inbox lock")
            .keys()
            .cloned()
            .collect()
    }

    /// The reason a file was quarantined with.
    pub fn reason(&self, name: &str) -> Option<String> {
        self.reasons
            .lock()
            .expect("reasons lock")
            .get(name)
            .cloned()
    }

    /// The most files that were fetched and not yet completed at one time.
    pub fn most_in_memory(&self) -> usize {
        self.most_in_memory.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Source for MemorySource {
    fn describe(&self) -> String {
        FOLDER.to_string()
    }

    async fn probe(&self) -> Result<(), SourceError> {
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SourceFile>, SourceError> {
        let inbox = self.inbox.lock().expect("inbox lock");
        Ok(inbox
            .iter()
            .map(|(name, bytes)| SourceFile {
                folder: FOLDER.into(),
                name: name.clone(),
                size: bytes.len() as u64,
                modified: None,
            })
            .collect())
    }

    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError> {
        let bytes = self
            .inbox
            .lock()
            .expect("inbox lock")
            .get(&file.name)
            .cloned();
        let now = self.in_memory.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_memory.fetch_max(now, Ordering::SeqCst);
        bytes.ok_or_else(|| SourceError {
            source_name: FOLDER.into(),
            action: "fetch",
            file: file.name.clone(),
            error: std::io::ErrorKind::NotFound.into(),
        })
    }

    async fn complete(
        &self,
        file: &SourceFile,
        completion: &Completion,
    ) -> Result<(), SourceError> {
        self.inbox.lock().expect("inbox lock").remove(&file.name);
        self.in_memory.fetch_sub(1, Ordering::SeqCst);
        let event = match completion {
            Completion::Done => format!("done {}", file.name),
            Completion::Failed(reason) => {
                let mut reasons = self.reasons.lock().expect("reasons lock");
                reasons.insert(file.name.clone(), reason.clone());
                format!("failed {}", file.name)
            }
        };
        self.journal.record(event);
        Ok(())
    }
}
