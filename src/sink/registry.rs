//! Every kind of sink pmflow knows, in one list: [`SINKS`]. A kind owns its typed
//! configuration and builds itself from it; adding a sink means writing its folder
//! and adding one line here.
//!
//! A sink is configured by one table — a plan's `[[sink]]` — whose `url` chooses the
//! kind by its scheme. The URL shorthand (`--sink mysql://h/db?writers=8`) is the same
//! table written in one line: [`sink_table`] moves the URL's query parameters into the
//! table, so every option is read once, by the kind's own serde config, whichever way
//! it was written. `required` is taken out first: it is the pipeline's business.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Sink;

/// A kind of sink: the URL schemes that choose it and how its configuration is read.
#[derive(Debug)]
pub struct SinkKind {
    /// URL schemes that choose this kind; the first is its name.
    pub schemes: &'static [&'static str],
    /// Whether a sink of this kind holds files back when the plan does not say.
    pub required_by_default: bool,
    /// Reads the kind's typed configuration from its table (with `url`, without
    /// `required`); the message names the offending key.
    pub configure: fn(toml::Table) -> Result<Arc<dyn SinkConfig>, String>,
}

/// Every sink pmflow can deliver to. Plain paths (no scheme) are the archive's.
pub static SINKS: [&SinkKind; 4] = [
    &super::archive::config::KIND,
    &super::mysql::config::KIND,
    &super::clickhouse::config::KIND,
    &super::kafka::config::KIND,
];

/// A sink's typed configuration: what the plan said, validated, ready to build from.
/// Printing it never shows a secret. It is `Any`, so the commands that read one
/// kind's settings (`ddl` the Kafka topics, `query` the archive's location) can ask
/// for that kind.
#[async_trait]
pub trait SinkConfig: Any + fmt::Display + fmt::Debug + Send + Sync {
    /// Makes the sink that delivers `system`'s files; the message says what the
    /// client library refused.
    async fn build(&self, system: &str) -> Result<Arc<dyn Sink>, String>;
}

/// The kind a sink URL chooses by its scheme (no scheme: the archive).
pub fn kind_of(url: &str) -> Result<&'static SinkKind, String> {
    let scheme = url
        .split_once("://")
        .map_or("parquet", |(scheme, _)| scheme);
    SINKS
        .iter()
        .copied()
        .find(|kind| kind.schemes.contains(&scheme))
        .ok_or_else(|| {
            let known: Vec<&str> = SINKS
                .iter()
                .flat_map(|k| k.schemes.iter().copied())
                .collect();
            format!(
                "unknown sink scheme {scheme:?} in {url:?} (known: {})",
                known.join(", ")
            )
        })
}

/// A sink URL fit for messages: the password masked, the query (which may hold
/// secret options) left out.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url
            .split(['@', '?'])
            .next_back()
            .unwrap_or_default()
            .to_string(),
    }
}

/// A sink's table with the query parameters of its `url` moved into it as keys (the
/// URL keeps the rest). A parameter's text becomes a TOML integer, float or boolean
/// when it reads as one, as a plan would have written it. A key given both ways is
/// an error.
pub fn sink_table(mut table: toml::Table) -> Result<toml::Table, String> {
    let url = match table.get("url") {
        Some(toml::Value::String(url)) => url.clone(),
        Some(_) => return Err("url: expected a string".into()),
        None => return Err("url: missing".into()),
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok(table);
    };
    for (key, text) in url::form_urlencoded::parse(query.as_bytes()) {
        if table.contains_key(key.as_ref()) {
            return Err(format!("{key}: given both in the URL and as a key"));
        }
        table.insert(key.into_owned(), scalar(&text));
    }
    table.insert("url".into(), toml::Value::String(base.to_string()));
    Ok(table)
}

/// The table of a URL given alone (`--sink URL`).
pub fn url_table(url: &str) -> Result<toml::Table, String> {
    sink_table(toml::Table::from_iter([(
        "url".to_string(),
        toml::Value::String(url.to_string()),
    )]))
}

