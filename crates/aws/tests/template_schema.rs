//! The SAM template's table (`infra/template.yaml`) and the table the bridge creates locally
//! ([`bridge_aws::dynamo::SCHEMA`], used by `create_table`) must be the same table: same
//! attribute definitions, keys, `active_by_shard` index and TTL attribute. A change on
//! either side alone fails here.
//!
//! The template is CloudFormation YAML with short-form tags (`!Ref`, `!Sub`…);
//! `serde_yaml_ng` keeps those as tagged values. The table's schema properties must be plain
//! literals: a tag there would hide the value from this comparison, and is reported.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bridge_aws::dynamo::SCHEMA;
use bridge_aws::dynamo::schema::{IndexSchema, KeyAttribute};
use serde_yaml_ng::Value;

const TABLE_TYPE: &str = "AWS::DynamoDB::Table";

/// What a table declaration says about the schema, in one comparable shape.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    billing_mode: String,
    /// Attribute name → `S`/`N`/`B`.
    attributes: BTreeMap<String, String>,
    /// `HASH`/`RANGE` → attribute name.
    keys: BTreeMap<String, String>,
    /// Index name → its shape.
    indexes: BTreeMap<String, IndexShape>,
    /// The TTL attribute, when TTL is enabled.
    ttl_attribute: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct IndexShape {
    keys: BTreeMap<String, String>,
    projection: String,
    non_key_attributes: Vec<String>,
}

/// The shape `dynamo::schema` describes.
fn expected() -> TableShape {
    let keys = |partition: KeyAttribute, sort: KeyAttribute| {
        BTreeMap::from([
            ("HASH".to_owned(), partition.name.to_owned()),
            ("RANGE".to_owned(), sort.name.to_owned()),
        ])
    };
    let index: IndexSchema = SCHEMA.active_by_shard;
    TableShape {
        billing_mode: SCHEMA.billing_mode.to_owned(),
        attributes: SCHEMA
            .attribute_definitions()
            .into_iter()
            .map(|attribute| {
                (
                    attribute.name.to_owned(),
                    attribute.key_type.as_str().to_owned(),
                )
            })
            .collect(),
        keys: keys(SCHEMA.partition_key, SCHEMA.sort_key),
        indexes: BTreeMap::from([(
            index.name.to_owned(),
            IndexShape {
                keys: keys(index.partition_key, index.sort_key),
                projection: index.projection.as_str().to_owned(),
                non_key_attributes: Vec::new(),
            },
        )]),
        ttl_attribute: Some(SCHEMA.ttl_attribute.to_owned()),
    }
}

fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml")
}

/// The shape of the one `AWS::DynamoDB::Table` in `template`.
fn declared(template: &str) -> Result<TableShape, String> {
    let document: Value =
        serde_yaml_ng::from_str(template).map_err(|e| format!("template is not YAML: {e}"))?;
    let resources = document
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or("template has no Resources mapping")?;
    let tables: Vec<(&Value, &Value)> = resources
        .iter()
        .filter(|(_, resource)| resource.get("Type").and_then(Value::as_str) == Some(TABLE_TYPE))
        .collect();
    let [(name, table)] = tables.as_slice() else {
        return Err(format!("expected one {TABLE_TYPE}, found {}", tables.len()));
    };
    let properties = table
        .get("Properties")
        .ok_or_else(|| format!("{name:?} has no Properties"))?;
    let ttl = properties
        .get("TimeToLiveSpecification")
        .ok_or("table has no TimeToLiveSpecification")?;
    let ttl_attribute = match ttl.get("Enabled").map(literal_bool).transpose()? {
        Some(true) => Some(text(ttl, "AttributeName")?),
        _ => None,
    };
    Ok(TableShape {
        billing_mode: text(properties, "BillingMode")?,
        attributes: pairs(
            properties,
            "AttributeDefinitions",
            "AttributeName",
            "AttributeType",
        )?,
        keys: key_schema(properties)?,
        indexes: sequence(properties, "GlobalSecondaryIndexes")?
            .iter()
            .map(|index| {
                let projection = index.get("Projection").ok_or("index has no Projection")?;
                let non_key_attributes = match projection.get("NonKeyAttributes") {
                    None => Vec::new(),
                    Some(_) => sequence(projection, "NonKeyAttributes")?
                        .iter()
                        .map(|attribute| literal_str(attribute).map(str::to_owned))
                        .collect::<Result<_, _>>()?,
                };
                let shape = IndexShape {
                    keys: key_schema(index)?,
                    projection: text(projection, "ProjectionType")?,
                    non_key_attributes,
                };
                Ok((text(index, "IndexName")?, shape))
            })
            .collect::<Result<_, String>>()?,
        ttl_attribute,
    })
}

