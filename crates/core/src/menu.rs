//! Interactive messages as numbered SMS menus, and the customer's answers to them.
//!
//! Contact flows and bots send *interactive messages*: a template (list picker, quick
//! replies, time picker, panel, carousel) that a chat widget draws as buttons
//! (docs/connect-chat.md §4.4). A phone has no buttons. [`render`] writes the template as
//! a numbered menu that fits [`MAX_MENU_PARTS`] SMS, and returns its options, which the
//! relay stores on the session row with the cursor ([`MenuChange`]). When the customer's
//! next text is `2`, `#2` or an option's text, [`Menu::answer`] gives what Connect's own
//! chat widget sends for that choice, so a flow or bot that branches on the widget's
//! answer works unchanged over SMS. Any other text goes to the chat as written.
//!
//! Pure: no I/O. Rendering is lenient (a flow validated the template before Connect sent
//! it; whatever can be shown is shown), and returns `None` only when nothing can.

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::ids::ContactId;
use crate::render::normalise_for_gsm;
use crate::segment::{SegmentOptions, segment};

/// The most SMS parts a menu may take; a larger one is shortened, then cut to its title.
pub const MAX_MENU_PARTS: usize = 3;
/// Option labels are cut to this many characters when the full menu does not fit.
const SHORT_LABEL_CHARS: usize = 24;
/// A title is cut to the first of these lengths (in characters) that fits, when even the
/// short menu does not.
const FALLBACK_TITLE_CHARS: [usize; 3] = [120, 60, 30];

/// One choice of a menu as stored on the session row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuOption {
    /// What the customer saw (and may type back).
    pub text: String,
    /// What goes to the chat when the customer chooses it, as the widget sends it.
    pub reply: String,
}

/// The menu the customer was last sent in a chat, stored on the session row by the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    /// The chat whose interactive message this menu is; a menu of any other chat is stale.
    pub contact_id: ContactId,
    /// The options, in the order they were numbered (option 1 first).
    pub options: Vec<MenuOption>,
}

/// A text read as an answer to a menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The option's number, from 1.
    pub number: usize,
    /// What to send to the chat.
    pub reply: &'a str,
}

impl Menu {
    /// The option `text` chooses: its number (`2`, `#2`, `2.`, `2)`) or its text, case
    /// and surrounding space ignored. `None` for any other text, which is sent as written.
    pub fn answer(&self, text: &str) -> Option<Answer<'_>> {
        let text = text.trim();
        let digits = text
            .strip_prefix('#')
            .unwrap_or(text)
            .trim_end_matches(['.', ')'])
            .trim();
        let number = match digits.parse::<usize>() {
            Ok(number) if (1..=self.options.len()).contains(&number) => Some(number),
            _ => {
                let wanted = text.to_lowercase();
                self.options
                    .iter()
                    .position(|option| {
                        option.text.trim().to_lowercase() == wanted
                            || option.reply.trim().to_lowercase() == wanted
                    })
                    .map(|index| index + 1)
            }
        }?;
        Some(Answer {
            number,
            reply: &self.options[number - 1].reply,
        })
    }

    /// The stored form (a JSON string attribute).
    pub fn to_json(&self) -> String {
        // INVARIANT: a struct of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the stored form.
    ///
    /// # Errors
    /// The text is not a stored menu.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// What delivering one agent or bot item does to the session's open menu; written with
/// the relay's cursor, so it costs no call of its own.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum MenuChange {
    /// Leave it (a notice of the bridge's own, an event, another chat's item).
    #[default]
    Keep,
    /// This interactive message is the open menu now.
    Open(Vec<MenuOption>),
    /// An agent or bot wrote something else: the menu before it has expired.
    Close,
}

/// An interactive message as it goes out: the SMS text and the options it numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The menu text, before normalisation and segmentation.
    pub text: String,
    /// The numbered options (empty when the template offers no choice).
    pub options: Vec<MenuOption>,
}

