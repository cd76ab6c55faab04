//! The web agent console served at `/`: one self-contained page (HTML, CSS and JS inline,
//! no build step) that polls the `/sim` control API every second.
//!
//! Stable hooks for tests and scripts: `#contacts` holds one `li.contact[data-contact-id]
//! [data-status]` per chat; `#transcript` holds `.item[data-item-id][data-role]` entries
//! with a `.content` child; `#reply`, `#send`, `#join`, `#end` and `#agent-name` are the
//! controls; `#menu` sends the reply box as an interactive message of the `#menu-type`
//! template (first line the title, each further line an option). `/#contact=<ContactId>` preselects a chat.

/// The page.
pub const PAGE: &str = include_str!("console.html");

#[cfg(test)]
mod tests {
    use super::PAGE;

    #[test]
    fn page_has_the_documented_hooks() {
        for hook in [
            r#"id="contacts""#,
            r#"id="transcript""#,
            r#"id="reply""#,
            r#"id="send""#,
            r#"id="end""#,
            r#"id="join""#,
            r#"id="menu""#,
            r#"id="menu-type""#,
            "dataset.contactId",
            "/sim/contacts",
        ] {
            assert!(PAGE.contains(hook), "console page lacks {hook}");
        }
    }
}
