//! The OMeS, TS 32.401 mdc and CSV parsers on the files of datasets/ (the real Nokia
//! sample, and fixtures written after the specifications and OLT exports): chosen
//! cells have exactly the values written in the files, and times are UTC.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::{cell, cells, dataset, parse_bytes_as, repo, table_names};
use pmflow::config::{Overrides, SystemPlan};
use pmflow::format::{FormatChoice, ParsedFile};

/// `auto` among the formats that need no options.
fn parse_auto(path: &Path) -> Result<ParsedFile, String> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    parse_bytes_as(&FormatChoice::default(), &name, &bytes)
}

/// The format of plans/ont.toml: `csv` with its `[csv]` section.
fn ont_format() -> FormatChoice {
    let plan = SystemPlan::resolve(Some(&repo().join("plans/ont.toml")), Overrides::default())
        .expect("plans/ont.toml is valid");
    assert_eq!(plan.format.name(), "csv");
    plan.format
}

#[test]
fn the_real_omes_sample_reads_its_measurement_with_the_offset_in_seconds() {
    let parsed = parse_auto(&dataset("omes/bodastage-nokiapmdataparser__pm.xml")).unwrap();
    assert_eq!(table_names(&parsed), ["lte_s1ap"]);
    let object = "NE-LNBTS-1111";
    assert_eq!(cell(&parsed, "lte_s1ap", object, "ne"), "NE-MRBTS-1111");
    // 21:00 at -05:00:00 is 02:00 UTC the next day; the interval is in minutes.
    assert_eq!(
        cell(&parsed, "lte_s1ap", object, "period_start"),
        "2029-03-16T02:00:00Z"
    );
    assert_eq!(cell(&parsed, "lte_s1ap", object, "granularity_s"), "3600");
    // The anonymised sample repeats one counter name: the last value is kept.
    assert_eq!(cell(&parsed, "lte_s1ap", object, "M00001"), "0");
    assert_eq!(parsed.counter_values, 5);
}

#[test]
fn omes_reads_dns_dimensions_and_two_periods() {
    let parsed = parse_auto(&dataset(
        "omes/A20290315.2100-0500-2130-0500_MRBTS-2222.xml",
    ))
    .unwrap();
    assert_eq!(table_names(&parsed), ["lte_cell_avail"]);
    let cell_1 = "PLMN-PLMN/MRBTS-2222/LNBTS-2222/LNCEL-1";
    let t = "lte_cell_avail";
    assert_eq!(cells(&parsed, t, cell_1, "M8020C3"), ["900", "840"]);
    assert_eq!(
        cells(&parsed, t, cell_1, "period_start"),
        ["2029-03-16T02:00:00Z", "2029-03-16T02:15:00Z"]
    );
    assert_eq!(cells(&parsed, t, cell_1, "M8020C4"), ["12.5", "7.0"]);
    assert_eq!(cells(&parsed, t, cell_1, "ne")[0], "PLMN-PLMN/MRBTS-2222");
    // A second MO (a dimension) is part of the object; NIL is null.
    let cell_2 = "PLMN-PLMN/MRBTS-2222/LNBTS-2222/LNCEL-2,QCI-9";
    assert_eq!(cell(&parsed, t, cell_2, "M8020C3"), "");
    assert_eq!(cell(&parsed, t, cell_2, "M8020C6"), "3");
    assert_eq!(cell(&parsed, t, cell_2, "granularity_s"), "900");
    assert_eq!(parsed.rows(), 3);
}

#[test]
fn mdc_reads_positions_suspect_flags_and_compact_times() {
    let parsed = parse_auto(&dataset("mdc/A20000301.1400-1415_RNC-Gbg-1.xml")).unwrap();
    assert_eq!(table_names(&parsed), ["utrancell"]);
    let gbg_997 = "RncFunction=RF-1,UtranCell=Gbg-997";
    let t = "utrancell";
    assert_eq!(cell(&parsed, t, gbg_997, "ne"), "RNC Telecomville");
    assert_eq!(cell(&parsed, t, gbg_997, "attTCHSeizures"), "234");
    assert_eq!(cell(&parsed, t, gbg_997, "succImmediateAssignProcs"), "789");
    // The second mi merges into the same rows (same objects and period).
    assert_eq!(cell(&parsed, t, gbg_997, "attTCHSeizures5"), "238");
    assert_eq!(cell(&parsed, t, gbg_997, "succTCHSeizures5"), "86,87,2,6");
    assert_eq!(
        cell(&parsed, t, gbg_997, "period_start"),
        "2000-03-01T14:00:00Z"
    );
    assert_eq!(cell(&parsed, t, gbg_997, "suspect"), "false");
    let gbg_999 = "RncFunction=RF-1,UtranCell=Gbg-999";
    assert_eq!(cell(&parsed, t, gbg_999, "suspect"), "true");
    assert_eq!(cell(&parsed, t, gbg_999, "attImmediateAssignProcs"), "");
    assert_eq!(cell(&parsed, t, gbg_999, "succImmediateAssignProcs"), "789");
    assert_eq!(parsed.rows(), 3);
    assert_eq!(parsed.counter_values, 14);
}

