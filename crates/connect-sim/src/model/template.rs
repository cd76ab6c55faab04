//! The interactive message templates a contact flow accepts (docs/connect-chat.md §4.4):
//! the shape of each template type and the limits on its strings and elements. Connect's
//! SendMessage checks only an interactive message's size; the flow block that sends one
//! refuses a template that breaks these rules, and so does the agent control API here.

use serde_json::{Map, Value};

/// The longest title or subtitle, in characters.
const MAX_TITLE_CHARS: usize = 400;
/// The longest quick reply option, in characters.
const MAX_QUICK_REPLY_CHARS: usize = 200;
/// The most time slots a time picker offers.
const MAX_TIMESLOTS: usize = 20;

/// Checks `content` is an interactive message a flow would send.
///
/// # Errors
/// What is wrong with it, for a ValidationException.
pub fn check(content: &str) -> Result<(), String> {
    let value: Value =
        serde_json::from_str(content).map_err(|_| "content is not JSON".to_owned())?;
    check_template(&value, false)
}

fn check_template(value: &Value, in_carousel: bool) -> Result<(), String> {
    let template = value
        .as_object()
        .ok_or("a template must be a JSON object")?;
    let kind = template
        .get("templateType")
        .and_then(Value::as_str)
        .ok_or("templateType is required")?;
    if template.get("version").and_then(Value::as_str) != Some("1.0") {
        return Err("version must be \"1.0\"".to_owned());
    }
    let content = template
        .get("data")
        .and_then(|data| data.get("content"))
        .and_then(Value::as_object)
        .ok_or("data.content is required")?;
    text(content, "title", MAX_TITLE_CHARS, true)?;
    text(content, "subtitle", MAX_TITLE_CHARS, false)?;
    match (kind, in_carousel) {
        ("ListPicker", _) => elements(content, 1..=6, MAX_TITLE_CHARS),
        ("Panel", _) => elements(content, 1..=10, MAX_TITLE_CHARS),
        ("QuickReply", false) => elements(content, 1..=5, MAX_QUICK_REPLY_CHARS),
        ("TimePicker", false) => timeslots(content),
        ("Carousel", false) => {
            let cards = list(content, "elements", 1..=5)?;
            cards.iter().try_for_each(|card| {
                check_template(card, true).map_err(|error| format!("carousel card: {error}"))
            })
        }
        (_, true) => Err(format!(
            "a carousel card must be a ListPicker or Panel, not {kind}"
        )),
        _ => Err(format!("unknown templateType {kind:?}")),
    }
}

fn text(
    object: &Map<String, Value>,
    field: &str,
    max: usize,
    required: bool,
) -> Result<(), String> {
    match object.get(field) {
        None if !required => Ok(()),
        None => Err(format!("{field} is required")),
        Some(Value::String(text)) if text.trim().is_empty() && required => {
            Err(format!("{field} must not be empty"))
        }
        Some(Value::String(text)) if text.chars().count() > max => {
            Err(format!("{field} is longer than {max} characters"))
        }
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn list<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    count: std::ops::RangeInclusive<usize>,
) -> Result<&'a Vec<Value>, String> {
    let items = object
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{field} is required"))?;
    if !count.contains(&items.len()) {
        return Err(format!(
            "{field} must hold {} to {} items, not {}",
            count.start(),
            count.end(),
            items.len()
        ));
    }
    Ok(items)
}

fn elements(
    content: &Map<String, Value>,
    count: std::ops::RangeInclusive<usize>,
    max_title: usize,
) -> Result<(), String> {
    for element in list(content, "elements", count)? {
        let element = element.as_object().ok_or("an element must be an object")?;
        text(element, "title", max_title, true)?;
        text(element, "subtitle", MAX_TITLE_CHARS, false)?;
    }
    Ok(())
}

fn timeslots(content: &Map<String, Value>) -> Result<(), String> {
    for slot in list(content, "timeslots", 1..=MAX_TIMESLOTS)? {
        let date = slot
            .get("date")
            .and_then(Value::as_str)
            .ok_or("a timeslot needs a date")?;
        let parsed = chrono::DateTime::parse_from_rfc3339(date)
            .or_else(|_| chrono::DateTime::parse_from_str(date, "%Y-%m-%dT%H:%M%:z"));
        if parsed.is_err() {
            return Err(format!("timeslot date {date:?} is not an ISO 8601 time"));
        }
        if slot
            .get("duration")
            .and_then(Value::as_u64)
            .is_none_or(|minutes| minutes == 0)
        {
            return Err("a timeslot needs a duration in minutes".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(kind: &str, content: Value) -> String {
        json!({"templateType": kind, "version": "1.0", "data": {"content": content}}).to_string()
    }

    fn options(n: usize) -> Vec<Value> {
        (1..=n)
            .map(|i| json!({"title": format!("Option {i}")}))
            .collect()
    }

    #[test]
    fn every_template_type_is_accepted_in_its_documented_shape() {
        let card = json!({"templateType": "Panel", "templateIdentifier": "c1", "version": "1.0",
            "data": {"content": {"title": "Card", "elements": options(2)}}});
        for content in [
            template(
                "ListPicker",
                json!({"title": "t", "subtitle": "s", "elements": options(6)}),
            ),
            template("Panel", json!({"title": "t", "elements": options(10)})),
            template("QuickReply", json!({"title": "t", "elements": options(5)})),
            template(
                "TimePicker",
                json!({"title": "t", "timeslots": [
                {"date": "2020-10-31T17:00+00:00", "duration": 60}]}),
            ),
            template("Carousel", json!({"title": "t", "elements": [card]})),
        ] {
            assert_eq!(check(&content), Ok(()), "{content}");
        }
    }

    #[test]
    fn templates_breaking_the_rules_are_refused_with_the_reason() {
        for (content, reason) in [
            ("{}".to_owned(), "templateType is required"),
            ("[1]".to_owned(), "a template must be a JSON object"),
            (template("Menu", json!({"title": "t"})), "unknown templateType"),
            (template("ListPicker", json!({"elements": options(1)})), "title is required"),
            (template("ListPicker", json!({"title": " ", "elements": options(1)})), "title must not be empty"),
            (template("ListPicker", json!({"title": "t", "elements": options(7)})), "elements must hold 1 to 6 items, not 7"),
            (template("Panel", json!({"title": "t", "elements": []})), "elements must hold 1 to 10"),
            (template("QuickReply", json!({"title": "t", "elements": [{"title": "x".repeat(201)}]})), "title is longer than 200"),
            (template("ListPicker", json!({"title": "x".repeat(401), "elements": options(1)})), "title is longer than 400"),
            (template("TimePicker", json!({"title": "t", "timeslots": [{"date": "tomorrow", "duration": 60}]})), "is not an ISO 8601 time"),
            (template("TimePicker", json!({"title": "t", "timeslots": [{"date": "2020-10-31T17:00+00:00"}]})), "needs a duration"),
            (template("Carousel", json!({"title": "t", "elements": [
                {"templateType": "QuickReply", "version": "1.0", "data": {"content": {"title": "c", "elements": options(1)}}}]})),
                "must be a ListPicker or Panel"),
            (json!({"templateType": "Panel", "version": "2.0", "data": {"content": {"title": "t"}}}).to_string(), "version must be"),
        ] {
            let error = check(&content).unwrap_err();
            assert!(error.contains(reason), "{content}: {error}");
        }
    }
}
