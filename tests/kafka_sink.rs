//! The Kafka sink end to end, through the real binary, against real Kafka-protocol
//! brokers (tansu): the shared one of `scripts/kafka.sh` (topics of their own per
//! test) and private ones a test starts late.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::free_port;
use common::kafka::{PrivateBroker, consume, shared_broker};
use common::{generate, ingest_args, ingest_into, names_in, pmflow, query_csv, stage};

/// Rows of each table of the archive (one per row key; not the `_history` views).
fn archive_rows(archive: &Path) -> Vec<(String, usize)> {
    query_csv(
        archive,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'public' AND right(table_name, 8) <> '_history'",
    )
    .into_iter()
    .map(|table| {
        let rows = query_csv(archive, &format!("SELECT COUNT(*) FROM {table}"))[0]
            .parse()
            .unwrap();
        (table, rows)
    })
    .collect()
}

/// Every row of every archived table has exactly one key among `messages`, each with
/// `copies` messages; rule outputs (the other keys) too.
fn assert_one_key_per_row(messages: &HashMap<String, Vec<String>>, archive: &Path, copies: usize) {
    for (table, rows) in archive_rows(archive) {
        let keys = messages
            .keys()
            .filter(|k| k.starts_with(&format!("{table}|")))
            .count();
        assert_eq!(keys, rows, "{table}");
    }
    assert!(messages.keys().any(|k| k.starts_with("nr_rrc_setup_sr|")));
    assert!(messages.values().all(|m| m.len() == copies));
}

#[test]
fn every_row_is_one_keyed_json_message_and_resending_only_replays_the_same_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 2, 2);
    let files: Vec<_> = names_in(&generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    // Topics of this run only: the shared broker keeps earlier runs' messages.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("rows{run}.5ga.");
    let url = format!(
        "kafka://{}?topic=rows{run}.{{system}}.{{table}}&required=true",
        shared_broker()
    );
    let inbox = tmp.path().join("inbox");
    stage(&inbox, &files);
    ingest_into(&inbox, "5ga", &url, Some(&archive));

    let messages = consume(&shared_broker(), &prefix);
    assert_one_key_per_row(&messages, &archive, 1);
    let key =
        "nrcelldu|gNB0001|ManagedElement=gNB0001,GNBDUFunction=1,NRCellDU=1|2026-01-05 00:00:00";
    let row: serde_json::Value = serde_json::from_str(&messages[key][0]).unwrap();
    assert_eq!(row["ne"], "gNB0001");
    assert_eq!(row["period_start"], "2026-01-05 00:00:00");
    assert_eq!(row["granularity_s"], 900);
    assert_eq!(row["suspect"], 0);
    assert!(row["RRU.PrbUsedDl"].is_i64(), "{row}");

    let again = tmp.path().join("again");
    stage(&again, &files);
    ingest_into(&again, "5ga", &url, None);
    let replayed = consume(&shared_broker(), &prefix);
    assert_eq!(replayed.len(), messages.len(), "no new keys");
    for (key, payloads) in &replayed {
        assert_eq!(payloads.len(), 2, "{key}");
        // The same row: the same values (a column the replay's schema lacks is null).
        let values = |payload: &str| {
            let row: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(payload).unwrap();
            row.into_iter()
                .filter(|(_, v)| !v.is_null())
                .collect::<serde_json::Map<_, _>>()
        };
        assert_eq!(values(&payloads[0]), values(&payloads[1]), "{key}");
    }
}

#[test]
fn a_broker_that_is_down_holds_files_only_when_kafka_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("gen");
    generate(&generated, "5ga", 2, 2);
    let files: Vec<_> = names_in(&generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    let port = free_port();
    let down = |required: bool| {
        format!(
            "kafka://127.0.0.1:{port}?required={required}&message.timeout.ms=2000&topic=down.{{table}}"
        )
    };

    // Optional (the default): files complete, the failures are reported.
    let optional = tmp.path().join("optional");
    stage(&optional, &files);
    let archive = tmp.path().join("archive");
    let out = ingest_into(&optional, "5ga", &down(false), Some(&archive));
    assert_eq!(names_in(&optional.join("Done")).len(), files.len());
    let warnings = out.lines().find(|l| l.contains("warnings")).unwrap();
    assert!(warnings.contains(&format!(" {} ", files.len())), "{out}");

    // Required: files stay; once the broker is up, the next run completes them once.
    let required = tmp.path().join("required");
    stage(&required, &files);
    let output = pmflow(&ingest_args(&required, "5ga", &down(true), None));
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(names_in(&required).len(), files.len());
    let _broker = PrivateBroker::start(port);
    ingest_into(&required, "5ga", &down(true), None);
    assert_eq!(names_in(&required.join("Done")).len(), files.len());
    let messages = consume(&format!("127.0.0.1:{port}"), "down.");
    assert_one_key_per_row(&messages, &archive, 1);
}
