//! Secrets an attacker could guess are refused when the layer is built, with
//! an error that says how to make a good one; random secrets, in every form
//! an operator pastes, are accepted; and no secret shown in the
//! documentation or the examples would be accepted if copied.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sessionware::{ErrorKind, Keyring, MemoryStore, SessionLayer, insecure_dev_secret};

/// Secrets of 32 bytes or more that are easy to guess: counting, repeated
/// blocks, words, and the secrets the documentation used to show.
fn guessable() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("digits", b"12345678".repeat(4)),
        ("letters", b"abcdefgh".repeat(4)),
        ("a password, repeated", b"Passw0rd!".repeat(4)),
        ("zeros", vec![0; 32]),
        ("counting", (0u8..64).collect()),
        (
            "a fixed step",
            (0u8..64)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect(),
        ),
        (
            "the quick start's old secret",
            [0x5e, 0x55, 0x10, 0x4e, 0x7a, 0x3c, 0x99, 0x01].repeat(8),
        ),
        ("an old doc secret", [7, 1, 2, 3, 4, 5, 6, 8].repeat(4)),
        (
            "an old test secret",
            (1u8..=8).collect::<Vec<_>>().repeat(8),
        ),
        ("an old retired secret", [9, 8, 7, 6, 5, 4, 3, 2].repeat(8)),
        (
            "a sentence",
            b"correct horse battery staple, 40 bytes!!".to_vec(),
        ),
        (
            "a name",
            b"my-app-session-secret-2024-production-key".to_vec(),
        ),
    ]
}

/// What every refusal of a guessable secret must tell the operator.
const ADVICE: [&str; 4] = [
    "secret is too easy to guess: it has about ",
    " bits of estimated entropy, at least 128 needed",
    "`openssl rand -hex 64`",
    "hex or base64",
];

#[test]
fn guessable_secrets_are_refused_with_advice() {
    for (name, secret) in guessable() {
        let err = SessionLayer::try_new(MemoryStore::new(), &secret).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret, "{name}");
        let text = err.to_string();
        for advice in ADVICE {
            assert!(text.contains(advice), "{name}: {text}");
        }
        let err = Keyring::new(rand::random::<[u8; 64]>())
            .unwrap()
            .retired(&secret)
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::WeakSecret,
            "{name} as a retired secret"
        );
    }
    // The estimate is in the message, as a number.
    let err = SessionLayer::try_new(MemoryStore::new(), b"12345678".repeat(4)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("secret is too easy to guess: it has about 13 bits"),
        "{err}"
    );
}

#[test]
#[should_panic(expected = "`openssl rand -hex 64`")]
fn new_panics_with_the_advice_on_a_guessable_secret() {
    let _ = SessionLayer::new(MemoryStore::new(), b"Passw0rd!".repeat(4));
}

/// Random secrets pass as bytes and as the hex or base64 text an operator
/// might hand to `SessionLayer::new` directly, and `insecure_dev_secret`
/// stays usable.
#[test]
fn random_secrets_in_every_form_are_accepted() {
    for _ in 0..1_000 {
        for secret in [
            rand::random::<[u8; 32]>().to_vec(),
            rand::random::<[u8; 64]>().to_vec(),
        ] {
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            for form in [
                secret.clone(),
                hex.into_bytes(),
                STANDARD.encode(&secret).into_bytes(),
                URL_SAFE_NO_PAD.encode(&secret).into_bytes(),
            ] {
                assert!(Keyring::new(&form).is_ok(), "{form:?}");
            }
        }
    }
    assert!(SessionLayer::try_new(MemoryStore::new(), insecure_dev_secret()).is_ok());
}

/// A secret-looking literal in a text: where it is, and the bytes it stands for.
#[derive(Debug, PartialEq)]
struct Literal {
    line: usize,
    bytes: Vec<u8>,
}

