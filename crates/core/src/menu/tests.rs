//! Golden renderings of every template type, the SMS budget, and answers.

use serde_json::{Value, json};

use super::*;
use crate::segment::Encoding;

const PLAIN: SegmentOptions = SegmentOptions { numbering: false };

fn interactive(template_type: &str, content: Value) -> String {
    json!({"templateType": template_type, "version": "1.0", "data": {"content": content}})
        .to_string()
}

fn rendered(content: &str) -> Rendered {
    render(content, &PLAIN).expect("renders")
}

fn replies(rendered: &Rendered) -> Vec<&str> {
    rendered.options.iter().map(|o| o.reply.as_str()).collect()
}

fn parts(text: &str) -> crate::segment::Segmented {
    segment(&normalise_for_gsm(text), &PLAIN)
}

fn list_picker() -> String {
    interactive(
        "ListPicker",
        json!({
            "title": "What produce would you like to buy?",
            "subtitle": "Tap to select option",
            "imageType": "URL",
            "imageData": "https://example.com/fruit.jpg",
            "elements": [
                {"title": "Apple", "subtitle": "$1.00"},
                {"title": "Orange", "subtitle": "$1.50"},
                {"title": "Banana", "subtitle": "$10.00"}
            ]
        }),
    )
}

#[test]
fn a_list_picker_becomes_a_numbered_menu_with_subtitles() {
    let menu = rendered(&list_picker());
    assert_eq!(
        menu.text,
        "What produce would you like to buy?\nTap to select option\n1. Apple - $1.00\n\
         2. Orange - $1.50\n3. Banana - $10.00\nReply 1, 2 or 3."
    );
    assert_eq!(replies(&menu), ["Apple", "Orange", "Banana"]);
    assert_eq!(parts(&menu.text).encoding, Encoding::Gsm7);
}

#[test]
fn quick_replies_are_numbered_and_answer_with_their_title() {
    let menu = rendered(&interactive(
        "QuickReply",
        json!({"title": "How was your experience?", "elements": [
            {"title": "Very unsatisfied"}, {"title": "Satisfied"}
        ]}),
    ));
    assert_eq!(
        menu.text,
        "How was your experience?\n1. Very unsatisfied\n2. Satisfied\nReply 1 or 2."
    );
    assert_eq!(replies(&menu), ["Very unsatisfied", "Satisfied"]);
}

#[test]
fn a_panel_shows_its_options_and_its_links_unnumbered() {
    let menu = rendered(&interactive(
        "Panel",
        json!({"title": "How can I help you?", "subtitle": "Pick one", "elements": [
            {"title": "Talk to an agent"},
            {"title": "Check order status"},
            {"title": "Our prices", "type": "hyperlink", "url": "https://example.com/prices"},
            {"title": "Cancel order"},
            {"title": "Show more", "actionDetail": "SHOW_MORE"}
        ]}),
    ));
    assert_eq!(
        menu.text,
        "How can I help you?\nPick one\n1. Talk to an agent\n2. Check order status\n\
         3. Cancel order\nOur prices: https://example.com/prices\nReply 1, 2 or 3."
    );
    assert_eq!(
        replies(&menu),
        ["Talk to an agent", "Check order status", "Cancel order"]
    );
}

#[test]
fn a_time_picker_shows_each_slot_in_its_offset_and_answers_with_the_date_as_given() {
    let menu = rendered(&interactive(
        "TimePicker",
        json!({"title": "Schedule appointment", "subtitle": "Tap to select", "timeZoneOffset": -450,
        "timeslots": [
            {"date": "2020-10-31T17:00+00:00", "duration": 60},
            {"date": "2020-11-02T09:30+05:30", "duration": 30},
            {"date": "2020-11-03T08:00:00-05:00", "duration": 45},
            {"date": "not a date", "duration": 45}
        ]}),
    ));
    assert_eq!(
        menu.text,
        "Schedule appointment\nTap to select\n1. Sat 31 Oct, 17:00 UTC - 60 min\n\
         2. Mon 2 Nov, 09:30 UTC+05:30 - 30 min\n3. Tue 3 Nov, 08:00 UTC-05:00 - 45 min\n\
         Reply 1, 2 or 3."
    );
    assert_eq!(
        replies(&menu),
        [
            "2020-10-31T17:00+00:00",
            "2020-11-02T09:30+05:30",
            "2020-11-03T08:00:00-05:00"
        ]
    );
}