#[test]
fn an_mdc_doctype_and_its_external_entities_are_never_fetched() {
    // A server the DTD and an external entity point at: nothing may connect to it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://{}/MeasDataCollection.dtd",
        listener.local_addr().unwrap()
    );
    let body = "<mdc><md><neid><neun>n1</neun></neid><mi><mts>20000301141500</mts><gp>900</gp>\
                <mt>a</mt><mv><moid>Cell=1</moid><r>5</r></mv></mi></md></mdc>";
    let plain = format!("<?xml version=\"1.0\"?>\n<!DOCTYPE mdc SYSTEM \"{url}\">\n{body}");
    let parsed = parse_bytes_as(&FormatChoice::default(), "x.xml", plain.as_bytes()).unwrap();
    assert_eq!(cell(&parsed, "cell", "Cell=1", "a"), "5");
    let with_entity = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE mdc SYSTEM \"{url}\" [<!ENTITY ext SYSTEM \"{url}\">]>\n\
         {}",
        body.replace("<r>5</r>", "<r>&ext;</r>")
    );
    let error =
        parse_bytes_as(&FormatChoice::default(), "x.xml", with_entity.as_bytes()).unwrap_err();
    assert_eq!(error, "x.xml, line 3: undefined entity &ext;");
    assert!(
        listener.accept().is_err(),
        "a parser connected to the DTD's server"
    );
}

#[test]
fn node_and_period_fall_back_to_the_ts_32_432_file_name() {
    let mdc = "<mdc><md><mi><mt>a</mt><mv><moid>Cell=1</moid><r>5</r></mv></mi></md></mdc>";
    let name = "A20000301.1500+0100-1515+0100_RNC-Gbg-2.xml";
    let parsed = parse_bytes_as(&FormatChoice::default(), name, mdc.as_bytes()).unwrap();
    assert_eq!(cell(&parsed, "cell", "Cell=1", "ne"), "RNC-Gbg-2");
    assert_eq!(
        cell(&parsed, "cell", "Cell=1", "period_start"),
        "2000-03-01T14:00:00Z"
    );
    assert_eq!(cell(&parsed, "cell", "Cell=1", "granularity_s"), "900");
    let error = parse_bytes_as(&FormatChoice::default(), "x.xml", mdc.as_bytes()).unwrap_err();
    assert!(
        error.starts_with("x.xml, line 1: an <mi> without <mts> and <gp>"),
        "{error}"
    );
}

#[test]
fn ont_csv_reads_local_times_as_utc_nodes_from_objects_and_reliability() {
    let format = ont_format();
    let path = dataset("ont/OLT-0009_gpon_ont_202601051000.csv");
    let bytes = std::fs::read(&path).unwrap();
    let parsed = parse_bytes_as(&format, "OLT-0009_gpon_ont_202601051000.csv", &bytes).unwrap();
    assert_eq!(table_names(&parsed), ["gpon_ont"]);
    let (t, ont_5) = ("gpon_ont", "OLT-0009/Frame=0/Slot=2/Port=1/ONT=5");
    assert_eq!(cell(&parsed, t, ont_5, "ne"), "OLT-0009");
    // 10:00 at +08:00.
    assert_eq!(
        cell(&parsed, t, ont_5, "period_start"),
        "2026-01-05T02:00:00Z"
    );
    assert_eq!(cell(&parsed, t, ont_5, "granularity_s"), "900");
    assert_eq!(cell(&parsed, t, ont_5, "suspect"), "false");
    assert_eq!(cell(&parsed, t, ont_5, "Upstream Octets"), "1000");
    assert_eq!(cell(&parsed, t, ont_5, "Rx Optical Power(dBm)"), "-18.25");
    assert_eq!(cell(&parsed, t, ont_5, "Note"), "ok, checked");
    let ont_6 = "OLT-0009/Frame=0/Slot=2/Port=1/ONT=6";
    assert_eq!(cell(&parsed, t, ont_6, "suspect"), "true");
    assert_eq!(cell(&parsed, t, ont_6, "Upstream Octets"), "");
    assert_eq!(cell(&parsed, t, ont_6, "Downstream Octets"), "");
    assert_eq!(cell(&parsed, t, ont_6, "FEC Uncorrectable Codewords"), "1");
    assert_eq!(parsed.rows(), 2);
    assert_eq!(parsed.counter_values, 16);
}

