//! The template's relay metrics are the relay's own: every metric filter on the relay's log
//! group that reads the once-a-minute report (crates/relay/src/report.rs) matches its
//! message and reads one of its fields, and every field the alarms need has a filter and an
//! alarm. A renamed field would otherwise leave an alarm silently without data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use bridge_relay::report::{FIELDS, MESSAGE};
use serde_yaml_ng::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The value of a `!Ref X` tag (or a plain string).
fn reference(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str().unwrap_or_default().to_owned(),
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn every_relay_metric_filter_reads_a_field_of_the_report_line() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut read = BTreeSet::new();
    let mut metrics = BTreeSet::new();
    for (_, resource) in resources {
        if resource["Type"] != "AWS::Logs::MetricFilter" {
            continue;
        }
        let properties = &resource["Properties"];
        let pattern = properties["FilterPattern"].as_str().unwrap();
        if reference(&properties["LogGroupName"]) != "RelayLogGroup"
            || !pattern.contains("$.fields.message")
        {
            continue;
        }
        assert_eq!(pattern, format!("{{ $.fields.message = \"{MESSAGE}\" }}"));
        for transformation in properties["MetricTransformations"].as_sequence().unwrap() {
            let value = transformation["MetricValue"].as_str().unwrap();
            let field = value.strip_prefix("$.fields.").expect("reads a field");
            assert!(
                FIELDS.contains(&field),
                "{field} is not a field of the report line"
            );
            read.insert(field.to_owned());
            metrics.insert(transformation["MetricName"].as_str().unwrap().to_owned());
        }
    }
    // The fields the alarms need are all read.
    for needed in [
        "replies_lost",
        "reconnects",
        "over_capacity",
        "shards_unowned",
        "live_instances",
    ] {
        assert!(read.contains(needed), "no metric filter reads {needed}");
    }
    // And each metric has an alarm.
    let alarmed: BTreeSet<String> = resources
        .values()
        .filter(|resource| resource["Type"] == "AWS::CloudWatch::Alarm")
        .filter_map(|resource| resource["Properties"]["MetricName"].as_str())
        .map(str::to_owned)
        .collect();
    for metric in &metrics {
        assert!(alarmed.contains(metric), "no alarm on {metric}");
    }
}
