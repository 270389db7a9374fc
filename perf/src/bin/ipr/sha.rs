//! SHA-256 in a dump: how often sha2's compression function was called and
//! the instructions spent in it, from `callgrind_annotate`.
//!
//! Under valgrind the CPU's SHA extensions are hidden, so sha2 0.10 takes its
//! software path, which inlines into `sha2::sha256::compress256` (one call
//! per update or finalization; each call here hashes one 64-byte block, at
//! about 3,500 instructions). Natively, with SHA-NI, a block costs a few
//! hundred instructions, so the SHA-256 share of a dump overstates what it
//! costs on such a CPU; the report therefore also shows each figure with
//! SHA-256 set aside.

use std::path::Path;
use std::process::{Command, Stdio};

/// The compression functions, outermost first: the first one a dump names
/// is counted (the others, if not inlined, would be inside it).
const SYMBOLS: [&str; 4] = [
    "sha2::sha256::compress256",
    "sha2::sha256::x86::compress",
    "sha2::sha256::soft::compress",
    "sha2::sha256::soft::sha256_digest_block_u32",
];

/// SHA-256 compressions in one dump.
#[derive(Clone, Default)]
pub(crate) struct Sha {
    /// The function counted (empty when the dump has none).
    pub(crate) symbol: String,
    /// Calls to it.
    pub(crate) calls: u64,
    /// Instructions in it, callees included.
    pub(crate) instructions: u64,
}

/// The SHA-256 compressions in `dump` (all zero when there are none).
pub(crate) fn compressions(dump: &Path) -> Result<Sha, String> {
    let output = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--tree=caller", "--threshold=100"])
        .arg(dump)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run callgrind_annotate: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "callgrind_annotate {}: {}",
            dump.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    for symbol in SYMBOLS {
        if let Some(sha) = find(&text, symbol) {
            return Ok(sha);
        }
    }
    Ok(Sha::default())
}

/// In `--tree=caller` output, a function's entry is a paragraph: one line per
/// caller (`COST (PCT)  < file:caller (CALLSx) [object]`), then the function
/// itself (`COST (PCT)  *  file:function [object]`) with its inclusive cost.
fn find(text: &str, symbol: &str) -> Option<Sha> {
    let mut callers: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            callers.clear();
            continue;
        }
        let Some((cost, rest)) = split_cost(line) else {
            callers.clear();
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with('<') {
            callers.push(rest);
            continue;
        }
        let Some(function) = rest.strip_prefix('*') else {
            continue;
        };
        // `???:sha2::sha256::compress256 [/path/to/ipr]`
        let name = function
            .trim()
            .split_once(':')
            .map_or("", |(_, name)| name)
            .split(" [")
            .next()
            .unwrap_or("");
        if name != symbol {
            continue;
        }
        let calls = callers.iter().filter_map(|caller| call_count(caller)).sum();
        return Some(Sha {
            symbol: symbol.to_owned(),
            calls,
            instructions: cost,
        });
    }
    None
}

/// `  1,234,567 (12.34%)  rest` into the cost and `rest`.
fn split_cost(line: &str) -> Option<(u64, &str)> {
    let line = line.trim_start();
    let end = line.find(' ')?;
    let cost = line[..end].replace(',', "").parse().ok()?;
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('(')?;
    let (_, rest) = rest.split_once(')')?;
    Some((cost, rest))
}

/// The `(1,000x)` of a caller line.
fn call_count(caller: &str) -> Option<u64> {
    let end = caller.rfind("x)")?;
    let start = caller[..end].rfind('(')?;
    caller[start + 1..end].replace(',', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_callers_and_the_inclusive_cost() {
        let text = "\
 6,954,000 (15.53%)  < ???:core::ops::function::impls::<impl core::ops::function::FnMut<A> for &mut F>::call_mut (2,000x) [/x/ipr]
 3,477,000 ( 7.76%)  < ???:sessionware::token::store_key::SessionKey::digest_of (1,000x) [/x/ipr]
10,431,000 (23.29%)  *  ???:sha2::sha256::compress256 [/x/ipr]

10,396,000 (23.21%)  *  ???:sessionware::token::find::find [/x/ipr]
";
        let sha = find(text, SYMBOLS[0]).expect("found");
        assert_eq!(sha.calls, 3000);
        assert_eq!(sha.instructions, 10_431_000);
        assert!(find(text, SYMBOLS[2]).is_none());
    }
}
