//! The Sentinel constructor of [`RedisStore`]: the master of a monitored
//! group, followed across failovers.

use redis::sentinel::{SentinelClient, SentinelServerType};

use super::RedisStore;
use super::cache::subscriber::Source;
use super::connection::{Connection, manager_config, redacted};
use super::failover::Failover;
use crate::error::{Error, ErrorKind};

impl RedisStore {
    /// Connects to the master that the Redis Sentinels at `sentinels`
    /// (`redis://host:26379` URLs) name for `master_name`, checks that it
    /// runs our scripts, and fails with a clear error if no sentinel answers
    /// or the master is unreachable.
    ///
    /// The store follows a failover by itself: when the master refuses a
    /// write as a replica (`READONLY`: it was demoted, and wrote nothing) the
    /// store asks the sentinels again, reconnects to the new master and
    /// sends the write there; when the connection breaks or is refused, it
    /// asks them again before the next request. Requests may fail while the
    /// sentinels elect the new master (their `down-after-milliseconds` plus
    /// the election); the application needs no restart.
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
        let client = SentinelClient::build(
            sentinels,
            master_name.to_owned(),
            None,
            SentinelServerType::Master,
        )
        .map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, "invalid Redis Sentinel URL").with_source(e)
        })?;
        let failover = Failover::connect(client, manager_config())
            .await
            .map_err(|e| {
                Error::store(e).with_detail(format!(
                    "could not reach the master {master_name:?} through the Redis Sentinels at {first}, ..."
                ))
            })?;
        let mut store = Self::with(Connection::Sentinel(failover.clone()));
        store.source = Some(Source::Sentinel(failover));
        store.check().await?;
        Ok(store)
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
