//! The rows of one file as every parser builds them: one [`TableBuilder`] per
//! measurement table, the file's node names, and the hand-over of parts when a large
//! file is read in parts ([`Emit::Parts`]).
//!
//! Rule: a parser calls [`FileRows::row_done`] after each row it completed; a part is
//! handed over there, so parts always end at a row's end. The node and the period
//! fall back to the TS 32.432 file name when the content lacks them, and the node to
//! the whole file name after that ([`FileRows::fallback_ne`],
//! [`FileRows::fallback_period`]).

use foldhash::HashMap;

use super::builder::{TableBuilder, Value};
use super::filename::FileName;
use super::{Emit, FileContext, ParsedFile, TableBatch};

/// Values per part and where parts go.
type PartSink<'a> = (u64, &'a mut dyn FnMut(ParsedFile) -> bool);

/// The rows of one file (or of the part being read), by table.
pub struct FileRows<'a, 'e> {
    ctx: &'a FileContext,
    file_id: &'a dyn Fn() -> String,
    parts: Option<PartSink<'e>>,
    /// `counter_values` when the current part began.
    part_start: u64,
    /// Node names; the index is the `ne` id the builders use.
    ne_names: Vec<String>,
    ne_index: HashMap<String, u32>,
    tables: Vec<(String, TableBuilder)>,
    table_index: HashMap<String, usize>,
    counter_values: u64,
    file_name: FileName,
}

impl<'a, 'e> FileRows<'a, 'e> {
    /// The rows of the file `ctx` names, handed over as `emit` says; `file_id` is
    /// asked for when a part or the whole is built.
    pub fn new(ctx: &'a FileContext, file_id: &'a dyn Fn() -> String, emit: Emit<'e>) -> Self {
        Self {
            ctx,
            file_id,
            parts: match emit {
                Emit::Whole => None,
                Emit::Parts { values, take } => Some((values, take)),
            },
            part_start: 0,
            ne_names: Vec::new(),
            ne_index: HashMap::default(),
            tables: Vec::new(),
            table_index: HashMap::default(),
            counter_values: 0,
            file_name: FileName::parse(&ctx.file_name),
        }
    }

    /// The id of a node name, interned on first sight.
    pub fn ne(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.ne_index.get(name) {
            return index;
        }
        let index = self.ne_names.len() as u32;
        self.ne_names.push(name.to_string());
        self.ne_index.insert(name.to_string(), index);
        index
    }

    /// The node of a file whose content names none: the TS 32.432 file name's, else
    /// the whole file name.
    pub fn fallback_ne(&self) -> String {
        self.file_name
            .ne
            .clone()
            .unwrap_or_else(|| self.ctx.file_name.clone())
    }

    /// The period `(start µs, granularity s)` of a file whose content gives none: the
    /// TS 32.432 file name's begin and end.
    pub fn fallback_period(&self) -> Result<(i64, i32), String> {
        let reason = "the file name gives no period (not a TS 32.432 name with begin and end)";
        self.file_name.period.ok_or_else(|| reason.to_string())
    }

    /// The index of a table, created on first sight.
    pub fn table(&mut self, name: &str) -> usize {
        if let Some(&index) = self.table_index.get(name) {
            return index;
        }
        self.tables
            .push((name.to_string(), TableBuilder::default()));
        self.table_index
            .insert(name.to_string(), self.tables.len() - 1);
        self.tables.len() - 1
    }

    /// The builder of a table.
    pub fn builder(&mut self, table: usize) -> &mut TableBuilder {
        &mut self.tables[table].1
    }

    /// Stores one counter value and counts it.
    pub fn set(&mut self, table: usize, row: usize, column: usize, value: Value<'_>) {
        self.tables[table].1.set(row, column, value);
        self.counter_values += 1;
    }

    /// Called after each row is complete: hands the part over once it holds enough
    /// values. The error is a pipeline that no longer takes parts.
    pub fn row_done(&mut self) -> Result<(), String> {
        let values = self.counter_values - self.part_start;
        let Some((per_part, _)) = &self.parts else {
            return Ok(());
        };
        if values < *per_part {
            return Ok(());
        }
        let part = self.take_part()?;
        let taken = self.parts.as_mut().is_some_and(|(_, take)| take(part));
        if !taken {
            return Err("stopped: its parts are no longer taken".into());
        }
        Ok(())
    }

    /// The rows read since the last part (all of them when the file is read whole).
    fn take_part(&mut self) -> Result<ParsedFile, String> {
        let file_id = (self.file_id)();
        let remember = self.parts.is_some();
        let system = &self.ctx.system;
        let mut tables = Vec::with_capacity(self.tables.len());
        for (table, builder) in &mut self.tables {
            if builder.num_rows() == 0 {
                continue;
            }
            let batch = match remember {
                true => builder.take_part(system, &file_id, &self.ne_names),
                false => std::mem::take(builder).finish(system, &file_id, &self.ne_names),
            };
            let batch = batch.map_err(|e| format!("table {table}: {e}"))?;
            tables.push(TableBatch {
                table: table.clone(),
                batch,
            });
        }
        let counter_values = self.counter_values - self.part_start;
        self.part_start = self.counter_values;
        Ok(ParsedFile {
            tables,
            counter_values,
            repeated_key: false,
        })
    }

    /// The whole file's rows, or the last part's.
    pub fn finish(mut self) -> Result<ParsedFile, String> {
        let repeated_key = self.tables.iter().any(|(_, b)| b.repeated_key());
        let last = self.take_part()?;
        Ok(ParsedFile {
            repeated_key,
            ..last
        })
    }
}
