//! `RedisKey`: a session's key in Redis, written straight into the command.

use redis::{RedisWrite, ToRedisArgs, ToSingleRedisArg};

use crate::token::SessionKey;

/// `<prefix>{<64 hex digits>}`: the digest is its own cluster hash tag. It
/// is written into the command as one argument, with no allocation of its
/// own for a prefix of usual length (this runs on every request).
#[derive(Clone, Copy)]
pub(super) struct RedisKey<'a> {
    prefix: &'a str,
    hex: [u8; 64],
}

impl<'a> RedisKey<'a> {
    pub(super) fn new(prefix: &'a str, key: &SessionKey) -> Self {
        Self {
            prefix,
            hex: key.hex(),
        }
    }
}

impl ToRedisArgs for RedisKey<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        // Assembled on the stack and handed over whole, so the command's
        // buffer grows once; a long prefix takes a heap buffer instead.
        let len = self.prefix.len() + 2 + self.hex.len();
        let mut stack = [0u8; STACK_KEY];
        let mut heap = Vec::new();
        let key = if len <= STACK_KEY {
            &mut stack[..len]
        } else {
            heap.resize(len, 0);
            &mut heap[..]
        };
        let (prefix, rest) = key.split_at_mut(self.prefix.len());
        prefix.copy_from_slice(self.prefix.as_bytes());
        rest[0] = b'{';
        rest[1..=self.hex.len()].copy_from_slice(&self.hex);
        rest[self.hex.len() + 1] = b'}';
        out.write_arg(key);
    }
}

/// The longest key assembled on the stack: a prefix of up to 62 bytes.
const STACK_KEY: usize = 128;

/// One argument, always.
impl ToSingleRedisArg for RedisKey<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_prefix_and_the_digest_as_its_hash_tag() {
        let key = SessionKey::from_bytes([0xab; 32]);
        let args = RedisKey::new("app:", &key).to_redis_args();
        let expected = format!("app:{{{}}}", "ab".repeat(32));
        assert_eq!(args, [expected.into_bytes()]);
        let long = "p".repeat(100);
        let args = RedisKey::new(&long, &key).to_redis_args();
        assert_eq!(
            args,
            [format!("{long}{{{}}}", "ab".repeat(32)).into_bytes()]
        );
    }
}