#[test]
fn ont_csv_errors_name_the_file_and_line() {
    let format = ont_format();
    let name = "OLT-0001_gpon_port_202601050800.csv";
    let parse = |text: &str| parse_bytes_as(&format, name, text.as_bytes()).unwrap_err();
    let header = "title\nObject Name,Result Time,Granularity Period,Reliability,a\n";
    assert_eq!(
        parse(&format!("{header}OLT-1/P=1,2026-01-05 08:00,15,Reliable\n")),
        format!("{name}, line 3: 4 fields where the header line has 5")
    );
    assert_eq!(
        parse(&format!(
            "{header}OLT-1/P=1,05.01.2026 08:00,15,Reliable,1\n"
        )),
        format!(
            "{name}, line 3: Result Time \"05.01.2026 08:00\" does not match \
             \"%Y-%m-%d %H:%M\": input contains invalid characters"
        )
    );
    assert_eq!(
        parse("title\nObject,Result Time\n"),
        format!("{name}, line 2: no column \"Granularity Period\" in the header line")
    );
    assert_eq!(parse(" \r\n"), format!("{name}: empty file"));
    let other = parse_bytes_as(&format, "report.csv", b"x").unwrap_err();
    assert!(
        other.contains("does not match csv.table_from_file"),
        "{other}"
    );
}

#[test]
fn every_generated_format_holds_the_same_values_as_its_3gpp_file() {
    use pmflow::generator::{GenFormat, GenOptions, GenSystem, default_start, render};
    let options = |format| GenOptions {
        system: GenSystem::Nr,
        format,
        nodes: 2,
        rops: 2,
        scale: 1,
        seed: 3,
        gzip: false,
        start: default_start(),
    };
    let parse = |format, choice: &FormatChoice| {
        let files = render(&options(format), 2, 1);
        let parsed: Vec<ParsedFile> = files
            .iter()
            .map(|f| parse_bytes_as(choice, &f.name, f.content.as_bytes()).unwrap())
            .collect();
        parsed
    };
    let xml = parse(GenFormat::ThreeGppXml, &FormatChoice::default()).remove(0);
    let object = "ManagedElement=gNB0002,GNBDUFunction=1,NRCellDU=7";
    let expected = cell(&xml, "nrcelldu", object, "CARR.WBCQIDist");
    let expected_thp = cell(&xml, "nrcelldu", object, "DRB.UEThpDl");
    for format in [GenFormat::Omes, GenFormat::Mdc] {
        let parsed = parse(format, &FormatChoice::default()).remove(0);
        assert_eq!(parsed.counter_values, xml.counter_values, "{format:?}");
        assert_eq!(
            cell(&parsed, "nrcelldu", object, "CARR.WBCQIDist"),
            expected
        );
        assert_eq!(
            cell(&parsed, "nrcelldu", object, "DRB.UEThpDl"),
            expected_thp
        );
        assert_eq!(
            cell(&parsed, "nrcelldu", object, "period_start"),
            "2026-01-05T00:15:00Z"
        );
    }
    let csv_layout = pmflow::generator::csv_section(GenSystem::Nr);
    let options = pmflow::format::FormatOptions {
        csv: Some(csv_layout.layout().unwrap()),
    };
    let csv = FormatChoice::by_name("csv", &options).unwrap();
    let parsed = parse(GenFormat::Csv, &csv);
    let values: u64 = parsed.iter().map(|p| p.counter_values).sum();
    assert_eq!(values, xml.counter_values);
    let du = parsed
        .iter()
        .find(|p| table_names(p) == ["nrcelldu"])
        .unwrap();
    assert_eq!(cell(du, "nrcelldu", object, "CARR.WBCQIDist"), expected);
    assert_eq!(cell(du, "nrcelldu", object, "ne"), "gNB0002");
    assert_eq!(
        cell(du, "nrcelldu", object, "period_start"),
        "2026-01-05T00:15:00Z"
    );
}

