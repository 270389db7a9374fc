//! The user index of [`RedisStore`]: a set of session digests per user,
//! kept by the `INDEX` script run after each owned write (pipelined with it
//! on one node, its own command on a cluster), read and pruned through
//! [`UserIndex`].

use redis::aio::ConnectionLike;
use redis::{AsyncCommands, Pipeline, ScriptInvocation, Value};
use sha2::{Digest, Sha256};

use super::listing::parse_hex;
use super::{RedisStore, millis};
use crate::error::Error;
use crate::record::Record;
use crate::store::{UserIndex, UserRecords};
use crate::token::SessionKey;

/// How long a user's set outlives the deadline of its longest-lived session,
/// at most: margin for the millisecond rounding of the script's estimate.
const INDEX_SLACK_MS: u64 = 1_000;

impl RedisStore {
    /// The key of `user`'s set of session digests. The user id is hashed, so
    /// no id (with `{`, `}`, or any length) can change the hash tag or the
    /// key's size.
    pub(super) fn user_key(&self, user: &str) -> String {
        format!(
            "{}user:{{{:x}}}",
            self.prefix,
            Sha256::digest(user.as_bytes())
        )
    }

    /// The index script's call filing `key` under `owner` until `record`'s
    /// deadline.
    pub(super) fn index_call(
        &self,
        owner: &str,
        key: &SessionKey,
        record: &Record,
    ) -> ScriptInvocation<'_> {
        let mut invocation = self.index.key(self.user_key(owner));
        invocation
            .arg(&key.hex()[..])
            .arg(millis(record.expires_at).saturating_add(INDEX_SLACK_MS));
        invocation
    }

    /// Runs `pipeline` (the record's command, then the index script) and
    /// returns the two answers, a server error in either one being an answer
    /// rather than the failure of the whole pipeline.
    pub(super) async fn run_pair(&self, pipeline: &Pipeline) -> Result<(Value, Value), Error> {
        let answers =
            self.run(|mut connection| async move {
                connection.req_packed_commands(pipeline, 0, 2).await
            })
            .await?;
        match <[Value; 2]>::try_from(answers) {
            Ok([record, index]) => Ok((record, index)),
            Err(answers) => Err(Error::store_message("unexpected answer to a pipeline")
                .with_detail(format!("{} answers for 2 commands", answers.len()))),
        }
    }

    /// Checks the pipelined index script's `answer` for a record that was
    /// written, and runs the script again on its own if it failed (`NOSCRIPT`
    /// after a server restart, which this reloads it for, or any other
    /// error): a written record is always filed under its owner.
    pub(super) async fn indexed(
        &self,
        answer: Value,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<(), Error> {
        match answer.extract_error() {
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::debug!(error = %err, "the pipelined user index update failed; running it again");
                self.file(invocation).await
            }
        }
    }

    /// Runs the index script on its own (loading it if the server lost it).
    pub(super) async fn file(&self, invocation: &ScriptInvocation<'_>) -> Result<(), Error> {
        let _: i64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok(())
    }
}

/// A set per user (see [`RedisStore`]); `SMEMBERS` and `SREM`, one round trip each.
impl UserIndex for RedisStore {
    /// One round trip on one node and through Sentinel (a script reads the
    /// set and `MGET`s its records), two on a cluster (`SMEMBERS`, then every
    /// `GET` at once), instead of one `GET` per session in sequence; plus an
    /// `SREM` when a listed record names another owner. Prunes the same
    /// stale members as the default. Listings and revocations start here.
    async fn records_of(&self, user: &str) -> Result<UserRecords, Error> {
        self.owned_records(user).await
    }

    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        let set = &self.user_key(user);
        let members: Vec<Vec<u8>> = self
            .run(|mut connection| async move { connection.smembers(set).await })
            .await?;
        Ok(members
            .iter()
            .filter_map(|member| parse_hex(member))
            .map(SessionKey::from_bytes)
            .collect())
    }

    async fn forget(&self, user: &str, stale: &[SessionKey]) -> Result<(), Error> {
        if stale.is_empty() {
            return Ok(());
        }
        let set = &self.user_key(user);
        let members = &stale.iter().map(SessionKey::to_hex).collect::<Vec<_>>();
        let _: u64 = self
            .run(|mut connection| async move { connection.srem(set, members).await })
            .await?;
        Ok(())
    }
}
