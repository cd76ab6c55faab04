//! Configuration sets and their SNS event destinations, as given on the command line
//! (`--sms-configuration-set NAME` or `NAME=ENDPOINT|arn:aws:sns:REGION:ACCOUNT:TOPIC`).
//!
//! In AWS a configuration set is created with CreateConfigurationSet and gets up to five
//! event destinations; the emulator takes them from its configuration instead, with at
//! most one destination, an SNS topic on any SNS-compatible endpoint (moto locally).

use std::str::FromStr;

/// A configuration set name's longest length (`ConfigurationSetName` in the model).
const MAX_NAME: usize = 64;

/// An SNS topic on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsDestination {
    /// The SNS endpoint (`http://127.0.0.1:5055` for moto), without a trailing `/`.
    pub endpoint: String,
    /// `arn:aws:sns:REGION:ACCOUNT:TOPIC`.
    pub topic_arn: String,
    /// The ARN's region.
    pub region: String,
    /// The ARN's account.
    pub account: String,
    /// The ARN's topic name.
    pub topic: String,
}

impl SnsDestination {
    /// A topic `arn` on `endpoint`.
    ///
    /// # Errors
    /// When `endpoint` is not an http(s) URL or `arn` not an SNS topic ARN.
    pub fn parse(endpoint: &str, arn: &str) -> Result<Self, String> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "{endpoint:?} is not an http:// or https:// endpoint"
            ));
        }
        let parts: Vec<&str> = arn.split(':').collect();
        let valid = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "sns"
            && parts[3..].iter().all(|part| !part.is_empty());
        if !valid {
            return Err(format!(
                "{arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)"
            ));
        }
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            topic_arn: arn.to_owned(),
            region: parts[3].to_owned(),
            account: parts[4].to_owned(),
            topic: parts[5].to_owned(),
        })
    }
}

/// A configuration set the emulator knows, with its event destination if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationSet {
    /// The name SendTextMessage refers to it by.
    pub name: String,
    /// Where its events go; `None`: nowhere.
    pub destination: Option<SnsDestination>,
}

impl FromStr for ConfigurationSet {
    type Err = String;

    /// `NAME` or `NAME=ENDPOINT|arn:aws:sns:REGION:ACCOUNT:TOPIC`, for command lines.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (name, destination) = match value.split_once('=') {
            None => (value, None),
            Some((name, target)) => {
                let (endpoint, arn) = target.split_once('|').ok_or_else(|| {
                    format!("{value:?} is not NAME=ENDPOINT|arn:aws:sns:REGION:ACCOUNT:TOPIC")
                })?;
                (name, Some(SnsDestination::parse(endpoint, arn)?))
            }
        };
        let valid_name = (1..=MAX_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !valid_name {
            return Err(format!(
                "configuration set name {name:?} must be 1-{MAX_NAME} of A-Z a-z 0-9 _ -"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            destination,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_parses_with_or_without_a_destination() {
        let set: ConfigurationSet =
            "bridge-events=http://127.0.0.1:5055/|arn:aws:sns:us-east-1:123456789012:sms-events"
                .parse()
                .unwrap();
        assert_eq!(set.name, "bridge-events");
        let destination = set.destination.unwrap();
        assert_eq!(destination.endpoint, "http://127.0.0.1:5055");
        assert_eq!(
            destination.topic_arn,
            "arn:aws:sns:us-east-1:123456789012:sms-events"
        );
        assert_eq!(destination.region, "us-east-1");
        assert_eq!(destination.account, "123456789012");
        assert_eq!(destination.topic, "sms-events");
        let bare: ConfigurationSet = "quiet".parse().unwrap();
        assert_eq!(bare.destination, None);
    }

    #[test]
    fn bad_sets_are_refused() {
        for bad in [
            "",
            "has space",
            "name=http://x",
            "name=ftp://x|arn:aws:sns:us-east-1:1:t",
            "name=http://x|arn:aws:sqs:us-east-1:1:t",
            "name=http://x|arn:aws:sns:us-east-1:1",
            "name=http://x|arn:aws:sns::1:t",
        ] {
            assert!(bad.parse::<ConfigurationSet>().is_err(), "{bad:?}");
        }
    }
}