/// Renders an interactive message's content as an SMS menu of at most [`MAX_MENU_PARTS`]
/// parts when segmented with `options`: in full; else without subtitles and details; else
/// with option labels cut short; else only the title, cut until it fits, and a prompt to
/// answer in words. The options are the same in every form, so a number or a text answers alike.
/// `None` when the content is not an interactive message with a title or a choice.
pub fn render(content: &str, options: &SegmentOptions) -> Option<Rendered> {
    let template = Template::parse(content)?;
    let fits =
        |text: &str| segment(&normalise_for_gsm(text), options).parts.len() <= MAX_MENU_PARTS;
    let text = [Form::Full, Form::Plain, Form::Short]
        .into_iter()
        .map(|form| template.text(form))
        .chain(FALLBACK_TITLE_CHARS.map(|max| template.fallback(max)))
        .find(|text| fits(text))
        .unwrap_or_else(|| template.fallback(0));
    Some(Rendered {
        text,
        options: template
            .choices
            .iter()
            .map(|choice| MenuOption {
                text: choice.label.clone(),
                reply: choice.reply.clone(),
            })
            .collect(),
    })
}

/// How much of a template a rendering shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Title, subtitle, every option with its detail, links.
    Full,
    /// Title and option labels.
    Plain,
    /// Title and option labels cut to [`SHORT_LABEL_CHARS`].
    Short,
}

/// A template reduced to what an SMS can show.
struct Template {
    title: String,
    subtitle: Option<String>,
    choices: Vec<Choice>,
    /// Hyperlink elements: shown, not numbered (the widget opens them; nothing is sent).
    links: Vec<(String, String)>,
}

/// One numbered choice.
struct Choice {
    /// The carousel card it belongs to, shown as a heading above its options.
    group: Option<String>,
    label: String,
    detail: Option<String>,
    reply: String,
}

impl Template {
    fn parse(content: &str) -> Option<Self> {
        let wire: Wire = serde_json::from_str(content).ok()?;
        let body = wire.data?.content?;
        let mut template = Self {
            title: clean(body.title.as_deref()).unwrap_or_default(),
            subtitle: clean(body.subtitle.as_deref()),
            choices: Vec::new(),
            links: Vec::new(),
        };
        match wire.template_type.as_deref() {
            Some("TimePicker") => {
                for slot in &body.timeslots {
                    if let Some(choice) = time_choice(slot) {
                        template.choices.push(choice);
                    }
                }
            }
            Some("Carousel") => {
                for card in &body.elements {
                    template.add_card(card);
                }
            }
            // ListPicker, QuickReply, Panel, and any template shaped like them.
            _ => template.add_elements(&body.elements, None),
        }
        (!template.title.is_empty() || !template.choices.is_empty()).then_some(template)
    }

    /// A carousel card: a nested list picker or panel; choosing one of its options sends
    /// the card and the option as JSON, as the widget does.
    fn add_card(&mut self, card: &Element) {
        let Some(body) = card.data.as_ref().and_then(|data| data.content.as_ref()) else {
            return;
        };
        let card_title = clean(body.title.as_deref());
        let identifier = card.template_identifier.as_deref();
        let from = self.choices.len();
        self.add_elements(&body.elements, card_title.clone());
        for choice in &mut self.choices[from..] {
            choice.reply = serde_json::json!({
                "templateIdentifier": identifier.unwrap_or_default(),
                "listTitle": card_title.as_deref().unwrap_or_default(),
                "selectionText": choice.reply,
            })
            .to_string();
        }
    }

    fn add_elements(&mut self, elements: &[Element], group: Option<String>) {
        for element in elements {
            let Some(title) = clean(element.title.as_deref()) else {
                continue;
            };
            if element.action_detail.is_some() {
                // "Show more" / "Previous options": the widget pages a long list; a text
                // message shows every option at once.
                continue;
            }
            if element.kind.as_deref() == Some("hyperlink") {
                if let Some(url) = clean(element.url.as_deref()) {
                    self.links.push((title, url));
                }
                continue;
            }
            self.choices.push(Choice {
                group: group.clone(),
                reply: element.title.clone().unwrap_or_default(),
                label: title,
                detail: clean(element.subtitle.as_deref()),
            });
        }
    }

