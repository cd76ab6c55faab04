//! Creates the table from [`super::schema::SCHEMA`]: used by tests, local bootstrap and
//! `bridge init-table`. Production tables come from the SAM template, which declares the
//! same schema (a test compares the two).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement,
    KeyType as SdkKeyType, Projection as SdkProjection, ProjectionType, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification,
};
use bridge_core::ports::BoxError;

use super::schema::{KeyAttribute, KeyType, Projection, SCHEMA};
use crate::error::{TableError, code_of, loggable};

/// How long a new table may take to become ACTIVE (seconds on AWS, instant locally).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often to look while waiting.
const ACTIVE_POLL: Duration = Duration::from_millis(500);

/// Creates the bridge's table `table_name` (on-demand billing, the `active_by_shard`
/// index) and enables TTL on `ttl`, waiting until the table is ACTIVE in between.
///
/// The table is encrypted at rest with DynamoDB's default key, as every table is.
///
/// # Errors
/// [`TableError::AlreadyExists`] when the name is taken (its schema is not checked);
/// [`TableError::NotActive`] when it stays CREATING too long; [`TableError::Request`]
/// when a call fails.
pub async fn create_table(client: &Client, table_name: &str) -> Result<(), TableError> {
    let request_error = |operation: &'static str| {
        let table = table_name.to_owned();
        move |source: BoxError| TableError::Request {
            operation,
            table,
            source,
        }
    };
    let definitions = SCHEMA
        .attribute_definitions()
        .into_iter()
        .map(|attribute| {
            AttributeDefinition::builder()
                .attribute_name(attribute.name)
                .attribute_type(scalar_type(attribute.key_type))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| request_error("CreateTable")(e.into()))?;
    let table_keys = key_schema(SCHEMA.partition_key, SCHEMA.sort_key)
        .map_err(|e| request_error("CreateTable")(e.into()))?;
    let index = SCHEMA.active_by_shard;
    let index = GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .set_key_schema(Some(
            key_schema(index.partition_key, index.sort_key)
                .map_err(|e| request_error("CreateTable")(e.into()))?,
        ))
        .projection(
            SdkProjection::builder()
                .projection_type(projection_type(index.projection))
                .build(),
        )
        .build()
        .map_err(|e| request_error("CreateTable")(e.into()))?;
    let created = client
        .create_table()
        .table_name(table_name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(table_keys))
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    if let Err(error) = created {
        if code_of(&error) == Some("ResourceInUseException") {
            return Err(TableError::AlreadyExists {
                table: table_name.to_owned(),
            });
        }
        return Err(request_error("CreateTable")(loggable(error)));
    }
    wait_active(client, table_name).await?;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(SCHEMA.ttl_attribute)
        .build()
        .map_err(|e| request_error("UpdateTimeToLive")(e.into()))?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| request_error("UpdateTimeToLive")(loggable(e)))?;
    Ok(())
}

/// Waits until the table and its index are ACTIVE (UpdateTimeToLive needs that).
async fn wait_active(client: &Client, table_name: &str) -> Result<(), TableError> {
    let started = tokio::time::Instant::now();
    loop {
        let described = client
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(|error| TableError::Request {
                operation: "DescribeTable",
                table: table_name.to_owned(),
                source: loggable(error),
            })?;
        if let Some(table) = described.table() {
            let indexes_active = table
                .global_secondary_indexes()
                .iter()
                .all(|index| index.index_status() == Some(&IndexStatus::Active));
            if table.table_status() == Some(&TableStatus::Active) && indexes_active {
                return Ok(());
            }
        }
        if started.elapsed() >= ACTIVE_TIMEOUT {
            return Err(TableError::NotActive {
                table: table_name.to_owned(),
                waited_secs: ACTIVE_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(ACTIVE_POLL).await;
    }
}

fn key_schema(
    partition: KeyAttribute,
    sort: KeyAttribute,
) -> Result<Vec<KeySchemaElement>, aws_smithy_types::error::operation::BuildError> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(partition.name)
            .key_type(SdkKeyType::Hash)
            .build()?,
        KeySchemaElement::builder()
            .attribute_name(sort.name)
            .key_type(SdkKeyType::Range)
            .build()?,
    ])
}

fn scalar_type(key_type: KeyType) -> ScalarAttributeType {
    match key_type {
        KeyType::String => ScalarAttributeType::S,
        KeyType::Number => ScalarAttributeType::N,
    }
}

fn projection_type(projection: Projection) -> ProjectionType {
    match projection {
        Projection::All => ProjectionType::All,
    }
}
