//! Command-line options of the binaries that take `--name value`,
//! `--name=value`, or a `<PREFIX>_NAME` environment variable (`loadtest`,
//! `soak`).

/// The value of option `name` in `args`, else of the variable
/// `<env>_<NAME>` (dashes become underscores).
pub fn option(args: &[String], env: &str, name: &str) -> Option<String> {
    let flag = format!("--{name}");
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if *arg == flag {
            return iter.next().cloned();
        }
        if let Some(value) = arg.strip_prefix(&flag).and_then(|v| v.strip_prefix('=')) {
            return Some(value.to_owned());
        }
    }
    std::env::var(format!("{env}_{}", name.to_uppercase().replace('-', "_"))).ok()
}

/// [`option`] parsed as a `T`, or `default` when absent.
///
/// # Panics
///
/// If the value does not parse, naming the option.
pub fn parsed<T: std::str::FromStr>(args: &[String], env: &str, name: &str, default: T) -> T {
    match option(args, env, name) {
        None => default,
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("--{name}: cannot parse {text:?}")),
    }
}
