//! What a binary that is configured by environment variables says about itself:
//! `--help` (what it does, and every variable it reads with its default) and `--version`.
//!
//! The Lambda and the relay take no flags: a deployment configures them with variables.
//! But a person who runs one by hand types `--help` first, and must get an answer, not
//! "invalid configuration". Each configuration module lists its variables once, as
//! [`Var`]s, and this module turns the lists into the help text; the lists are also what the
//! tests hold against the README's configuration table. Pure: the binary prints.

use std::fmt::Write as _;

/// The default of a variable, as `--help` states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// The variable must be set.
    Required,
    /// Unset means "off" or "none".
    Unset,
    /// This value.
    Value(&'static str),
}

/// One environment variable a binary reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var {
    /// Its name.
    pub name: &'static str,
    /// Its default.
    pub default: DefaultValue,
    /// What it does, in one line.
    pub help: &'static str,
}

impl Var {
    /// A variable that must be set.
    pub const fn required(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            default: DefaultValue::Required,
            help,
        }
    }

    /// A variable whose absence means "none" or "off".
    pub const fn optional(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            default: DefaultValue::Unset,
            help,
        }
    }

    /// A variable with a default value.
    pub const fn with_default(
        name: &'static str,
        default: &'static str,
        help: &'static str,
    ) -> Self {
        Self {
            name,
            default: DefaultValue::Value(default),
            help,
        }
    }
}

/// The variables every binary's AWS SDK clients read (the standard AWS environment).
pub const AWS_VARS: [Var; 4] = [
    Var::required(
        "AWS_REGION",
        "Region of every AWS call (Lambda and ECS set it)",
    ),
    Var::optional(
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE",
        "Credentials, through the SDK's default chain (Lambda and ECS provide a role)",
    ),
    Var::optional(
        "AWS_ENDPOINT_URL_DYNAMODB, _SNS, _CONNECT, _CONNECTPARTICIPANT",
        "Per-service endpoints, to point the clients at local emulators",
    ),
    Var::optional(
        "SSL_CERT_FILE",
        "A CA bundle to trust instead of the machine's certificate store (a TLS proxy in front of AWS)",
    ),
];

/// A binary, as its `--help` describes it.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    /// The binary's name.
    pub name: &'static str,
    /// Its version (`env!("CARGO_PKG_VERSION")` of its crate).
    pub version: &'static str,
    /// What it does: a paragraph.
    pub about: &'static str,
    /// Subcommands it takes besides running, with a line each (`healthcheck`…).
    pub commands: &'a [(&'static str, &'static str)],
    /// Its variables, in titled groups.
    pub vars: &'a [(&'static str, &'a [Var])],
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// No arguments: run as configured.
    Run,
    /// A subcommand of [`Program::commands`].
    Command(String),
    /// `--help` or `-h`: print this text (to stdout) and exit 0.
    Help(String),
    /// `--version` or `-V`: print this text and exit 0.
    Version(String),
    /// Anything else: print this text (to stderr) and exit 2.
    Usage(String),
}

impl Program<'_> {
    /// Reads the arguments after the program name.
    pub fn request(&self, mut args: impl Iterator<Item = String>) -> Request {
        let Some(first) = args.next() else {
            return Request::Run;
        };
        let rest: Vec<String> = args.collect();
        match first.as_str() {
            "--help" | "-h" | "help" => Request::Help(self.help()),
            "--version" | "-V" => Request::Version(format!("{} {}\n", self.name, self.version)),
            command
                if rest.is_empty() && self.commands.iter().any(|(name, _)| *name == command) =>
            {
                Request::Command(command.to_owned())
            }
            other => Request::Usage(format!(
                "{}: unexpected argument {other:?}\n\n{}Run `{} --help` for every variable it reads.\n",
                self.name,
                self.usage_line(),
                self.name
            )),
        }
    }

    fn usage_line(&self) -> String {
        let mut line = format!("Usage: {}", self.name);
        if !self.commands.is_empty() {
            line.push_str(" [COMMAND]");
        }
        line.push_str(" [--help | --version]\n");
        line
    }

    /// The `--help` text.
    pub fn help(&self) -> String {
        let mut text = format!(
            "{} {}\n{}\n\n{}",
            self.name,
            self.version,
            self.about,
            self.usage_line()
        );
        if !self.commands.is_empty() {
            text.push_str("\nCommands:\n");
            let width = self
                .commands
                .iter()
                .map(|(name, _)| name.len())
                .max()
                .unwrap_or(0);
            for (name, help) in self.commands {
                let _ = writeln!(text, "  {name:width$}  {help}");
            }
        }
        text.push_str(
            "\nConfigured by environment variables; every missing or invalid one is reported at\nonce, by name, at start-up. Booleans: true/false/1/0/yes/no; blank counts as unset.\n",
        );
        for (title, vars) in self.vars {
            let _ = write!(text, "\n{title}:\n{}", describe(vars));
        }
        text
    }
}

/// The variables as `--help` lists them: name and default, then the meaning, indented.
pub fn describe(vars: &[Var]) -> String {
    let mut text = String::new();
    for var in vars {
        let default = match var.default {
            DefaultValue::Required => "required".to_owned(),
            DefaultValue::Unset => "default: none".to_owned(),
            DefaultValue::Value(value) => format!("default: {value}"),
        };
        let _ = writeln!(text, "  {}  ({default})\n      {}", var.name, var.help);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: [Var; 2] = [
        Var::required("X_TABLE", "the table"),
        Var::with_default("X_SHARDS", "64", "relay shards"),
    ];
    const PROGRAM: Program<'static> = Program {
        name: "x-relay",
        version: "1.2.3",
        about: "Relays things.",
        commands: &[("healthcheck", "probe the admin listener")],
        vars: &[("Bridge", &VARS)],
    };

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|arg| (*arg).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn no_arguments_run_the_program() {
        assert_eq!(PROGRAM.request(args(&[])), Request::Run);
    }

    #[test]
    fn help_names_every_variable_with_its_default() {
        for flag in ["--help", "-h", "help"] {
            let Request::Help(text) = PROGRAM.request(args(&[flag])) else {
                panic!("{flag} is not help");
            };
            assert!(text.starts_with("x-relay 1.2.3\nRelays things."), "{text}");
            assert!(
                text.contains("X_TABLE  (required)\n      the table"),
                "{text}"
            );
            assert!(text.contains("X_SHARDS  (default: 64)"), "{text}");
            assert!(
                text.contains("healthcheck  probe the admin listener"),
                "{text}"
            );
        }
    }

    #[test]
    fn version_prints_name_and_version() {
        assert_eq!(
            PROGRAM.request(args(&["--version"])),
            Request::Version("x-relay 1.2.3\n".to_owned())
        );
        assert!(matches!(
            PROGRAM.request(args(&["-V"])),
            Request::Version(_)
        ));
    }

    #[test]
    fn commands_are_recognised_and_anything_else_is_a_usage_error() {
        assert_eq!(
            PROGRAM.request(args(&["healthcheck"])),
            Request::Command("healthcheck".to_owned())
        );
        let Request::Usage(text) = PROGRAM.request(args(&["--port", "8"])) else {
            panic!("not a usage error");
        };
        assert!(text.contains("unexpected argument \"--port\""), "{text}");
        assert!(matches!(
            PROGRAM.request(args(&["healthcheck", "extra"])),
            Request::Usage(_)
        ));
    }
}
