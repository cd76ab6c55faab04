//! Builds the SDK clients once per process from the standard AWS environment.

/// The SDK clients the bridge uses, built once from one shared configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    /// DynamoDB (session, dedupe and lease items).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SNS (outbound SMS).
    pub sns: aws_sdk_sns::Client,
    /// Amazon Connect admin API (StartChatContact, StopContact).
    pub connect: aws_sdk_connect::Client,
    /// Amazon Connect Participant Service (connections, messages, transcripts).
    pub participant: aws_sdk_connectparticipant::Client,
}

impl Clients {
    /// Loads the shared configuration and builds every client from it.
    pub async fn from_env() -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            sns: aws_sdk_sns::Client::new(&shared),
            connect: aws_sdk_connect::Client::new(&shared),
            participant: aws_sdk_connectparticipant::Client::new(&shared),
        }
    }
}