/// The secret-looking literals of `text`: runs of 64 or more hex digits (read
/// as hex, as `SESSIONWARE_SECRET` would be), and byte arrays repeated with
/// `[..].repeat(n)`.
fn secret_literals(text: &str) -> Vec<Literal> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        for run in line.split(|c: char| !c.is_ascii_hexdigit()) {
            if run.len() >= 64 {
                let bytes = run
                    .as_bytes()
                    .chunks_exact(2)
                    .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
                    .collect();
                found.push(Literal {
                    line: line_number,
                    bytes,
                });
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("].repeat(") {
            let (before, after) = rest.split_at(at);
            rest = &after[1..];
            let Some(open) = before.rfind('[') else {
                continue;
            };
            let count: String = after["].repeat(".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let block: Option<Vec<u8>> = before[open + 1..].split(',').map(byte_literal).collect();
            if let (Some(block), Ok(count)) = (block, count.parse::<usize>()) {
                found.push(Literal {
                    line: line_number,
                    bytes: block.repeat(count),
                });
            }
        }
    }
    found
}

/// One element of a byte array: `7`, `7u8`, `0x5e`, `0x5eu8`, `b'a'`.
fn byte_literal(text: &str) -> Option<u8> {
    let text = text.trim();
    if let Some(c) = text.strip_prefix("b'").and_then(|t| t.strip_suffix('\'')) {
        return c.bytes().next().filter(|_| c.len() == 1);
    }
    let text = text
        .strip_suffix("u8")
        .unwrap_or(text)
        .trim_end_matches('_');
    match text.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The scanner finds the literals the documentation used to show, with the
/// bytes they stand for, and nothing in ordinary text; so the scan of the
/// repository below can fail.
#[test]
fn the_scanner_finds_secret_literals() {
    let sample = concat!(
        "//! let secret = [0x5eu8, 0x55, 0x10, 0x4e, 0x7a, 0x3c, 0x99, 0x01].repeat(8); // use 64 random bytes\n",
        "/// let layer = SessionLayer::new(MemoryStore::new(), [7u8, 1, 2, 3, 4, 5, 6, 8].repeat(4))\n",
        "///     (\"SESSIONWARE_SECRET\", \"0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0\"),\n",
        "let text = \"x\".repeat(87); let short = \"deadbeef\"; let v = [\"a\", \"b\"].repeat(2);\n",
        "let letters = [b'a', b'b'].repeat(3);\n",
    );
    let found = secret_literals(sample);
    let expected = [
        (
            1,
            [0x5e, 0x55, 0x10, 0x4e, 0x7a, 0x3c, 0x99, 0x01].repeat(8),
        ),
        (2, [7, 1, 2, 3, 4, 5, 6, 8].repeat(4)),
        (
            3,
            vec![
                0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2,
                0xe1, 0xf0, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc,
                0xcd, 0xde, 0xef, 0xf0,
            ],
        ),
        (5, b"ab".repeat(3)),
    ];
    let expected: Vec<Literal> = expected
        .into_iter()
        .map(|(line, bytes)| Literal { line, bytes })
        .collect();
    assert_eq!(found, expected);
    for literal in &found[..3] {
        assert_eq!(
            Keyring::new(&literal.bytes).unwrap_err().kind(),
            ErrorKind::WeakSecret,
            "{literal:?}"
        );
    }
}

/// The files whose text is documentation or an example: all of README.md
/// and `examples/*.rs`, and the doc comments (`///`, `//!`) of `src/**/*.rs`.
fn documentation() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![(
        root.join("README.md"),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            docs.push((path, text));
        }
    }
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                // Blank lines for code keep the line numbers of the file.
                let text = std::fs::read_to_string(&path).unwrap();
                let doc_lines: Vec<&str> = text
                    .lines()
                    .map(|line| {
                        let trimmed = line.trim_start();
                        if trimmed.starts_with("///") || trimmed.starts_with("//!") {
                            line
                        } else {
                            ""
                        }
                    })
                    .collect();
                docs.push((path, doc_lines.join("\n")));
            }
        }
    }
    docs
}

/// A secret copied from the documentation or an example must not start a
/// server: every literal that looks like a secret is refused, and there are
/// none left, since the documentation generates its secrets at run time.
#[test]
fn secrets_shown_in_the_docs_are_refused() {
    let docs = documentation();
    let sources = docs
        .iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "rs"))
        .count();
    assert!(sources >= 30, "only {sources} source files were read");
    let mut found = Vec::new();
    for (path, text) in &docs {
        for literal in secret_literals(text) {
            let at = format!("{}:{}", path.display(), literal.line);
            match Keyring::new(&literal.bytes) {
                Ok(_) => panic!("{at}: a secret in the documentation is accepted"),
                Err(err) => assert_eq!(err.kind(), ErrorKind::WeakSecret, "{at}"),
            }
            found.push(at);
        }
    }
    assert!(
        found.is_empty(),
        "fixed secrets in the documentation (generate them at run time): {found:?}"
    );
}
