//! Who is in a system's cluster and which task partitions each member has, for
//! `/api/v1/systems`. The Kafka group coordinator knows, but not every broker says
//! (tansu answers `DescribeGroups` without member names or assignments), so each node
//! keeps an ephemeral znode `/pmflow/<system>/members/<host:pid>` with its partitions
//! in the ZooKeeper session it campaigns with, and reads the others'.

use std::convert::Infallible;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use zookeeper_client::{Acls, Client, CreateMode, Error};

/// One member of a system's cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The process (`host:pid`).
    pub node: String,
    /// The task partitions it has.
    pub partitions: Vec<i32>,
}

/// What this node shares of itself and learns of the others, per system.
#[derive(Debug)]
pub struct Membership {
    /// The task partitions this node has (set by the consumer's rebalances).
    pub partitions: watch::Sender<Vec<i32>>,
    /// Every member, this node included (set from ZooKeeper).
    pub members: watch::Sender<Vec<Member>>,
}

impl Default for Membership {
    fn default() -> Self {
        Self {
            partitions: watch::Sender::new(Vec::new()),
            members: watch::Sender::new(Vec::new()),
        }
    }
}

/// How often the members are read again.
const REFRESH: Duration = Duration::from_secs(2);

/// Keeps `node`'s member znode of `system` up to date with its partitions and reads
/// every member's, until the session fails (the error).
pub async fn keep(
    client: &Client,
    system: &str,
    node: &str,
    membership: &Membership,
) -> Result<Infallible, Error> {
    let dir = format!("/pmflow/{system}/members");
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match client.mkdir(&dir, &persistent).await {
        Ok(()) | Err(Error::NodeExists) => {}
        Err(error) => return Err(error),
    }
    let path = format!("{dir}/{node}");
    let mut partitions = membership.partitions.subscribe();
    let data = |partitions: &[i32]| {
        let member = Member {
            node: node.to_string(),
            partitions: partitions.to_vec(),
        };
        serde_json::to_vec(&member).expect("a member is plain data")
    };
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    let first = data(&partitions.borrow_and_update());
    match client.create(&path, &first, &ephemeral).await {
        Ok(_) => {}
        // Left by this process's previous session, which has not expired yet.
        Err(Error::NodeExists) => {
            client.set_data(&path, &first, None).await?;
        }
        Err(error) => return Err(error),
    }
    loop {
        let mut members = Vec::new();
        for child in client.list_children(&dir).await? {
            match client.get_data(&format!("{dir}/{child}")).await {
                Ok((data, _)) => members.extend(serde_json::from_slice::<Member>(&data).ok()),
                Err(Error::NoNode) => {}
                Err(error) => return Err(error),
            }
        }
        members.sort_by(|a, b| a.node.cmp(&b.node));
        membership.members.send_replace(members);
        tokio::select! {
            changed = partitions.changed() => {
                if changed.is_ok() {
                    let data = data(&partitions.borrow_and_update());
                    client.set_data(&path, &data, None).await?;
                }
            }
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}