/// A URL parameter's text as the TOML value it reads as: a number or a boolean only
/// when it prints back as the same text (`007` stays text, so no value changes).
fn scalar(text: &str) -> toml::Value {
    let int = text.parse::<i64>().ok().filter(|i| i.to_string() == text);
    let float = text.parse::<f64>().ok().filter(|f| f.to_string() == text);
    match (int, float, text) {
        (Some(int), _, _) => toml::Value::Integer(int),
        (None, Some(float), _) if float.is_finite() => toml::Value::Float(float),
        (_, _, "true") => toml::Value::Boolean(true),
        (_, _, "false") => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_string()),
    }
}

/// Reads a kind's typed options from its table; the message names the key.
pub fn options<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    serde_path_to_error::deserialize(table).map_err(path_message)
}

/// Reads a kind's typed options from its table, and the keys it does not know, for
/// kinds that pass those on to their client library (sqlx, librdkafka).
pub fn options_and_rest<T: DeserializeOwned>(
    table: toml::Table,
) -> Result<(T, BTreeMap<String, Text>), String> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(table.clone(), &mut note);
    let options = serde_path_to_error::deserialize(ignoring).map_err(path_message)?;
    let rest = unknown
        .into_iter()
        .filter_map(|key| {
            let value = table.get(&key)?.clone();
            Some(
                Text::deserialize(value)
                    .map(|text| (key.clone(), text))
                    .map_err(|e| format!("{key}: {}", e.message().trim_end())),
            )
        })
        .collect::<Result<_, _>>()?;
    Ok((options, rest))
}

fn path_message(error: serde_path_to_error::Error<toml::de::Error>) -> String {
    let message = error.inner().message().trim_end().to_string();
    match error.path().to_string().as_str() {
        "." | "?" => message,
        path => format!("{path}: {message}"),
    }
}

/// An option written as text in the kind's own terms (a topic, a librdkafka value)
/// that a URL may have turned into a number or a boolean: read back as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Text(String),
            Integer(i64),
            Float(f64),
            Boolean(bool),
        }
        Ok(Text(match Scalar::deserialize(deserializer)? {
            Scalar::Text(text) => text,
            Scalar::Integer(int) => int.to_string(),
            Scalar::Float(float) => float.to_string(),
            Scalar::Boolean(boolean) => boolean.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_become_typed_keys() {
        let table =
            url_table("mysql://h/db?writers=8&auto_add_columns=false&ssl-mode=required").unwrap();
        assert_eq!(table["url"].as_str(), Some("mysql://h/db"));
        assert_eq!(table["writers"].as_integer(), Some(8));
        assert_eq!(table["auto_add_columns"].as_bool(), Some(false));
        assert_eq!(table["ssl-mode"].as_str(), Some("required"));
        let table = url_table("kafka://k:9092?sasl.password=007&ratio=0.5").unwrap();
        assert_eq!(table["sasl.password"].as_str(), Some("007"));
        assert_eq!(table["ratio"].as_float(), Some(0.5));
        let twice = toml::toml! { url = "kafka://k:9092?topic=a" topic = "b" };
        let err = sink_table(twice).unwrap_err();
        assert!(err.starts_with("topic:"), "{err}");
    }

    #[test]
    fn messages_show_no_secret() {
        let url = "mysql://u:secret@db:3306/pm?sasl.password=hidden";
        assert_eq!(redacted(url), "mysql://u:***@db:3306/pm");
        assert_eq!(redacted("/var/archive"), "/var/archive");
    }

    #[test]
    fn schemes_choose_the_kind() {
        assert_eq!(kind_of("/var/archive").unwrap().schemes[0], "parquet");
        assert_eq!(kind_of("kafka://k:9092").unwrap().schemes[0], "kafka");
        assert_eq!(kind_of("s3://bucket/a").unwrap().schemes[0], "parquet");
        let err = kind_of("gs://bucket/a").unwrap_err();
        assert!(err.contains("unknown sink scheme \"gs\""), "{err}");
    }
}