#[test]
fn a_large_gzip_csv_streams_in_parts_with_the_rows_of_the_whole() {
    use pmflow::format::parts::Part;
    use pmflow::format::{FileContext, PartLimits, Rows};
    use std::io::Write;
    let format = ont_format();
    let name = "OLT-0001_gpon_ont_202601050800.csv";
    let bytes = std::fs::read(dataset(&format!("ont/{name}"))).unwrap();
    let whole = parse_bytes_as(&format, name, &bytes).unwrap();
    assert_eq!(whole.rows(), 32);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    let zipped = bytes::Bytes::from(encoder.finish().unwrap());
    let ctx = FileContext {
        system: "test".into(),
        file_name: format!("{name}.gz"),
    };
    // Past 1,000 bytes a file is large: parts of at least 50 values, streamed.
    let limits = PartLimits {
        in_memory: 1000,
        part_values: 50,
        check_first: true,
    };
    let read = format.read_with(&zipped, &ctx, 1 << 20, limits).unwrap();
    let Rows::Parts(mut stream) = read.rows else {
        panic!("a large file is read in parts")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let parts = runtime.block_on(async {
        let mut parts = Vec::new();
        while let Some(part) = stream.next().await {
            match part.unwrap() {
                Part::Next(part) => parts.push(part),
                Part::Whole(_) => panic!("a file checked first is read whole at once"),
            }
        }
        parts
    });
    assert!(parts.len() >= 5, "{} parts", parts.len());
    assert_eq!(parts.iter().map(ParsedFile::rows).sum::<usize>(), 32);
    let object = "OLT-0001/Frame=0/Slot=1/Port=3/ONT=29";
    let streamed: Vec<String> = parts
        .iter()
        .flat_map(|p| cells(p, "gpon_ont", object, "Downstream Octets"))
        .collect();
    assert_eq!(
        streamed,
        cells(&whole, "gpon_ont", object, "Downstream Octets")
    );
}

#[test]
fn cut_and_corrupted_files_of_every_format_fail_with_a_reason_and_never_panic() {
    let ont = ont_format();
    let cases = [
        (
            FormatChoice::default(),
            "omes/A20290315.2100-0500-2130-0500_MRBTS-2222.xml",
        ),
        (
            FormatChoice::default(),
            "mdc/A20000301.1400-1415_RNC-Gbg-1.xml",
        ),
        (ont, "ont/OLT-0009_gpon_ont_202601051000.csv"),
    ];
    for (format, file) in cases {
        let bytes = std::fs::read(dataset(file)).unwrap();
        let name = Path::new(file).file_name().unwrap().to_string_lossy();
        let mut failed = 0;
        for cut in 0..bytes.len() {
            let mut mutated = bytes[..cut].to_vec();
            // Every third cut also gets a byte of garbage where it ends.
            if cut % 3 == 0 {
                mutated.extend_from_slice(b"\xff<\"");
            }
            if let Err(reason) = parse_bytes_as(&format, &name, &mutated) {
                assert!(reason.starts_with(&*name), "{file} cut at {cut}: {reason}");
                failed += 1;
            }
        }
        // Most cuts break a file; a cut at a line end of a CSV still parses.
        assert!(
            failed > bytes.len() / 2,
            "{file}: only {failed} cuts failed"
        );
    }
}

#[test]
fn a_gzip_bomb_named_as_an_export_is_refused_at_its_first_long_line() {
    use pmflow::format::FileContext;
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(b"# title\nObject Name,Result Time,Granularity Period,Reliability,a\n")
        .unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..100 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = bytes::Bytes::from(encoder.finish().unwrap());
    let name = "OLT-0001_gpon_port_202601050800.csv.gz";
    let ctx = FileContext {
        system: "ont".into(),
        file_name: name.into(),
    };
    // 100 MiB decompressed: past 64 MiB it streams, and the line guard stops it.
    let error = ont_format().read(&bomb, &ctx, 1 << 30).unwrap_err();
    assert!(
        error.starts_with(name) && error.contains("a line longer than 16777216 bytes"),
        "{error}"
    );
}

#[test]
fn a_streamed_export_that_is_blank_or_has_no_header_says_so() {
    use pmflow::format::{FileContext, PartLimits};
    use std::io::Write;
    let format = ont_format();
    let name = "OLT-0001_gpon_port_202601050800.csv.gz";
    let ctx = FileContext {
        system: "ont".into(),
        file_name: name.into(),
    };
    let streamed = |content: &str| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(content.as_bytes()).unwrap();
        let zipped = bytes::Bytes::from(encoder.finish().unwrap());
        // Past 100 bytes a file streams.
        let limits = PartLimits {
            in_memory: 100,
            part_values: 50,
            check_first: true,
        };
        format
            .read_with(&zipped, &ctx, 1 << 20, limits)
            .unwrap_err()
    };
    assert_eq!(
        streamed(&" \r\n".repeat(100)),
        format!("{name}: empty file")
    );
    let title_only = format!("# {}\r\n", "x".repeat(200));
    assert_eq!(
        streamed(&title_only),
        format!("{name}, line 2: no header line")
    );
}
