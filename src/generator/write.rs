//! A [`Report`] written in each format the generator knows: the same values, so a
//! benchmark compares parsers on equal work.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};

use super::{GroupReport, Report};

/// TS 32.435 `measCollecFile`.
pub(super) fn threegpp(report: &Report, element_type: &str) -> String {
    let (ne, sw) = (&report.ne, report.sw);
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let mut xml = String::with_capacity(64 * 1024);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <?xml-stylesheet type=\"text/xsl\" href=\"MeasDataCollection.xsl\"?>\n\
         <measCollecFile xmlns=\"http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec\">\n\
         <fileHeader fileFormatVersion=\"32.435 V10.0\" vendorName=\"pmflow-gen\" dnPrefix=\"SubNetwork=1\">\n\
         <fileSender localDn=\"{ne}\" elementType=\"{element_type}\"/>\n<measCollec beginTime=\"{}\"/>\n</fileHeader>\n\
         <measData>\n<managedElement localDn=\"{ne}\" swVersion=\"{sw}\"/>\n",
        time(report.begin)
    );
    for group in &report.groups {
        let _ = write!(
            xml,
            "<measInfo measInfoId=\"{}\">\n<job jobId=\"pmflow\"/>\n\
             <granPeriod duration=\"PT900S\" endTime=\"{}\"/>\n<repPeriod duration=\"PT900S\"/>\n",
            group.group.meas_info_id,
            time(report.end)
        );
        let list_form = group.group.list_form;
        if list_form {
            let names: Vec<&str> = group.counters.iter().map(|c| c.name).collect();
            let _ = writeln!(xml, "<measTypes>{}</measTypes>", names.join(" "));
        } else {
            for (p, counter) in group.counters.iter().enumerate() {
                let _ = writeln!(xml, "<measType p=\"{}\">{}</measType>", p + 1, counter.name);
            }
        }
        for object in &group.objects {
            let _ = writeln!(xml, "<measValue measObjLdn=\"{}\">", object.object);
            if list_form {
                let _ = writeln!(
                    xml,
                    "<measResults>{}</measResults>",
                    object.values.join(" ")
                );
            } else {
                for (p, value) in object.values.iter().enumerate() {
                    let _ = writeln!(xml, "<r p=\"{}\">{value}</r>", p + 1);
                }
            }
            let _ = writeln!(xml, "<suspect>{}</suspect>\n</measValue>", object.suspect);
        }
        xml.push_str("</measInfo>\n");
    }
    let _ = write!(
        xml,
        "</measData>\n<fileFooter>\n<measCollec endTime=\"{}\"/>\n</fileFooter>\n</measCollecFile>\n",
        time(report.end)
    );
    xml
}

/// Nokia OMeS: one `PMMOResult` per object, its node in `baseId`, the counters as
/// elements (names made valid XML names).
pub(super) fn omes(report: &Report) -> String {
    let mut xml = String::with_capacity(64 * 1024);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OMeS version=\"2.3\">\n\
         <PMSetup startTime=\"{}\" interval=\"15\">\n",
        report.begin.format("%Y-%m-%dT%H:%M:%S%.3f+00:00:00")
    );
    for group in &report.groups {
        let names: Vec<String> = group.counters.iter().map(|c| xml_name(c.name)).collect();
        for object in &group.objects {
            let _ = write!(
                xml,
                "<PMMOResult>\n<MO dimension=\"network_element\"><baseId>{}</baseId>\
                 <localMoid>DN:{}</localMoid></MO>\n<PMTarget measurementType=\"{}\">\n",
                report.ne, object.object, group.group.meas_info_id
            );
            for (name, value) in names.iter().zip(&object.values) {
                let _ = writeln!(xml, "<{name}>{value}</{name}>");
            }
            xml.push_str("</PMTarget>\n</PMMOResult>\n");
        }
    }
    xml.push_str("</PMSetup>\n</OMeS>\n");
    xml
}

/// A counter name as an XML element name: characters outside `A-Za-z0-9._-` become
/// `_`.
fn xml_name(counter: &str) -> String {
    counter
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                true => c,
                false => '_',
            },
        )
        .collect()
}

/// TS 32.401 `mdc`, with the `DOCTYPE` such files carry.
pub(super) fn mdc(report: &Report, element_type: &str) -> String {
    let compact = |t: DateTime<Utc>| t.format("%Y%m%d%H%M%SZ").to_string();
    let ne = &report.ne;
    let mut xml = String::with_capacity(64 * 1024);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE mdc SYSTEM \"MeasDataCollection.dtd\">\n<mdc>\n\
         <mfh><ffv>1</ffv><sn>SubNetwork=1,MeContext={ne}</sn><st>{element_type}</st>\
         <vn>pmflow-gen</vn><cbt>{}</cbt></mfh>\n\
         <md>\n<neid><neun>{ne}</neun><nedn>SubNetwork=1,MeContext={ne}</nedn></neid>\n",
        compact(report.begin)
    );
    for group in &report.groups {
        let _ = write!(
            xml,
            "<mi>\n<mts>{}</mts>\n<gp>900</gp>\n",
            compact(report.end)
        );
        for counter in &group.counters {
            let _ = write!(xml, "<mt>{}</mt>", counter.name);
        }
        xml.push('\n');
        for object in &group.objects {
            let _ = write!(xml, "<mv>\n<moid>{}</moid>\n", object.object);
            for value in &object.values {
                let _ = write!(xml, "<r>{value}</r>");
            }
            let flag = if object.suspect { "TRUE" } else { "FALSE" };
            let _ = writeln!(xml, "\n<sf>{flag}</sf>\n</mv>");
        }
        xml.push_str("</mi>\n");
    }
    let _ = write!(
        xml,
        "</md>\n<mff><ts>{}</ts></mff>\n</mdc>\n",
        compact(report.end)
    );
    xml
}

/// The offset OLT exports are written at.
const OLT_OFFSET_S: i32 = 8 * 3600;

/// A CSV export of one counter group, as OLTs write it (local time +08:00, a title
/// line, a byte-order mark, CRLF): its name and content.
pub(super) fn csv(report: &Report, group: &GroupReport) -> (String, String) {
    let offset = FixedOffset::east_opt(OLT_OFFSET_S).expect("valid offset");
    let local = report.begin.with_timezone(&offset);
    let name = format!(
        "{}_{}_{}.csv",
        report.ne,
        group.group.meas_info_id,
        local.format("%Y%m%d%H%M")
    );
    let mut csv = String::with_capacity(64 * 1024);
    let _ = write!(
        csv,
        "\u{FEFF}# {} performance export, {}\r\n\
         Object Name,Result Time,Granularity Period,Reliability",
        report.ne, group.group.meas_info_id
    );
    for counter in &group.counters {
        let _ = write!(csv, ",{}", quoted(counter.name));
    }
    csv.push_str("\r\n");
    let time = local.format("%Y-%m-%d %H:%M").to_string();
    for object in &group.objects {
        let reliability = if object.suspect {
            "Unreliable"
        } else {
            "Reliable"
        };
        let _ = write!(csv, "{},{time},15,{reliability}", quoted(&object.object));
        for value in &object.values {
            let _ = write!(csv, ",{}", quoted(value));
        }
        csv.push_str("\r\n");
    }
    (name, csv)
}

/// A CSV field, quoted when it holds a delimiter or a quote.
fn quoted(field: &str) -> String {
    match field.contains([',', '"']) {
        true => format!("\"{}\"", field.replace('"', "\"\"")),
        false => field.to_string(),
    }
}
