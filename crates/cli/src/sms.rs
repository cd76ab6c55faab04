//! `bridge sms`: one text from a customer, through the inbound handler, in-process.
//!
//! The text is wrapped as End User Messaging publishes it (a two-way payload with a fresh
//! `inboundMessageId`) inside an SNS event, as Lambda would receive it, and handed to the
//! same `Handler` the Lambda runs, against the configured services.

use std::process::ExitCode;

use anyhow::Context as _;
use bridge_core::PhoneNumber;
use bridge_inbound::{DropReason, Outcome, RejectReason};

use crate::config::{StackArgs, local, phone};
use crate::stack::{Stack, typed_sms_event};

/// `bridge sms` flags.
#[derive(Debug, clap::Args)]
pub struct SmsArgs {
    /// The customer's number (E.164).
    #[arg(long, value_parser = phone)]
    pub from: PhoneNumber,
    /// The support line texted (E.164).
    #[arg(long, value_parser = phone, default_value = local::SUPPORT_NUMBER)]
    pub to: PhoneNumber,
    /// Print the handler's summary as JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// The text.
    pub text: String,
}

/// Runs `bridge sms`: exit 0 when the text was delivered or answered as a keyword.
///
/// # Errors
/// Configuration errors, and a handler failure (with its cause chain).
pub async fn run(stack_args: &StackArgs, args: SmsArgs) -> anyhow::Result<ExitCode> {
    let stack = Stack::build(stack_args).await?;
    let event = typed_sms_event(&args.from, &args.to, &args.text);
    let summary = stack
        .handler
        .handle_event(event)
        .await
        .context("the inbound handler failed")?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).context("writing the summary")?
        );
    }
    let mut ok = true;
    for record in &summary.records {
        if !args.json {
            println!("{}", describe(&record.outcome));
        }
        ok &= !matches!(
            record.outcome,
            Outcome::Rejected { .. } | Outcome::Dropped { .. }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One sentence saying what the handler did with a text.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Delivered {
            contact_id,
            started: true,
        } => format!("delivered: started chat {contact_id}"),
        Outcome::Delivered {
            contact_id,
            started: false,
        } => format!("delivered to chat {contact_id}"),
        Outcome::Duplicate => "duplicate: already processed".to_owned(),
        Outcome::Rejected { reason } => format!("rejected: {}", reject_reason(reason)),
        Outcome::OptedOut { ended: Some(id) } => format!("opted out; chat {id} ended"),
        Outcome::OptedOut { ended: None } => "opted out".to_owned(),
        Outcome::OptedIn => "opted back in".to_owned(),
        Outcome::Help => "help requested; the help text was sent".to_owned(),
        Outcome::Suppressed => "not forwarded: the customer is opted out".to_owned(),
        Outcome::Dropped { contact_id, reason } => format!(
            "dropped: chat {contact_id} refused it ({})",
            match reason {
                DropReason::RejectedByConnect => "rejected by connect",
            }
        ),
        Outcome::Receipt(receipt) => match receipt.contact_id() {
            Some(contact_id) => {
                format!("delivery event: {} in chat {contact_id}", receipt.as_str())
            }
            None => format!("delivery event: {}", receipt.as_str()),
        },
    }
}

/// A rejection reason as `kind` or `kind (field)`.
pub fn reject_reason(reason: &RejectReason) -> String {
    match reason {
        RejectReason::Malformed {
            kind,
            field: Some(field),
        } => format!("{kind} ({field})"),
        RejectReason::Malformed { kind, field: None } => (*kind).to_owned(),
        RejectReason::EmptyBody => "empty_body".to_owned(),
        RejectReason::UnknownSupportNumber => "unknown_support_number".to_owned(),
    }
}
