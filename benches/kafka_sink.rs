//! Kafka sink throughput against a minimal rdkafka produce loop, in the same run.
//!
//! Writes `PMFLOW_BENCH_ROWS` (default 1,000,000) generated rows of 50 counters through
//! the sink, 1,000-row files delivered 4 at a time as the pipeline does; then produces
//! the same keys and payloads, encoded beforehand, with a bare `BaseProducer` loop of
//! the same producer options to a topic of the same partitions, and waits for every
//! delivery report (the baseline). Prints rows/s of both and their ratio.
//!
//! ```text
//! scripts/kafka.sh && cargo bench --bench kafka_sink
//! ```
//! The brokers are `PMFLOW_BENCH_KAFKA` (default `127.0.0.1:9092`); topics
//! `bench<time>.…` are created. `PMFLOW_BENCH_SINK_PARAMS` (e.g. `linger.ms=50`) sets
//! the sink's URL parameters; the baseline uses the same producer options.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pmflow::sink::KafkaSink;
use pmflow::sink::kafka::KafkaSettings;
use pmflow::sink::kafka::json::JsonRows;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use common::COUNTERS;

/// Counts delivery reports, failing on any error.
#[derive(Default)]
struct Delivered(AtomicUsize);

impl ClientContext for Delivered {}

impl ProducerContext for Delivered {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            panic!("baseline delivery failed: {error}");
        }
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The minimal loop: send every message, polling while the queue is full, then flush.
fn produce(producer: &BaseProducer<Delivered>, topic: &str, messages: &[(String, String)]) {
    for (key, payload) in messages {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => panic!("baseline send failed: {error}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(300)).expect("flush");
}

fn main() {
    let brokers =
        std::env::var("PMFLOW_BENCH_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string());
    let files = common::files();
    let rows = common::total_rows(&files);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    println!("{rows} rows x {COUNTERS} counters in {} files", files.len());

    let mut url = format!("kafka://{brokers}?topic=bench{run}.{{system}}.{{table}}");
    if let Ok(params) = std::env::var("PMFLOW_BENCH_SINK_PARAMS") {
        url = format!("{url}&{params}");
    }
    let settings = KafkaSettings::from_url(&url).expect("URL");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sink = {
        let _in_runtime = runtime.enter();
        KafkaSink::new(settings.clone(), "5ga").expect("sink")
    };
    let started = Instant::now();
    runtime.block_on(common::deliver(&sink, &files));
    let sink_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut messages = Vec::with_capacity(rows);
    for batch in &files {
        let json = JsonRows::new(batch).expect("rows");
        for row in 0..batch.num_rows() {
            let (mut key, mut payload) = (String::new(), String::new());
            json.key("nrcelldu", row, &mut key);
            json.row(row, &mut payload);
            messages.push((key, payload));
        }
    }
    println!(
        "(encoding the JSON alone: {:.2} s)",
        started.elapsed().as_secs_f64()
    );
    let topic = format!("bench{run}.baseline");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin client");
    let new = NewTopic::new(&topic, settings.partitions, TopicReplication::Fixed(1));
    runtime
        .block_on(admin.create_topics([&new], &AdminOptions::new()))
        .expect("topic created");
    let mut config = ClientConfig::new();
    for (key, value) in &settings.producer {
        config.set(key, value);
    }
    let producer: BaseProducer<Delivered> = config
        .create_with_context(Delivered::default())
        .expect("producer");
    let started = Instant::now();
    produce(&producer, &topic, &messages);
    let loop_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        producer.context().0.load(Ordering::Relaxed),
        rows,
        "every delivery"
    );

    common::report(
        rows,
        ("kafka sink (JSON encoded per file)", sink_secs),
        ("rdkafka loop (payloads ready)", loop_secs),
    );
}
