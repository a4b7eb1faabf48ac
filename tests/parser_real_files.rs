//! The 3GPP parser on the real sample files of datasets/: every file parses, and
//! chosen cells have exactly the values written in the files.

mod common;

use arrow::datatypes::DataType;
use common::{cell, cells, dataset, parse_file, table_names};

#[test]
fn every_dataset_file_parses() {
    let mut count = 0;
    for dir in ["4ga", "5ga", "5gc", "conformance"] {
        for entry in std::fs::read_dir(dataset(dir)).unwrap() {
            let path = entry.unwrap().path();
            let parsed = parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(parsed.rows() > 0, "{} has no rows", path.display());
            count += 1;
        }
    }
    assert!(count >= 25, "only {count} dataset files");
}

#[test]
fn annex_example_merges_measinfos_without_id_and_keeps_vectors_and_suspect() {
    let parsed = parse_file(&dataset("conformance/A20181002.0000-1000-0015-1000_5G.xml")).unwrap();
    assert_eq!(table_names(&parsed), ["utrancell", "enodebfunction"]);
    let cell_997 = "RncFunction=RF-1,UtranCell=Gbg-997";
    // Two measInfo blocks without measInfoId, same objects and period: one row each.
    assert_eq!(
        cell(&parsed, "utrancell", cell_997, "attTCHSeizures"),
        "234"
    );
    assert_eq!(
        cell(&parsed, "utrancell", cell_997, "attTCHSeizures5"),
        "238"
    );
    assert_eq!(
        cell(&parsed, "utrancell", cell_997, "period_start"),
        "2000-03-01T11:59:30Z"
    );
    assert_eq!(cell(&parsed, "utrancell", cell_997, "granularity_s"), "900");
    assert_eq!(cell(&parsed, "utrancell", cell_997, "suspect"), "false");
    assert_eq!(
        cell(
            &parsed,
            "utrancell",
            "RncFunction=RF-1,UtranCell=Gbg-999",
            "suspect"
        ),
        "true"
    );
    assert_eq!(
        cell(&parsed, "utrancell", cell_997, "ne"),
        "SubNetwork=CountryNN,MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1"
    );
    let enb = "ManagedElement=RNC-Gbg-1,ENodeBFunction=1";
    assert_eq!(
        cell(&parsed, "enodebfunction", enb, "succTCHSeizures2"),
        "86,87,2,6,77,96,75,33,24"
    );
    let vectors = parsed
        .tables
        .iter()
        .find(|t| t.table == "enodebfunction")
        .unwrap();
    assert_eq!(
        vectors
            .batch
            .schema()
            .field_with_name("succTCHSeizures2")
            .unwrap()
            .data_type(),
        &pmflow::schema::vector_type(DataType::Int64),
        "a vector counter is a list of numbers"
    );
    assert_eq!(parsed.tables[0].batch.num_rows(), 3);
    // The gzip copy is the same content: same rows, same file id.
    let gz = parse_file(&dataset(
        "conformance/A20181002.0000-1000-0015-1000_5G.xml.gz",
    ))
    .unwrap();
    assert_eq!(gz.tables[0].batch, parsed.tables[0].batch);
}

#[test]
fn ericsson_radionode_values_above_2_pow_32_stay_exact() {
    let parsed = parse_file(&dataset("5ga/A20220418.1900-1915_seliitdus00487.xml")).unwrap();
    let cell_31 = "ManagedElement=seliitdus00487,GNBDUFunction=1,NRCellDU=31";
    let table = "nrcelldu_gnbdu";
    assert_eq!(
        cell(&parsed, table, cell_31, "pmMacRBSymAvailDl"),
        "5110563822"
    );
    assert_eq!(cell(&parsed, table, cell_31, "ne"), "seliitdus00487");
    let column = parsed
        .tables
        .iter()
        .find(|t| t.table == table)
        .unwrap()
        .batch
        .schema();
    assert_eq!(
        column
            .field_with_name("pmMacRBSymAvailDl")
            .unwrap()
            .data_type(),
        &DataType::Int64
    );
    // Suspect energy measurement: whitespace-only values are null, the blank PDF is kept.
    let energy = "ManagedElement=seliitdus00487,NodeSupport=1,ConsumedEnergyMeasurement=1";
    let energy_table = parsed
        .tables
        .iter()
        .find(|t| cells(&parsed, &t.table, energy, "suspect").len() == 1)
        .expect("energy table")
        .table
        .clone();
    assert_eq!(cell(&parsed, &energy_table, energy, "suspect"), "true");
    assert_eq!(
        cell(&parsed, &energy_table, energy, "pmPowerConsumption")
            .chars()
            .next(),
        Some(',')
    );
}