fn key_schema(parent: &Value) -> Result<BTreeMap<String, String>, String> {
    // Keyed by KeyType: the attribute name is the value.
    pairs(parent, "KeySchema", "KeyType", "AttributeName")
}

/// `parent[field]` as a sequence of mappings, folded into `key → value`; a repeated key is
/// an error (two HASH keys, one attribute defined twice).
fn pairs(
    parent: &Value,
    field: &str,
    key: &str,
    value: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for entry in sequence(parent, field)? {
        let k = text(entry, key)?;
        if map.insert(k.clone(), text(entry, value)?).is_some() {
            return Err(format!("{field} names {k} twice"));
        }
    }
    Ok(map)
}

fn sequence<'a>(parent: &'a Value, field: &str) -> Result<&'a Vec<Value>, String> {
    parent
        .get(field)
        .ok_or_else(|| format!("missing {field}"))?
        .as_sequence()
        .ok_or_else(|| format!("{field} is not a list"))
}

fn text(parent: &Value, field: &str) -> Result<String, String> {
    let value = parent
        .get(field)
        .ok_or_else(|| format!("missing {field}"))?;
    literal_str(value)
        .map(str::to_owned)
        .map_err(|e| format!("{field}: {e}"))
}

fn literal_str(value: &Value) -> Result<&str, String> {
    match value {
        Value::String(text) => Ok(text),
        Value::Tagged(tagged) => Err(format!("{} instead of a literal", tagged.tag)),
        other => Err(format!("{other:?} is not a string")),
    }
}

fn literal_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        // CloudFormation also accepts the strings "true"/"false".
        Value::String(text) if text == "true" || text == "false" => Ok(text == "true"),
        other => Err(format!("Enabled: {other:?} is not a boolean")),
    }
}

fn template() -> String {
    let path = template_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn template_declares_the_table_the_schema_describes() {
    assert_eq!(declared(&template()), Ok(expected()));
}

#[test]
fn comparison_notices_a_changed_template() {
    // GIVEN the real template with one schema detail changed at a time
    let original = template();
    let changes = [
        ("AttributeName: ttl", "AttributeName: expires_at"),
        ("IndexName: active_by_shard", "IndexName: live_by_shard"),
        ("ProjectionType: ALL", "ProjectionType: KEYS_ONLY"),
        (
            "{ AttributeName: active_shard, AttributeType: N }",
            "{ AttributeName: active_shard, AttributeType: S }",
        ),
        (
            "{ AttributeName: active_shard, KeyType: HASH }",
            "{ AttributeName: shard, KeyType: HASH }",
        ),
    ];
    for (from, to) in changes {
        assert_eq!(
            original.matches(from).count(),
            1,
            "{from:?} no longer in the template"
        );
        // WHEN it is compared with the schema
        let changed = declared(&original.replacen(from, to, 1));
        // THEN the difference is seen
        assert_ne!(changed, Ok(expected()), "changing {from:?} went unnoticed");
    }
}

#[test]
fn tags_in_the_schema_are_reported_not_skipped() {
    let tagged = template().replacen("BillingMode: PAY_PER_REQUEST", "BillingMode: !Ref Mode", 1);
    let error = declared(&tagged).unwrap_err();
    assert!(error.contains("!Ref"), "{error}");
}
