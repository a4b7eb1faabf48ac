//! Kafka for the tests: the broker `scripts/kafka.sh` starts, private tansu brokers a
//! test can start late, and a consumer that reads every message of some topics.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The shared broker: `PMFLOW_TEST_KAFKA` or what `scripts/kafka.sh` starts.
pub fn shared_broker() -> String {
    std::env::var("PMFLOW_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// A tansu broker of one test, in memory, on `127.0.0.1:port`.
pub struct PrivateBroker {
    process: Child,
}

impl PrivateBroker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start(port: u16) -> Self {
        let address = format!("tcp://127.0.0.1:{port}");
        let process = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &address,
                "--advertised-listener-url",
                &address,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu runs (install it with scripts/kafka.sh)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { process }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Every message of the topics whose names start with `prefix`, as payloads by key.
/// Reads until no message came for two seconds (the broker's high watermarks are not
/// exact, so "quiet" is the only reliable end).
pub fn consume(broker: &str, prefix: &str) -> HashMap<String, Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", format!("pmflow-test-{prefix}"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("broker metadata");
    let mut partitions = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| t.name().starts_with(prefix))
    {
        for partition in topic.partitions() {
            partitions
                .add_partition_offset(topic.name(), partition.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    assert!(partitions.count() > 0, "no topic starts with {prefix}");
    consumer.assign(&partitions).expect("assign partitions");
    let mut messages: HashMap<String, Vec<String>> = HashMap::new();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(2) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("message");
            let key = String::from_utf8(message.key().expect("key").to_vec()).unwrap();
            let payload = String::from_utf8(message.payload().expect("payload").to_vec()).unwrap();
            messages.entry(key).or_default().push(payload);
            last = Instant::now();
        }
    }
    messages
}
