//! A user's sessions in one round trip (two on a cluster): the set and the
//! records it names read together, instead of `SMEMBERS` and then one `GET`
//! per member in sequence.
//!
//! * On one node (and through Sentinel) the [`LIST`] script reads the set
//!   and `MGET`s every member's record in one `EVALSHA`, pruning the members
//!   whose record is gone as it goes. The records are on other slots than
//!   the set, which only a single node allows a script to touch.
//! * On a cluster every session is its own slot, so there is no multi-key
//!   read to batch them into: after `SMEMBERS`, the `GET`s are sent all at
//!   once on the multiplexed cluster connection, each to its node, and
//!   awaited together (one round trip of latency, whatever their number).
//!
//! Either way, members whose record names another owner are then forgotten
//! with one `SREM`, as [`UserIndex`]'s own listing does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use redis::AsyncCommands;

use super::RedisStore;
use crate::error::Error;
use crate::record::Record;
use crate::store::{SessionInfo, UserIndex};
use crate::token::SessionKey;

/// Lists a user's set (`KEYS[1]`) and `MGET`s the record of every member
/// (`ARGV[1]` is the key prefix, so a member's key is `ARGV[1]{member}`), in
/// chunks that stay below Lua's limit on `unpack`. Members whose record is
/// gone are removed from the set on the spot. Answers the members and their
/// values, in the same order (a removed member's value is nil). Single node
/// only: the records' keys are not declared and live on other slots.
pub(super) const LIST: &str = r"
local members = redis.call('SMEMBERS', KEYS[1])
local values, gone = {}, {}
for first = 1, #members, 500 do
  local keys = {}
  for i = first, math.min(first + 499, #members) do
    keys[#keys + 1] = ARGV[1] .. '{' .. members[i] .. '}'
  end
  local found = redis.call('MGET', unpack(keys))
  for i = 1, #keys do
    values[first + i - 1] = found[i]
    if not found[i] then gone[#gone + 1] = members[first + i - 1] end
  end
end
for first = 1, #gone, 500 do
  redis.call('SREM', KEYS[1], unpack(gone, first, math.min(first + 499, #gone)))
end
return {members, values}";

/// One listing of a user's set, the records read in one go.
#[derive(Default)]
pub(super) struct Listed {
    /// The records that name the user, expired or not.
    pub(super) entries: Vec<(SessionKey, Record)>,
    /// Whether a member's record was gone (its member is forgotten): what a
    /// revocation needs to know to list again.
    pub(super) vanished: bool,
}

impl RedisStore {
    /// The sessions filed under `user` whose record names them, expired or
    /// not, with the same pruning as [`UserIndex`]'s listing: members whose
    /// record is gone or names someone else are forgotten. One `EVALSHA` on
    /// one node (plus an `SREM` only if a record names another owner); on a
    /// cluster, `SMEMBERS` and then every `GET` at once.
    pub(super) async fn owned_records(&self, user: &str) -> Result<Listed, Error> {
        let values = if self.connection.is_cluster() {
            self.read_each(user).await?
        } else {
            self.read_in_script(user).await?
        };
        let mut listed = Listed::default();
        let mut stale = Vec::new();
        for (key, value) in values {
            match value.map(|bytes| super::record_of(&bytes)).transpose()? {
                Some(record) if record.owner.as_deref() == Some(user) => {
                    listed.entries.push((key, record));
                }
                Some(_) => stale.push(key),
                None => {
                    listed.vanished = true;
                    // The script pruned these already; on a cluster they
                    // are forgotten here, with the others.
                    if self.connection.is_cluster() {
                        stale.push(key);
                    }
                }
            }
        }
        self.forget(user, &stale).await?;
        Ok(listed)
    }

    /// The members of `user`'s set and their values, through [`LIST`].
    async fn read_in_script(
        &self,
        user: &str,
    ) -> Result<Vec<(SessionKey, Option<Vec<u8>>)>, Error> {
        let mut invocation = self.list.key(self.user_key(user));
        invocation.arg(&*self.prefix);
        let invocation = &invocation;
        let (members, values): (Vec<Vec<u8>>, Vec<Option<Vec<u8>>>) = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        if members.len() != values.len() {
            return Err(
                Error::store_message("unexpected answer from the listing script").with_detail(
                    format!("{} members, {} values", members.len(), values.len()),
                ),
            );
        }
        Ok(members
            .iter()
            .zip(values)
            .filter_map(|(member, value)| Some((SessionKey::from_bytes(parse_hex(member)?), value)))
            .collect())
    }

    /// The members of `user`'s set and their values on a cluster: `SMEMBERS`,
    /// then every `GET` in flight at once.
    async fn read_each(&self, user: &str) -> Result<Vec<(SessionKey, Option<Vec<u8>>)>, Error> {
        let keys = self.keys_of(user).await?;
        let reads = keys.iter().map(|key| {
            let key = self.key(key);
            async move {
                let key = &key;
                self.run(
                    |mut connection| async move { connection.get::<_, Option<Vec<u8>>>(key).await },
                )
                .await
            }
        });
        let values = join_all(reads.collect()).await;
        keys.into_iter()
            .zip(values)
            .map(|(key, value)| Ok((key, value?)))
            .collect()
    }
}

/// The live sessions of `user` in `listed`, most recently seen first, as
/// [`UserIndex::sessions`] lists them.
pub(super) fn live_sessions(listed: Listed, now: SystemTime) -> Vec<SessionInfo> {
    let mut infos: Vec<SessionInfo> = listed
        .entries
        .into_iter()
        .filter(|(_, record)| !record.is_expired(now))
        .map(|(key, record)| SessionInfo {
            handle: key.handle(),
            created_at: record.created_at,
            last_seen: record.last_seen,
            expires_at: record.expires_at,
            metadata: record.metadata,
        })
        .collect();
    infos.sort_by_key(|info| std::cmp::Reverse(info.last_seen));
    infos
}

/// Awaits every future of `futures` together; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let mut ready = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => ready = false,
                }
            }
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The 32 bytes of 64 hex digits (either case), or `None`.
pub(super) fn parse_hex(text: &[u8]) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_the_order_of_its_futures() {
        let slow = async {
            tokio::task::yield_now().await;
            1
        };
        let fast = async { 2 };
        let outputs = join_all(vec![
            Box::pin(slow) as Pin<Box<dyn Future<Output = i32>>>,
            Box::pin(fast),
        ])
        .await;
        assert_eq!(outputs, [1, 2]);
        assert!(
            join_all(Vec::<std::future::Ready<()>>::new())
                .await
                .is_empty()
        );
    }
}
