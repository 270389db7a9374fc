//! The command line: `--name value` or `--name=value` options and `--flag`s.

use std::str::FromStr;

/// The arguments after the subcommand.
pub(crate) struct Args {
    args: Vec<String>,
}

impl Args {
    /// `args`, checked against the options (which take a value) and the
    /// flags (which do not) the subcommand knows.
    pub(crate) fn new(args: Vec<String>, options: &[&str], flags: &[&str]) -> Result<Self, String> {
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            let (name, inline) = match name.split_once('=') {
                Some((name, _)) => (name, true),
                None => (name, false),
            };
            if flags.contains(&name) && !inline {
                continue;
            }
            if !options.contains(&name) {
                return Err(format!("unknown option --{name}"));
            }
            if !inline && iter.next().is_none() {
                return Err(format!("--{name} needs a value"));
            }
        }
        Ok(Self { args })
    }

    /// The value of `--name`, if given (the last one wins).
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        let flag = format!("--{name}");
        let mut found = None;
        let mut iter = self.args.iter();
        while let Some(arg) = iter.next() {
            if *arg == flag {
                found = iter.next().map(String::as_str);
            } else if let Some(value) = arg.strip_prefix(&flag).and_then(|v| v.strip_prefix('=')) {
                found = Some(value);
            }
        }
        found
    }

    /// `--name` parsed, or `default`.
    pub(crate) fn parsed<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.value(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("--{name}: cannot parse {text:?}")),
        }
    }

    /// Whether the flag `--name` is given.
    pub(crate) fn flag(&self, name: &str) -> bool {
        let flag = format!("--{name}");
        self.args.contains(&flag)
    }

    /// `--name a,b,c`, each comma-separated item parsed by `parse`;
    /// `default` when absent.
    pub(crate) fn list<T: Copy>(
        &self,
        name: &str,
        parse: fn(&str) -> Option<T>,
        default: &[T],
    ) -> Result<Vec<T>, String> {
        match self.value(name) {
            None => Ok(default.to_vec()),
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| parse(item).ok_or_else(|| format!("--{name}: unknown {item:?}")))
                .collect(),
        }
    }
}