    fn text(&self, form: Form) -> String {
        let mut lines = Vec::new();
        if !self.title.is_empty() {
            lines.push(self.title.clone());
        }
        if form == Form::Full
            && let Some(subtitle) = &self.subtitle
        {
            lines.push(subtitle.clone());
        }
        let mut group = None;
        for (index, choice) in self.choices.iter().enumerate() {
            if choice.group.is_some() && choice.group != group {
                group.clone_from(&choice.group);
                if let Some(heading) = &choice.group {
                    lines.push(format!("{heading}:"));
                }
            }
            let label = match form {
                Form::Short => cut(&choice.label, SHORT_LABEL_CHARS),
                Form::Full | Form::Plain => choice.label.clone(),
            };
            match (&choice.detail, form) {
                (Some(detail), Form::Full) => {
                    lines.push(format!("{}. {label} - {detail}", index + 1))
                }
                _ => lines.push(format!("{}. {label}", index + 1)),
            }
        }
        if form != Form::Short {
            for (title, url) in &self.links {
                lines.push(format!("{title}: {url}"));
            }
        }
        if let Some(prompt) = prompt(self.choices.len()) {
            lines.push(prompt);
        }
        lines.join("\n")
    }

    /// The title cut to `max_chars` and a prompt to answer in words: for a template no
    /// shortening fits.
    fn fallback(&self, max_chars: usize) -> String {
        let title = if max_chars == 0 {
            String::new()
        } else {
            cut(&self.title, max_chars)
        };
        match (title.is_empty(), self.choices.is_empty()) {
            (_, true) => title,
            (true, false) => "Please reply with your choice.".to_owned(),
            (false, false) => format!("{title}\nPlease reply with your choice."),
        }
    }
}

/// "Reply 1, 2 or 3."
fn prompt(choices: usize) -> Option<String> {
    match choices {
        0 => None,
        1 => Some("Reply 1.".to_owned()),
        2 => Some("Reply 1 or 2.".to_owned()),
        3 => Some("Reply 1, 2 or 3.".to_owned()),
        n => Some(format!("Reply a number from 1 to {n}.")),
    }
}

/// A time slot as a choice: shown as a date and time in the slot's own offset, answered
/// with the slot's `date` exactly as the template gave it, as the widget does.
fn time_choice(slot: &Timeslot) -> Option<Choice> {
    let date = slot.date.as_deref()?.trim();
    let at = parse_slot_time(date)?;
    let zone = match at.offset().local_minus_utc() {
        0 => "UTC".to_owned(),
        _ => format!("UTC{}", at.format("%:z")),
    };
    Some(Choice {
        group: None,
        label: format!("{} {zone}", at.format("%a %-d %b, %H:%M")),
        detail: slot
            .duration
            .filter(|minutes| *minutes > 0)
            .map(|minutes| format!("{minutes} min")),
        reply: date.to_owned(),
    })
}

/// Time slot dates come as `2020-10-31T17:00+00:00` (no seconds) or full RFC 3339.
fn parse_slot_time(date: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(date)
        .or_else(|_| DateTime::parse_from_str(date, "%Y-%m-%dT%H:%M%:z"))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M")
                .ok()
                .map(|naive| naive.and_utc().fixed_offset())
        })
}

/// Trimmed, with line breaks as spaces (one option per line); `None` when empty.
fn clean(text: Option<&str>) -> Option<String> {
    let text = text?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", text[..end].trim_end()),
        None => text.to_owned(),
    }
}

/// The wire shape of an interactive message (the fields an SMS can use).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    template_type: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    content: Option<Content>,
}

#[derive(Deserialize)]
struct Content {
    title: Option<String>,
    subtitle: Option<String>,
    #[serde(default)]
    elements: Vec<Element>,
    #[serde(default)]
    timeslots: Vec<Timeslot>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Element {
    title: Option<String>,
    subtitle: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    action_detail: Option<String>,
    /// Carousel cards: the nested template's id and body.
    template_identifier: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Timeslot {
    date: Option<String>,
    duration: Option<i64>,
}

#[cfg(test)]
mod tests;
