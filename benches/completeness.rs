//! `completeness` over a month of a large network's archive, against a bare
//! DataFusion aggregation of the same rows, in the same run.
//!
//! An archive of `PMFLOW_BENCH_NODES` (default 10,000) nodes x `PMFLOW_BENCH_DAYS`
//! (default 30) days of 15-minute ROPs, two tables of one row per node and ROP, is
//! written straight through the archive's tables (not timed). Then, best of
//! `PMFLOW_BENCH_ROUNDS` (default 2), the completeness of every day after the first
//! week (that week is the look-back) is computed, against DataFusion grouping the same
//! rows by node and ROP over the same views (what completeness reads, without the
//! ledger). Prints seconds, rows/s and their ratio.
//!
//! ```text
//! source scripts/env.sh && cargo bench --bench completeness
//! ```

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::TimestampMicrosecondArray;
use arrow::array::{ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use pmflow::archive::{Archive, ReadOptions};
use pmflow::completeness::{Rules, completeness};
use pmflow::generator::default_start;
use pmflow::schema;

const ROP_US: i64 = 900_000_000;
const DAY_US: i64 = 86_400_000_000;
const TABLES: [&str; 2] = ["cells", "links"];

/// One ROP's rows of every node: one row per node, one counter.
fn rop_batch(nodes: &[String], period_start: i64, file_id: &str) -> RecordBatch {
    let mut fields = schema::key_fields();
    fields.push(Field::new("value", DataType::Int64, true));
    let n = nodes.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["bench"; n])),
        Arc::new(StringArray::from(nodes.to_vec())),
        Arc::new(StringArray::from(vec!["Cell=1"; n])),
        Arc::new(TimestampMicrosecondArray::from(vec![period_start; n]).with_timezone("UTC")),
        Arc::new(Int32Array::from(vec![900; n])),
        Arc::new(BooleanArray::from(vec![false; n])),
        Arc::new(StringArray::from(vec![file_id; n])),
        Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i * 7))),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("a batch")
}

/// The bare baseline: the same views grouped by node and ROP, every row counted.
async fn bare_grouping(archive: &Archive, from: i64, to: i64) -> Duration {
    let started = Instant::now();
    let ctx = SessionContext::new();
    let options = ReadOptions {
        as_of: None,
        system: Some("bench".into()),
    };
    archive
        .register_tables(&ctx, options)
        .await
        .expect("tables");
    for table in TABLES {
        let sql = format!(
            "SELECT ne, period_start, min(ingested_at) FROM {table}_history \
             WHERE period_start >= to_timestamp_micros({from}) AND period_start < to_timestamp_micros({to}) \
             GROUP BY ne, period_start"
        );
        let groups: usize = ctx
            .sql(&sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run")
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert!(groups > 0);
    }
    started.elapsed()
}

fn main() {
    let nodes = common::setting("PMFLOW_BENCH_NODES", 10_000);
    let days = common::setting("PMFLOW_BENCH_DAYS", 30) as i64;
    let rounds = common::setting("PMFLOW_BENCH_ROUNDS", 2);
    assert!(
        days > 7,
        "PMFLOW_BENCH_DAYS must exceed the 7-day look-back"
    );
    let tmp = tempfile::tempdir().expect("temporary folder");
    let archive = Archive::open(tmp.path().to_str().expect("UTF-8 path")).expect("archive");
    let names: Vec<String> = (0..nodes).map(|i| format!("node{i:05}")).collect();
    let start = default_start().timestamp_micros();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let writing = Instant::now();
    for day in 0..days {
        for table in TABLES {
            let batches: Vec<RecordBatch> = (0..96)
                .map(|rop| {
                    let period = start + day * DAY_US + rop * ROP_US;
                    // Every 97th node misses every 5th ROP of table `links`.
                    let present: Vec<String> = names
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| table == "cells" || i % 97 != 0 || rop % 5 != 0)
                        .map(|(_, n)| n.clone())
                        .collect();
                    rop_batch(&present, period, &format!("{table}-{day}-{rop}"))
                })
                .collect();
            runtime
                .block_on(archive.table("bench", table).append(batches))
                .expect("append");
        }
    }
    let rows = nodes as u64 * days as u64 * 96 * TABLES.len() as u64;
    println!(
        "{nodes} nodes x {days} days x 2 tables (~{rows} rows) written in {:.1} s",
        writing.elapsed().as_secs_f64()
    );

    let from = start + 7 * DAY_US;
    let to = start + days * DAY_US;
    let rules = Rules::with_defaults(from, to);
    let (mut ledger_best, mut bare_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let started = Instant::now();
        let ledger = runtime
            .block_on(completeness(&archive, "bench", &rules))
            .expect("completeness");
        ledger_best = ledger_best.min(started.elapsed());
        assert_eq!(ledger.len() as i64, (days - 7) * 96);
        assert!(
            ledger
                .iter()
                .all(|rop| rop.expected == nodes && rop.missing.is_empty())
        );
        let partial: usize = ledger.iter().map(|rop| rop.partial).sum();
        assert!(
            partial > 0,
            "the nodes that miss ROPs of a table are partial there"
        );
        bare_best =
            bare_best.min(runtime.block_on(bare_grouping(&archive, from - rules.lookback, to)));
    }
    let read_rows = rows as usize;
    common::report(
        read_rows,
        ("completeness", ledger_best.as_secs_f64()),
        ("bare DataFusion grouping", bare_best.as_secs_f64()),
    );
}
