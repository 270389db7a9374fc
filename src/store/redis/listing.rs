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

use redis::AsyncCommands;

use super::RedisStore;
use crate::error::Error;
use crate::store::join::join_all;
use crate::store::{UserIndex, UserRecords};
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

impl RedisStore {
    /// The sessions filed under `user` whose record names them, expired or
    /// not, with the same pruning as [`UserIndex`]'s listing: members whose
    /// record is gone or names someone else are forgotten. One `EVALSHA` on
    /// one node (plus an `SREM` only if a record names another owner); on a
    /// cluster, `SMEMBERS` and then every `GET` at once.
    pub(super) async fn owned_records(&self, user: &str) -> Result<UserRecords, Error> {
        let values = if self.connection.is_cluster() {
            self.read_each(user).await?
        } else {
            self.read_in_script(user).await?
        };
        let mut listed = UserRecords::default();
        let mut stale = Vec::new();
        for (key, value) in values {
            match value.map(|bytes| super::record_of(&bytes)).transpose()? {
                Some(record) if record.owner.as_deref() == Some(user) => {
                    listed.records.push((key, record));
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
