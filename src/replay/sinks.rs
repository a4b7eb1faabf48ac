//! Which of a system's sinks a replay writes to. Never an archive: replay reads one,
//! and an archive keeps each source file once, so a file read back in several
//! windows would lose the rows of all but the first.

use crate::config::SinkSpec;

/// Kind name of the archive sinks (see `sink::registry`).
const ARCHIVE_KIND: &str = "parquet";

/// The sinks among `configured` that a replay writes to: those `wanted` names — a
/// kind (`mysql`) or a sink as `GET /api/v1/systems` shows it — or, when none are
/// named, every one but the archives. The message says what is wrong.
pub fn replay_sinks(
    configured: &[SinkSpec],
    wanted: Option<&[String]>,
) -> Result<Vec<SinkSpec>, String> {
    let chosen: Vec<SinkSpec> = match wanted {
        None => configured
            .iter()
            .filter(|sink| sink.kind != ARCHIVE_KIND)
            .cloned()
            .collect(),
        Some(names) => {
            let mut chosen: Vec<SinkSpec> = Vec::new();
            for name in names {
                let matching: Vec<&SinkSpec> = configured
                    .iter()
                    .filter(|sink| sink.kind == name || sink.config.to_string() == *name)
                    .collect();
                if matching.is_empty() {
                    let known: Vec<String> = configured
                        .iter()
                        .map(|sink| format!("{} ({})", sink.kind, sink.config))
                        .collect();
                    return Err(format!(
                        "no sink {name:?} is configured (configured: {})",
                        known.join(", ")
                    ));
                }
                if matching.iter().any(|sink| sink.kind == ARCHIVE_KIND) {
                    return Err(format!(
                        "{name:?}: replay does not write archives (an archive keeps each source \
                         file once); copy the archive's folder instead"
                    ));
                }
                for sink in matching {
                    if !chosen
                        .iter()
                        .any(|c| c.config.to_string() == sink.config.to_string())
                    {
                        chosen.push(sink.clone());
                    }
                }
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(
            "no sink to replay into: give a sink, or configure one other than the archive".into(),
        );
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_sink;

    fn sink(url: &str) -> SinkSpec {
        let mut table = toml::Table::new();
        table.insert("url".into(), url.into());
        parse_sink(table).unwrap()
    }

    fn described(sinks: &[SinkSpec]) -> Vec<String> {
        sinks.iter().map(|s| s.config.to_string()).collect()
    }

    #[test]
    fn by_default_every_sink_but_the_archive_and_by_kind_or_name_those_asked_for() {
        let configured = [
            sink("/var/pm/archive"),
            sink("mysql://pm:secret@db1:3306/pm"),
            sink("clickhouse://default@ch1:8123/pm"),
        ];
        let all = replay_sinks(&configured, None).unwrap();
        assert_eq!(described(&all), described(&configured[1..]));
        let mysql = replay_sinks(&configured, Some(&["mysql".into()])).unwrap();
        assert_eq!(described(&mysql), described(&configured[1..2]));
        let by_name = configured[2].config.to_string();
        let clickhouse = replay_sinks(&configured, Some(&[by_name, "clickhouse".into()])).unwrap();
        assert_eq!(described(&clickhouse), described(&configured[2..]));
        assert!(!described(&all).concat().contains("secret"));
    }

    #[test]
    fn archives_unknown_names_and_nothing_left_are_refused() {
        let configured = [sink("/var/pm/archive"), sink("mysql://pm@db1/pm")];
        let refused = |wanted: Option<&[String]>, configured: &[SinkSpec]| {
            replay_sinks(configured, wanted).unwrap_err()
        };
        assert!(
            refused(Some(&["parquet".into()]), &configured).contains("does not write archives")
        );
        let unknown = refused(Some(&["kafka".into()]), &configured);
        assert!(
            unknown.contains("no sink \"kafka\"") && unknown.contains("mysql ("),
            "{unknown}"
        );
        assert!(refused(None, &configured[..1]).contains("no sink to replay into"));
    }
}