fn carousel() -> String {
    let card = |id: &str, title: &str, options: &[&str]| {
        json!({"templateType": "Panel", "templateIdentifier": id, "version": "1.0",
            "data": {"content": {"title": title,
                "elements": options.iter().map(|o| json!({"title": o})).collect::<Vec<_>>()}}})
    };
    interactive(
        "Carousel",
        json!({"title": "Our hotels", "elements": [
            card("card-1", "Seaside", &["Book", "Learn more"]),
            card("card-2", "Downtown", &["Book"])
        ]}),
    )
}

#[test]
fn a_carousel_numbers_options_across_its_cards_and_answers_as_the_widget_does() {
    let menu = rendered(&carousel());
    assert_eq!(
        menu.text,
        "Our hotels\nSeaside:\n1. Book\n2. Learn more\nDowntown:\n3. Book\nReply 1, 2 or 3."
    );
    let reply: Value = serde_json::from_str(&menu.options[2].reply).unwrap();
    assert_eq!(
        reply,
        json!({"templateIdentifier": "card-2", "listTitle": "Downtown", "selectionText": "Book"})
    );
}

#[test]
fn a_menu_in_ucs2_is_measured_in_ucs2_parts() {
    let menu = rendered(&interactive(
        "QuickReply",
        json!({"title": "Как вам наш сервис?", "elements": [
            {"title": "Отлично"}, {"title": "Плохо"}
        ]}),
    ));
    assert_eq!(
        menu.text,
        "Как вам наш сервис?\n1. Отлично\n2. Плохо\nReply 1 or 2."
    );
    let segmented = parts(&menu.text);
    assert_eq!(segmented.encoding, Encoding::Ucs2);
    assert_eq!(segmented.parts.len(), 1);
}

#[test]
fn a_long_ucs2_menu_drops_details_to_fit_the_budget() {
    let elements: Vec<Value> = (1..=6)
        .map(|n| json!({"title": format!("Вариант номер {n}"), "subtitle": "подробное описание варианта"}))
        .collect();
    let menu = rendered(&interactive(
        "ListPicker",
        json!({"title": "Выберите", "subtitle": "пожалуйста", "elements": elements}),
    ));
    assert!(!menu.text.contains("описание"), "{}", menu.text);
    assert!(menu.text.starts_with("Выберите\n1. Вариант номер 1\n"));
    assert!(
        menu.text
            .ends_with("6. Вариант номер 6\nReply a number from 1 to 6.")
    );
    assert!(parts(&menu.text).parts.len() <= MAX_MENU_PARTS);
}

#[test]
fn long_labels_are_cut_when_plain_labels_do_not_fit() {
    let long = "a very long option label that goes on and on well past any sms budget ".repeat(2);
    let elements: Vec<Value> = (1..=6)
        .map(|n| json!({"title": format!("{n} {long}")}))
        .collect();
    let menu = rendered(&interactive(
        "ListPicker",
        json!({"title": "Pick", "elements": elements}),
    ));
    assert!(
        menu.text.contains("\n1. 1 a very long option lab...\n"),
        "{}",
        menu.text
    );
    assert!(parts(&menu.text).parts.len() <= MAX_MENU_PARTS);
    assert_eq!(
        menu.options[0].reply,
        format!("1 {long}"),
        "the reply is the full title"
    );
}

