//! Reading the archive as corrections and late files arrive: one row per row key (the
//! last ingested), every version in `<table>_history`, and `query --as-of` a moment
//! showing exactly what was ingested by then.

mod common;

use common::history::{
    corrected, first_and_late, ingest_5ga as ingest, moment_between_commits, query_as_of,
};
use common::{generate, pmflow, query_csv, stage};

#[test]
fn a_corrected_file_replaces_its_rows_for_readers_and_as_of_shows_the_first_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 2, 1);
    let inbox = tmp.path().join("inbox");
    stage(
        &inbox,
        &[generated.join("A20260105.0000+0000-0015+0000_gNB0001.xml")],
    );
    stage(
        &inbox,
        &[generated.join("A20260105.0000+0000-0015+0000_gNB0002.xml")],
    );
    ingest(&inbox, &archive);
    let per_node =
        "SELECT ne, count(*), sum(\"RRC.ConnEstabAtt\") FROM nrcellcu GROUP BY ne ORDER BY ne";
    let first = query_csv(&archive, per_node);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first.iter().all(|row| row.split(',').nth(1) == Some("12")),
        "{first:?}"
    );
    let before_correction = moment_between_commits();

    let original = generated.join("A20260105.0000+0000-0015+0000_gNB0001.xml");
    let again = tmp.path().join("again");
    corrected(&original, 7, &again);
    ingest(&again, &archive);

    // One row per key: gNB0001's 12 cells now carry the corrected value; gNB0002 is as before.
    assert_eq!(
        query_csv(&archive, per_node),
        ["gNB0001,12,84".to_string(), first[1].clone()]
    );
    // Every version is kept, with its file and commit time.
    assert_eq!(
        query_csv(
            &archive,
            "SELECT ne, count(*), count(DISTINCT file_id), count(DISTINCT ingested_at) \
             FROM nrcellcu_history GROUP BY ne ORDER BY ne"
        ),
        ["gNB0001,24,2,2", "gNB0002,12,1,1"]
    );
    // As of before the correction, the first values come back.
    assert_eq!(query_as_of(&archive, &before_correction, per_node), first);
    assert_eq!(
        query_as_of(
            &archive,
            &before_correction,
            "SELECT count(*) FROM nrcellcu_history"
        ),
        ["24"]
    );
}

#[test]
fn query_as_of_a_moment_between_cycles_counts_exactly_the_first_cycles_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 3, 2);
    let (first, late) = first_and_late(&generated, tmp.path());
    ingest(&first, &archive);
    let between = moment_between_commits();
    ingest(&late, &archive);

    let per_node = "SELECT ne, count(*) FROM nrcelldu GROUP BY ne ORDER BY ne";
    assert_eq!(
        query_csv(&archive, per_node),
        ["gNB0001,24", "gNB0002,24", "gNB0003,24"]
    );
    assert_eq!(
        query_as_of(&archive, &between, per_node),
        ["gNB0001,24", "gNB0002,24"]
    );
    assert_eq!(
        query_as_of(
            &archive,
            "2000-01-01T00:00:00Z",
            "SELECT count(*) FROM nrcelldu"
        ),
        ["0"]
    );
    let bad = pmflow(&[
        "query",
        "--archive",
        archive.to_str().unwrap(),
        "--as-of",
        "yesterday",
        "SELECT 1",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("is not an RFC 3339 time"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
