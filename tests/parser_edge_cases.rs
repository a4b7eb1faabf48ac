//! The 3GPP parser on hand-written files for cases the real samples do not all show:
//! NIL, CRLF, a stylesheet PI before the declaration, entities, integers above 2^53,
//! mixed encodings in one file, and inputs that must fail with a clear message.

mod common;

use common::{cell, parse_bytes};

const MIXED: &str = "<?xml-stylesheet type=\"text/xsl\" href=\"x.xsl\"?>\r\n\
<!-- a comment before the declaration's usual place -->\r\n\
<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
<!DOCTYPE measCollecFile SYSTEM \"http://example.invalid/never-fetched.dtd\">\r\n\
<measCollecFile xmlns=\"http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec\">\r\n\
<fileHeader fileFormatVersion=\"32.435 V10.0\"><fileSender localDn=\"sender\"/><measCollec beginTime=\"2024-01-01T00:00:00Z\"/></fileHeader>\r\n\
<measData><managedElement localDn=\"\" userLabel=\"\"/>\r\n\
<measInfo measInfoId=\"PM=1,PmGroup=Cell&amp;Co\">\r\n\
<granPeriod duration=\"PT15M\" endTime=\"2024-01-01T00:15:00Z\"/>\r\n\
<measType p=\"2\">b&#46;two</measType><measType p=\"1\">a</measType><measType p=\"3\">c</measType>\r\n\
<measValue measObjLdn=\"Cell=1\"><r p=\"3\">9007199254740993</r><r p=\"1\">NIL</r><r p=\"2\">  7 </r></measValue>\r\n\
<measValue measObjLdn=\"Cell=2\"><r p=\"1\">1.5</r><r p=\"2\"></r><r p=\"3\"/><suspect>true</suspect></measValue>\r\n\
</measInfo>\r\n\
<measInfo measInfoId=\"PM=1,PmGroup=Cell&amp;Co\">\r\n\
<granPeriod duration=\"PT15M\" endTime=\"2024-01-01T00:15:00Z\"/>\r\n\
<measTypes>d\r\n e</measTypes>\r\n\
<measValue measObjLdn=\"Cell=1\"><measResults>4,5,6 NIL</measResults></measValue>\r\n\
</measInfo></measData></measCollecFile>\r\n";

#[test]
fn mixed_file_reads_every_case() {
    let parsed = parse_bytes("A20240101.0000-0015_node7.xml", MIXED.as_bytes()).unwrap();
    assert_eq!(parsed.tables.len(), 1);
    let t = "cell_co";
    assert_eq!(parsed.tables[0].table, t);
    assert_eq!(parsed.tables[0].batch.num_rows(), 2);
    assert_eq!(cell(&parsed, t, "Cell=1", "c"), "9007199254740993");
    assert_eq!(cell(&parsed, t, "Cell=1", "a"), "");
    assert_eq!(cell(&parsed, t, "Cell=2", "a"), "1.5");
    assert_eq!(cell(&parsed, t, "Cell=1", "b.two"), "7");
    assert_eq!(cell(&parsed, t, "Cell=2", "b.two"), "");
    assert_eq!(cell(&parsed, t, "Cell=2", "c"), "");
    assert_eq!(cell(&parsed, t, "Cell=2", "suspect"), "true");
    // Second measInfo, list form, merged into Cell=1's row.
    assert_eq!(cell(&parsed, t, "Cell=1", "d"), "4,5,6");
    assert_eq!(cell(&parsed, t, "Cell=1", "e"), "");
    // Empty localDn and userLabel: the file sender names the node.
    assert_eq!(cell(&parsed, t, "Cell=1", "ne"), "sender");
    assert_eq!(
        cell(&parsed, t, "Cell=1", "period_start"),
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(parsed.counter_values, 8);
}

#[test]
fn file_name_names_the_node_when_the_file_does_not() {
    let xml = MIXED.replace("<fileSender localDn=\"sender\"/>", "");
    let parsed = parse_bytes("A20240101.0000-0015_node7.xml", xml.as_bytes()).unwrap();
    assert_eq!(cell(&parsed, "cell_co", "Cell=1", "ne"), "node7");
}

fn error_of(name: &str, bytes: &[u8]) -> String {
    parse_bytes(name, bytes).expect_err("must fail")
}

#[test]
fn bad_inputs_fail_with_the_file_and_line_named() {
    let truncated = &MIXED[..MIXED.len() / 2];
    let message = error_of("t.xml", truncated.as_bytes());
    assert!(message.starts_with("t.xml"), "{message}");
    assert!(
        message.contains("truncated") || message.contains("malformed"),
        "{message}"
    );

    let mismatched = MIXED.replace("</measValue>", "</measValu>");
    let message = error_of("m.xml", mismatched.as_bytes());
    assert!(
        message.contains("m.xml, line 11") && message.contains("malformed XML"),
        "{message}"
    );

    let message = error_of("n.xml", b"<?xml version=\"1.0\"?><html><body/></html>");
    assert!(
        message.contains("not a 3GPP PM file: root element is <html>"),
        "{message}"
    );

    assert!(error_of("e.xml", b"").contains("empty file"));
    assert!(error_of("w.xml", b" \n").contains("empty file"));

    let extra = MIXED.replace(
        "<measResults>4,5,6 NIL</measResults>",
        "<measResults>1 2 3</measResults>",
    );
    let message = error_of("x.xml", extra.as_bytes());
    assert!(
        message.contains("position 3 has no matching measType"),
        "{message}"
    );

    // A value read on the fast path of `<r p>` runs names its own line.
    let unknown = MIXED.replace("<r p=\"1\">1.5</r>", "<r p=\"1\">1.5</r><r p=\"4\">1</r>");
    let message = error_of("u.xml", unknown.as_bytes());
    assert!(
        message.contains("u.xml, line 12") && message.contains("position 4 has no matching"),
        "{message}"
    );

    let entity = MIXED.replace("b&#46;two", "b&ext;");
    assert!(error_of("d.xml", entity.as_bytes()).contains("undefined entity &ext;"));

    let bad_time = MIXED.replace(
        "2024-01-01T00:15:00Z\"/>\r\n<measType",
        "yesterday\"/>\r\n<measType",
    );
    assert!(
        error_of("b.xml", bad_time.as_bytes()).contains("invalid granPeriod endTime \"yesterday\"")
    );
}

#[test]
fn truncated_gzip_is_an_error_not_a_panic() {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(MIXED.as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let message = error_of("z.xml.gz", &gz[..gz.len() - 20]);
    assert!(!message.is_empty());
    assert!(parse_bytes("z.xml.gz", &gz).is_ok());
}
