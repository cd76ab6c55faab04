//! How an error goes into a log line: its whole cause chain on one line, with every phone
//! number in it masked.
//!
//! Logs carry the cause chain (STYLE: log an error once, where handled, with its sources),
//! and the innermost cause is often an SDK's error, whose text can quote the request it
//! failed on: an SNS "Invalid parameter: PhoneNumber Reason: +15551234567 is not valid"
//! would put a customer's number in CloudWatch. Every binary formats errors for logs with
//! [`chain`], which masks anything shaped like an E.164 number the way [`PhoneNumber`]
//! masks itself.
//!
//! [`PhoneNumber`]: crate::PhoneNumber

use std::error::Error;

/// The shortest run of digits after a `+` that is masked (E.164 numbers are 8–15 digits
/// with the country code; shorter runs are not phone numbers).
const MIN_DIGITS: usize = 7;
/// The longest (E.164's limit).
const MAX_DIGITS: usize = 15;
/// Digits kept at the end, as `PhoneNumber::masked` keeps them.
const KEEP_TAIL: usize = 4;

/// `error` and every cause below it, `a: b: c`, phone numbers masked. A cause that says
/// no more than the text before it ends with is left out: the AWS SDK's service errors
/// print their code and message, then return as their source an error that prints both
/// again.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let said = next.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = next.source();
    }
    mask_numbers(&text)
}

/// `text` with every `+` followed by 7 to 15 digits masked to `+1******4567` (the first
/// digit and the last four kept).
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('+') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if (MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
            let number = &after[..digits];
            out.push('+');
            out.push_str(&number[..1]);
            out.extend(std::iter::repeat_n('*', digits - 1 - KEEP_TAIL));
            out.push_str(&number[digits - KEEP_TAIL..]);
        } else {
            out.push('+');
            out.push_str(&after[..digits]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("sms request rejected as invalid")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("Invalid parameter: PhoneNumber Reason: +15551234567 is not valid")]
    struct Inner;

    #[test]
    fn the_chain_is_one_line_with_numbers_masked() {
        assert_eq!(
            chain(&Outer(Inner)),
            "sms request rejected as invalid: Invalid parameter: PhoneNumber Reason: \
             +1******4567 is not valid"
        );
    }

    /// As the SDK's service errors nest: `ServiceError` prints its code and message, and
    /// so does its source.
    #[derive(Debug, thiserror::Error)]
    #[error("store throttled the request")]
    struct Store(#[source] Service);

    #[derive(Debug, thiserror::Error)]
    #[error("ThrottlingException: slow down")]
    struct Service(#[source] Meta);

    #[derive(Debug, thiserror::Error)]
    #[error("ThrottlingException: slow down")]
    struct Meta;

    #[test]
    fn a_cause_that_repeats_the_text_before_it_is_left_out() {
        assert_eq!(
            chain(&Store(Service(Meta))),
            "store throttled the request: ThrottlingException: slow down"
        );
    }

    #[test]
    fn only_number_shaped_runs_are_masked() {
        assert_eq!(
            mask_numbers("+447911123456 and +33612345678"),
            "+4*******3456 and +3******5678"
        );
        assert_eq!(
            mask_numbers("retry +1 of 3, +12345"),
            "retry +1 of 3, +12345"
        );
        assert_eq!(mask_numbers("a + b"), "a + b");
        assert_eq!(mask_numbers("+1234567890123456789"), "+1234567890123456789");
        assert_eq!(mask_numbers("no numbers"), "no numbers");
    }

    #[test]
    fn masking_agrees_with_phone_numbers_own() {
        let phone = crate::PhoneNumber::parse("+15550100123").unwrap();
        assert_eq!(mask_numbers(phone.as_e164()), phone.masked());
    }
}