#[test]
fn offsets_without_colon_and_bent_file_names() {
    let parsed = parse_file(&dataset("5ga/A20230515.0700_0100-0715_0100_GNODEB-0.xml")).unwrap();
    let batch = &parsed.tables[0].batch;
    let object =
        arrow::util::display::array_value_to_string(batch.column_by_name("object").unwrap(), 0)
            .unwrap();
    let table = parsed.tables[0].table.clone();
    assert_eq!(table, "nrcellcu_gnbcucp");
    // endTime 07:15+0100 minus PT900S = 06:00 UTC
    assert_eq!(
        cell(&parsed, &table, &object, "period_start"),
        "2023-05-15T06:00:00Z"
    );
    assert_eq!(cell(&parsed, &table, &object, "ne"), "GNODEB-0");
}

#[test]
fn list_form_with_several_meas_data_and_managed_elements() {
    let parsed = parse_file(&dataset("conformance/C20190328.0000-0015.xml")).unwrap();
    assert_eq!(
        table_names(&parsed),
        ["measinfoid1", "measinfoid2", "measinfoid3"]
    );
    assert_eq!(cell(&parsed, "measinfoid1", "objLdn", "a1"), "11");
    assert_eq!(cell(&parsed, "measinfoid1", "objLdn", "b1"), "1111");
    assert_eq!(cell(&parsed, "measinfoid1", "objLdn", "ne"), "Dublin1");
    assert_eq!(cell(&parsed, "measinfoid2", "objLdn", "ne"), "Dublin2");
    assert_eq!(
        cell(&parsed, "measinfoid2", "objLdn", "granularity_s"),
        "200"
    );
    // endTime 2001-10-02T12:15:00Z minus PT100S
    assert_eq!(
        cell(&parsed, "measinfoid1", "objLdn", "period_start"),
        "2001-10-02T12:13:20Z"
    );
}

#[test]
fn sparse_positional_values_are_mapped_by_p() {
    let parsed = parse_file(&dataset("conformance/bodastage-measdatacollection__A4.xml")).unwrap();
    let t = "utrancell";
    let o = |n: u32| format!("RncFunction=RF-1,UtranCell=Gbg-{n}");
    assert_eq!(cell(&parsed, t, &o(997), "attImmediateAssignProcs"), "");
    assert_eq!(cell(&parsed, t, &o(997), "succImmediateAssignProcs"), "789");
    assert_eq!(cell(&parsed, t, &o(998), "succImmediateAssignProcs"), "");
    assert_eq!(cell(&parsed, t, &o(999), "attTCHSeizures"), "");
    assert_eq!(cell(&parsed, t, &o(999), "succTCHSeizures"), "567");
    assert_eq!(cell(&parsed, t, &o(999), "suspect"), "true");
}

#[test]
fn nokia_file_with_comments_two_periods_and_repeated_ids() {
    let parsed = parse_file(&dataset(
        "5ga/onap-pm-https-server__E_VES_bulkPM_IF_3GPP_3_example_1.xml.gz",
    ))
    .unwrap();
    // measInfoId NX2CB appears twice with different objects: both rows in one table.
    let nrbts = |n: u32| format!("PLMN=PLMN,MRBTS=1900,NRBTS={n}");
    assert_eq!(
        cells(&parsed, "nx2cb", &nrbts(1), "countername1"),
        ["11", "13", "15", "17"]
    );
    assert_eq!(
        cells(&parsed, "nx2cb", &nrbts(2), "countername2"),
        ["22", "24", "26", "28"]
    );
    // Empty localDn: the userLabel names the node, trimmed.
    assert_eq!(
        cells(&parsed, "nx2cb", &nrbts(1), "ne")[0],
        "some user label NEWARK.1900"
    );
    // Four granularity periods in one file (endTime 14:15 … 15:00 +02:00).
    let periods: std::collections::BTreeSet<String> = parsed
        .tables
        .iter()
        .flat_map(|t| {
            let column = t.batch.column_by_name("period_start").unwrap().clone();
            (0..t.batch.num_rows())
                .map(move |row| arrow::util::display::array_value_to_string(&column, row).unwrap())
        })
        .collect();
    assert_eq!(
        periods.into_iter().collect::<Vec<_>>(),
        [
            "2019-03-26T12:00:00Z",
            "2019-03-26T12:15:00Z",
            "2019-03-26T12:30:00Z",
            "2019-03-26T12:45:00Z"
        ]
    );
}

#[test]
fn times_without_offset_and_empty_object() {
    let parsed = parse_file(&dataset("conformance/bodastage-measdatacollection__pm.xml")).unwrap();
    assert_eq!(table_names(&parsed), ["measinfo"]);
    assert_eq!(
        cell(&parsed, "measinfo", "", "Provisioned_Bearer_Capacity"),
        "360"
    );
    assert_eq!(cell(&parsed, "measinfo", "", "granularity_s"), "60");
    assert_eq!(
        cell(&parsed, "measinfo", "", "period_start"),
        "2000-03-01T14:59:00Z"
    );
    assert_eq!(cell(&parsed, "measinfo", "", "ne"), "NodeName");
}
