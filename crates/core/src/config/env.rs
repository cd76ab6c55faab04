//! The one reader of environment variables. Every entry point reads its variables with a
//! [`Reader`]: the shared bridge variables ([`super::Config`]), the relay's own, the CLI's
//! flags-then-environment lookup. A reader records every problem instead of stopping at
//! the first, so a process that refuses to start names all of them at once, and a value is
//! never echoed (it may be a phone number).
//!
//! The reader is generic over what is wrong with a value (`E`): core's [`InvalidValue`],
//! or an entry point's own reasons that wrap it (the relay's `Invalid`).

use std::time::Duration;

use super::InvalidValue;

/// What looking a variable up found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Not set.
    Unset,
    /// Set to this.
    Value(String),
    /// Set, but not valid Unicode.
    NotUnicode,
}

impl Lookup {
    /// Variable `name` of this process's environment.
    pub fn process(name: &str) -> Self {
        match std::env::var(name) {
            Ok(value) => Self::Value(value),
            Err(std::env::VarError::NotPresent) => Self::Unset,
            Err(std::env::VarError::NotUnicode(_)) => Self::NotUnicode,
        }
    }

    /// A lookup that cannot tell "not Unicode" from a value (a map, a flag).
    pub fn from_option(value: Option<String>) -> Self {
        value.map_or(Self::Unset, Self::Value)
    }
}

/// One missing or invalid variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem<E: std::error::Error + 'static> {
    /// A required variable is unset or blank.
    #[error("{var} is missing")]
    Missing {
        /// The variable name.
        var: &'static str,
    },
    /// The variable's value is not valid Unicode.
    #[error("{var} is not valid unicode")]
    NotUnicode {
        /// The variable name.
        var: &'static str,
    },
    /// The variable is set but its value is not acceptable.
    #[error("{var} is invalid")]
    Invalid {
        /// The variable name.
        var: &'static str,
        /// What is wrong with the value (the value itself is not echoed).
        #[source]
        reason: E,
    },
}

impl<E: std::error::Error + 'static> Problem<E> {
    /// The variable the problem is about.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Missing { var } | Self::NotUnicode { var } | Self::Invalid { var, .. } => var,
        }
    }

    /// The same problem with its reason converted (core's problems in an entry point's
    /// list).
    pub fn map<F: std::error::Error + 'static>(self, convert: impl FnOnce(E) -> F) -> Problem<F> {
        match self {
            Self::Missing { var } => Problem::Missing { var },
            Self::NotUnicode { var } => Problem::NotUnicode { var },
            Self::Invalid { var, reason } => Problem::Invalid {
                var,
                reason: convert(reason),
            },
        }
    }
}

/// Reads variables through a lookup and collects every problem.
pub struct Reader<L, E: std::error::Error + 'static> {
    lookup: L,
    problems: Vec<Problem<E>>,
}

