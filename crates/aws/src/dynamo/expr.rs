//! Builds update and condition expressions with every attribute name aliased.
//!
//! Several of our attribute names are DynamoDB reserved words (`status`, `ttl`, `owner`…),
//! so every name goes through a `#name` placeholder and every value through a `:name`
//! one. Only placeholders an expression uses are sent: DynamoDB rejects unused ones.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// `ExpressionAttributeNames`.
pub(super) type Names = HashMap<String, String>;
/// `ExpressionAttributeValues`.
pub(super) type Values = HashMap<String, AttributeValue>;

/// The pieces of one UpdateItem/PutItem/DeleteItem request's expressions.
#[derive(Debug, Default)]
pub(super) struct Expr {
    names: Names,
    values: Values,
    set: Vec<String>,
    remove: Vec<String>,
}

impl Expr {
    /// `#attr`, registered.
    pub(super) fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    /// `:label` bound to `value`.
    pub(super) fn value(&mut self, label: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{label}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET #attr = :attr`.
    pub(super) fn set(&mut self, attr: &str, value: AttributeValue) {
        let name = self.name(attr);
        let value = self.value(attr, value);
        self.set.push(format!("{name} = {value}"));
    }

    /// `SET #attr = <expression>` (e.g. `#version + :one`).
    pub(super) fn set_to(&mut self, attr: &str, expression: String) {
        let name = self.name(attr);
        self.set.push(format!("{name} = {expression}"));
    }

    /// `REMOVE #attr`.
    pub(super) fn remove(&mut self, attr: &str) {
        let name = self.name(attr);
        self.remove.push(name);
    }

    /// The update expression (`SET … REMOVE …`).
    pub(super) fn update_expression(&self) -> String {
        let mut clauses = Vec::with_capacity(2);
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        clauses.join(" ")
    }

    /// The placeholder maps, `None` when empty (DynamoDB rejects empty maps).
    pub(super) fn into_maps(self) -> (Option<Names>, Option<Values>) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (names, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_aliased_and_clauses_ordered() {
        let mut expr = Expr::default();
        expr.set("status", AttributeValue::S("active".into()));
        let version = expr.name("version");
        let one = expr.value("one", AttributeValue::N("1".into()));
        expr.set_to("version", format!("{version} + {one}"));
        expr.remove("active_shard");
        assert_eq!(
            expr.update_expression(),
            "SET #status = :status, #version = #version + :one REMOVE #active_shard"
        );
        let (names, values) = expr.into_maps();
        assert_eq!(names.unwrap().len(), 3);
        assert_eq!(values.unwrap().len(), 2);
    }

    #[test]
    fn empty_maps_are_omitted() {
        assert_eq!(Expr::default().into_maps(), (None, None));
    }
}
