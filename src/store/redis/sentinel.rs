//! The Sentinel constructor of [`RedisStore`]: the master of a monitored
//! group, followed across failovers.

use std::time::Duration;

use redis::sentinel::{SentinelClient, SentinelServerType};

use super::RedisStore;
use super::cache::subscriber::Source;
use super::connection::{Connection, manager_config, redacted};
use super::failover::{Confirmation, Failover};
use super::watch::Watch;
use crate::error::{Error, ErrorKind};

impl RedisStore {
    /// Connects to the master that the Redis Sentinels at `sentinels`
    /// (`redis://host:26379` URLs) name for `master_name`, checks that it
    /// runs our scripts, and fails with a clear error if no sentinel answers
    /// or the master is unreachable.
    ///
    /// The store follows a failover by itself: it asks a sentinel every
    /// 250 ms which node is the master and moves to a new one; when the
    /// master refuses a write as a replica (`READONLY`: it was demoted, and
    /// wrote nothing) the store asks the sentinels again, reconnects to the
    /// new master and sends the write there; when the connection breaks or
    /// is refused, it asks them again before the next request. Requests may fail while the
    /// sentinels elect the new master (their `down-after-milliseconds` plus
    /// the election); the application needs no restart.
    ///
    /// Every write is acknowledged only once a replica has it (`WAIT 1`,
    /// within a second; see [`confirm_writes`](Self::confirm_writes)).
    /// Replication is asynchronous, and during a failover the old master
    /// keeps taking writes until the sentinels demote it (seconds later),
    /// then drops them when it becomes a replica of the new one: unconfirmed,
    /// those writes would be acknowledged saves that vanish. Confirmed, they
    /// fail (the layer answers a 500, as for any failed save) and the store
    /// asks the sentinels for the new master. The price is one replica's
    /// acknowledgement in each write's round trip, and no writes while the
    /// master has no replica in sync: run two replicas so that one may be
    /// down.
    ///
    /// The sentinels and the master are reached without credentials nor TLS;
    /// for those, build a single-node connection yourself and use
    /// [`from_connection`](Self::from_connection) (which does not follow a
    /// failover).
    pub async fn connect_sentinel(
        sentinels: impl IntoIterator<Item = impl AsRef<str>>,
        master_name: &str,
    ) -> Result<Self, Error> {
        let sentinels: Vec<String> = sentinels
            .into_iter()
            .map(|sentinel| sentinel.as_ref().to_owned())
            .collect();
        let Some(first) = sentinels.first().map(|url| redacted(url)) else {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "RedisStore::connect_sentinel needs at least one sentinel URL, got 0",
            ));
        };
        let watch = Watch::new(sentinels.clone(), master_name.to_owned());
        let client = SentinelClient::build(
            sentinels,
            master_name.to_owned(),
            None,
            SentinelServerType::Master,
        )
        .map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, "invalid Redis Sentinel URL").with_source(e)
        })?;
        let failover = Failover::connect(client, manager_config(), watch)
            .await
            .map_err(|e| {
                Error::store(e).with_detail(format!(
                    "could not reach the master {master_name:?} through the Redis Sentinels at {first}, ..."
                ))
            })?;
        let mut store = Self::with(Connection::Sentinel(failover.clone()));
        store.source = Some(Source::Sentinel(failover));
        store.check().await?;
        Ok(store.confirming(Some(Confirmation::ONE_REPLICA)))
    }

    /// How many replicas must have a write before it is acknowledged, and
    /// how long to wait for them (`WAIT replicas timeout`, in the write's
    /// round trip); a write they do not confirm in time fails, although the
    /// master may keep it. Through Sentinel only; the default there is one
    /// replica within a second, and `replicas` 0 acknowledges writes as
    /// soon as the master has them (a failover may then drop acknowledged
    /// saves: see [`connect_sentinel`](Self::connect_sentinel)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a store not made by
    /// [`connect_sentinel`](Self::connect_sentinel).
    pub fn confirm_writes(self, replicas: u32, timeout: Duration) -> Result<Self, Error> {
        if !matches!(self.connection, Connection::Sentinel(_)) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "RedisStore::confirm_writes needs a store made by connect_sentinel",
            ));
        }
        let confirm = (replicas > 0).then_some(Confirmation { replicas, timeout });
        Ok(self.confirming(confirm))
    }

    fn confirming(mut self, confirm: Option<Confirmation>) -> Self {
        if let Connection::Sentinel(failover) = &mut self.connection {
            failover.confirm_writes(confirm);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sentinel_without_addresses_is_a_configuration_error() {
        let err = RedisStore::connect_sentinel(Vec::<String>::new(), "mymaster")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("got 0"), "{err}");
    }
}
