//! `bridge-inbound`: the Lambda that turns each inbound SMS into a message in the right
//! Amazon Connect chat. Status: parsing only; the handler lands with issue 5.

use aws_lambda_events::event::sns::SnsEvent;
use bridge_core::inbound::{InboundRecord, RecordError, parse_sns_event};

/// Parses every record of an SNS event, one result per record in order.
pub fn parse_records(event: &SnsEvent) -> Vec<Result<InboundRecord, RecordError>> {
    parse_sns_event(event)
}