#[test]
fn a_template_too_large_for_sms_degrades_to_its_title_and_a_prompt() {
    let title = "T".repeat(400);
    let elements: Vec<Value> = (1..=10)
        .map(|n| json!({"title": format!("Option {n} ").repeat(5)}))
        .collect();
    let menu = rendered(&interactive(
        "Panel",
        json!({"title": title, "elements": elements}),
    ));
    assert_eq!(
        menu.text,
        format!("{}...\nPlease reply with your choice.", "T".repeat(120))
    );
    assert_eq!(menu.options.len(), 10, "text answers still match");
    assert!(parts(&menu.text).parts.len() <= MAX_MENU_PARTS);
}

#[test]
fn numbering_markers_count_against_the_budget() {
    // Some menu fits three parts in full without "(i/3) " markers and not with them.
    let differs = (30..80).any(|detail_chars| {
        let elements: Vec<Value> = (1..=6)
            .map(|n| json!({"title": format!("Option {n}"), "subtitle": "x".repeat(detail_chars)}))
            .collect();
        let content = interactive("ListPicker", json!({"title": "Pick", "elements": elements}));
        let plain = render(&content, &PLAIN).unwrap();
        let numbered = render(&content, &SegmentOptions { numbering: true }).unwrap();
        plain.text.contains(" - xxx") && !numbered.text.contains(" - xxx")
    });
    assert!(differs);
}

#[test]
fn content_that_is_not_a_template_does_not_render() {
    for content in [
        "",
        "not json",
        "{}",
        r#"{"data":{"content":{"elements":[]}}}"#,
    ] {
        assert_eq!(render(content, &PLAIN), None, "{content:?}");
    }
}

fn menu() -> Menu {
    let rendered = rendered(&list_picker());
    Menu {
        contact_id: ContactId::new("c-1").unwrap(),
        options: rendered.options,
    }
}

#[test]
fn a_number_in_any_usual_form_chooses_its_option() {
    let menu = menu();
    for text in ["2", " 2 ", "#2", "2.", "2)", "# 2"] {
        assert_eq!(
            menu.answer(text),
            Some(Answer {
                number: 2,
                reply: "Orange"
            }),
            "{text:?}"
        );
    }
}

#[test]
fn an_options_text_chooses_it_whatever_its_case() {
    assert_eq!(menu().answer("  banana ").map(|a| a.number), Some(3));
    assert_eq!(menu().answer("APPLE").map(|a| a.reply), Some("Apple"));
}

#[test]
fn other_texts_are_not_answers() {
    let menu = menu();
    for text in [
        "0",
        "4",
        "-1",
        "2 please",
        "I want an apple",
        "",
        "##2",
        "1.5",
    ] {
        assert_eq!(menu.answer(text), None, "{text:?}");
    }
}

#[test]
fn a_menu_survives_its_stored_form() {
    let menu = menu();
    assert_eq!(Menu::from_json(&menu.to_json()).unwrap(), menu);
    assert!(Menu::from_json("{\"options\":[]}").is_err());
}

mod budget {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a template holds, its menu fits the budget and numbers every choice.
        #[test]
        fn every_menu_fits_the_budget(
            title in "\\PC{0,400}",
            labels in proptest::collection::vec("\\PC{1,200}", 1..=10),
            numbering in any::<bool>(),
        ) {
            let elements: Vec<Value> = labels.iter().map(|l| json!({"title": l, "subtitle": l})).collect();
            let content = interactive("Panel", json!({"title": title, "elements": elements}));
            let options = SegmentOptions { numbering };
            if let Some(menu) = render(&content, &options) {
                prop_assert!(segment(&normalise_for_gsm(&menu.text), &options).parts.len() <= MAX_MENU_PARTS);
                let stored = menu_of(&menu);
                for (index, option) in menu.options.iter().enumerate() {
                    let number = (index + 1).to_string();
                    prop_assert_eq!(stored.answer(&number).map(|a| a.reply), Some(option.reply.as_str()));
                }
            }
        }
    }

    fn menu_of(rendered: &Rendered) -> Menu {
        Menu {
            contact_id: ContactId::new("c").unwrap(),
            options: rendered.options.clone(),
        }
    }
}