impl<L: Fn(&str) -> Lookup, E: std::error::Error + 'static> Reader<L, E> {
    /// A reader over `lookup`, with no problems yet.
    pub fn new(lookup: L) -> Self {
        Self::after(lookup, Vec::new())
    }

    /// A reader over `lookup` that carries on from `problems` already found (by the shared
    /// configuration, before an entry point reads its own variables).
    pub fn after(lookup: L, problems: Vec<Problem<E>>) -> Self {
        Self { lookup, problems }
    }

    /// The problems found so far.
    pub fn problems(&self) -> &[Problem<E>] {
        &self.problems
    }

    /// Every problem found, in the order the variables were read.
    pub fn finish(self) -> Vec<Problem<E>> {
        self.problems
    }

    /// The value, or `None` when unset or blank (after recording a non-Unicode value).
    pub fn get(&mut self, var: &'static str) -> Option<String> {
        match (self.lookup)(var) {
            Lookup::Value(value) if !value.trim().is_empty() => Some(value),
            Lookup::Value(_) | Lookup::Unset => None,
            Lookup::NotUnicode => {
                self.problems.push(Problem::NotUnicode { var });
                None
            }
        }
    }

    /// Records that `var` is invalid (a rule across variables, checked by the caller).
    pub fn invalid(&mut self, var: &'static str, reason: E) {
        self.problems.push(Problem::Invalid { var, reason });
    }

    /// The parsed value; `None` when unset or blank, or invalid (recorded).
    pub fn optional<T>(
        &mut self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        self.optional_all(var, |value| parse(value).map_err(|reason| vec![reason]))
    }

    /// Like [`Self::optional`], for values that can have several problems at once.
    pub fn optional_all<T>(
        &mut self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, Vec<E>>,
    ) -> Option<T> {
        let value = self.get(var)?;
        match parse(&value) {
            Ok(parsed) => Some(parsed),
            Err(reasons) => {
                let problems = reasons
                    .into_iter()
                    .map(|reason| Problem::Invalid { var, reason });
                self.problems.extend(problems);
                None
            }
        }
    }

    /// The parsed value, or `default` when unset, blank or invalid (recorded).
    pub fn or_default<T>(
        &mut self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, E>,
        default: T,
    ) -> T {
        self.optional(var, parse).unwrap_or(default)
    }

    /// The parsed value; a missing one is recorded as such.
    pub fn required<T>(
        &mut self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        self.required_all(var, |value| parse(value).map_err(|reason| vec![reason]))
    }

    /// Like [`Self::required`], for values that can have several problems at once.
    pub fn required_all<T>(
        &mut self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, Vec<E>>,
    ) -> Option<T> {
        let before = self.problems.len();
        let parsed = self.optional_all(var, parse);
        if parsed.is_none() && self.problems.len() == before {
            self.problems.push(Problem::Missing { var });
        }
        parsed
    }
}

impl<L: Fn(&str) -> Lookup, E: std::error::Error + From<InvalidValue> + 'static> Reader<L, E> {
    /// A whole number in `min..=max`, or `default` when unset, blank or invalid (recorded).
    pub fn number(&mut self, var: &'static str, min: u64, max: u64, default: u64) -> u64 {
        self.or_default(
            var,
            |value| in_range(value, min, max).map_err(E::from),
            default,
        )
    }

    /// [`Self::number`] as milliseconds.
    pub fn millis(&mut self, var: &'static str, min: u64, max: u64, default: u64) -> Duration {
        Duration::from_millis(self.number(var, min, max, default))
    }
}

/// A whole number (surrounding spaces allowed) in `min..=max`.
///
/// # Errors
/// [`InvalidValue::NotANumber`] or [`InvalidValue::OutOfRange`].
pub fn in_range(value: &str, min: u64, max: u64) -> Result<u64, InvalidValue> {
    let number: u64 = value.trim().parse().map_err(InvalidValue::NotANumber)?;
    if (min..=max).contains(&number) {
        Ok(number)
    } else {
        Err(InvalidValue::OutOfRange { min, max })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn reader(vars: &[(&'static str, &str)]) -> Reader<impl Fn(&str) -> Lookup, InvalidValue> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        Reader::new(move |name: &str| {
            if name == "BAD_UNICODE" {
                return Lookup::NotUnicode;
            }
            Lookup::from_option(vars.get(name).cloned())
        })
    }

    #[test]
    fn every_problem_is_kept_in_reading_order() {
        let mut vars = reader(&[("N", "x"), ("BLANK", "  "), ("R", "70")]);
        assert_eq!(vars.number("N", 1, 10, 5), 5, "invalid: the default");
        assert_eq!(vars.required("BLANK", |v| Ok(v.to_owned())), None);
        assert_eq!(vars.get("BAD_UNICODE"), None);
        assert_eq!(vars.number("R", 1, 60, 5), 5);
        assert_eq!(vars.number("UNSET", 1, 60, 7), 7);
        let problems: Vec<String> = vars.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "N is invalid",
                "BLANK is missing",
                "BAD_UNICODE is not valid unicode",
                "R is invalid"
            ]
        );
    }

    #[test]
    fn a_problem_keeps_its_variable_when_its_reason_is_converted() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped")]
        struct Wrapped(#[source] InvalidValue);
        let problem = Problem::Invalid {
            var: "X",
            reason: InvalidValue::NotABool,
        }
        .map(Wrapped);
        assert_eq!(problem.var(), "X");
        assert!(matches!(
            problem,
            Problem::Invalid {
                reason: Wrapped(InvalidValue::NotABool),
                ..
            }
        ));
    }
}
