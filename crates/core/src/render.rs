//! Agent markdown → plain text suited to SMS.
//!
//! Agents (and bots) in Connect chat write markdown, but a phone shows every character
//! as typed. [`markdown_to_sms`] keeps what carries meaning and drops the syntax: emphasis
//! markers go, links keep their target visible, lists and quotes become line prefixes,
//! and whitespace is tidied, because every character of an SMS is billed.
//! [`normalise_for_gsm`] then swaps typographic punctuation for plain equivalents when
//! that alone keeps the text in the cheaper GSM-7 alphabet (see [`crate::segment`]).
//!
//! Pure text in, text out: no I/O, and no input makes it panic. Segmentation into SMS
//! parts is [`crate::segment`]'s job, not this module's.

use std::borrow::Cow;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

use crate::segment::is_gsm;

/// Renders agent markdown as plain text for SMS.
///
/// - Emphasis, strong and strikethrough lose their markers and keep their text.
/// - Links become `text (url)`, or just `url` when the text is the url (autolinks).
///   Images become `[image: alt] (url)`.
/// - Headings become their text on its own line, followed directly by the next block.
/// - List items become `- item` or `1. item`; each nesting level indents two spaces.
///   Block quotes are prefixed `> `. A rule becomes `---`.
/// - Inline code and code blocks are kept verbatim (fences dropped, line breaks kept).
/// - HTML passes through as text. Soft and hard line breaks both become a line break, so
///   the agent's lines survive.
/// - Blocks are separated by one blank line, except inside list items, where they follow
///   on the next line (paragraphs of a loose list keep their blank line).
/// - Whitespace: trailing whitespace is trimmed from every line, runs of blank lines
///   collapse to one, leading and trailing blank lines go, and tabs become spaces outside
///   code.
///
/// Text without markdown comes out unchanged apart from that whitespace tidying (and
/// whatever CommonMark itself reads as syntax, such as `*word*` or a leading `1.`).
pub fn markdown_to_sms(markdown: &str) -> String {
    let mut renderer = Renderer::default();
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        renderer.event(event);
    }
    tidy(&renderer.out)
}

/// A block that prefixes each of its lines.
enum Container {
    /// A block quote: `> `.
    Quote,
    /// A list item: its marker on the first line, two spaces on the others.
    Item { marker: String, written: bool },
}

/// A link or image whose text is being rendered; finished at its end tag.
struct Span<'a> {
    image: bool,
    dest: CowStr<'a>,
    /// Where the span's text starts in the output.
    text_start: usize,
}

#[derive(Clone, Copy)]
enum Tabs {
    Keep,
    ToSpace,
}

/// Walks pulldown-cmark events, writing lines with their container prefixes.
///
/// Separation between blocks is owed, not written: `pending` counts the newlines due
/// before the next content (capped at 2, one blank line), so closing tags never leave
/// trailing blank lines and the prefix of a blank line can be chosen once the next
/// content shows which containers it shares with the previous content.
#[derive(Default)]
struct Renderer<'a> {
    out: String,
    containers: Vec<Container>,
    /// The next number of each open list; `None` for bullet lists.
    lists: Vec<Option<u64>>,
    spans: Vec<Span<'a>>,
    in_code: bool,
    /// Some content has been written: separation before it is not owed.
    started: bool,
    /// The current line has its prefix.
    line_open: bool,
    pending: usize,
    /// How many containers stayed open since the last content: owed blank lines
    /// carry only their prefixes.
    shared_depth: usize,
}

impl<'a> Renderer<'a> {
    fn event(&mut self, event: Event<'a>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                let tabs = if self.in_code {
                    Tabs::Keep
                } else {
                    Tabs::ToSpace
                };
                self.write(&text, tabs);
            }
            Event::Code(code) => self.write(&code, Tabs::Keep),
            Event::InlineMath(math) | Event::DisplayMath(math) => self.write(&math, Tabs::Keep),
            Event::Html(html) | Event::InlineHtml(html) => self.write(&html, Tabs::ToSpace),
            Event::FootnoteReference(label) => self.write(&format!("[^{label}]"), Tabs::Keep),
            Event::SoftBreak | Event::HardBreak => self.newline(),
            Event::Rule => {
                self.owe(1);
                self.write("---", Tabs::Keep);
                self.owe_block_end();
            }
            Event::TaskListMarker(done) => {
                self.write(if done { "[x] " } else { "[ ] " }, Tabs::Keep);
            }
        }
    }

    fn start(&mut self, tag: Tag<'a>) {
        match tag {
            Tag::Paragraph | Tag::Heading { .. } | Tag::HtmlBlock => self.owe(1),
            Tag::CodeBlock(_) => {
                self.owe(1);
                self.in_code = true;
            }
            Tag::BlockQuote(_) => {
                self.owe(1);
                self.containers.push(Container::Quote);
            }
            Tag::List(first_number) => {
                self.owe(1);
                self.lists.push(first_number);
            }
            Tag::Item => {
                self.owe(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number = number.saturating_add(1);
                        marker
                    }
                    Some(None) | None => "- ".to_owned(),
                };
                self.containers.push(Container::Item {
                    marker,
                    written: false,
                });
            }
            Tag::Link { dest_url, .. } => self.open_span(false, dest_url),
            Tag::Image { dest_url, .. } => self.open_span(true, dest_url),
            // Not enabled in the parser options; rendered as plain lines if ever seen.
            Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Table(_)
            | Tag::TableHead
            | Tag::TableRow
            | Tag::MetadataBlock(_) => self.owe(1),
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::TableCell => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.owe(2),
            TagEnd::Heading(_) => self.owe(1),
            TagEnd::CodeBlock => {
                self.in_code = false;
                self.owe_block_end();
            }
            TagEnd::HtmlBlock => self.owe_block_end(),
            TagEnd::BlockQuote(_) => {
                self.pop_container();
                self.owe_block_end();
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.owe_block_end();
            }
            TagEnd::Item => {
                if matches!(
                    self.containers.last(),
                    Some(Container::Item { written: false, .. })
                ) {
                    // An empty item still shows its marker.
                    self.open_line();
                }
                self.pop_container();
                self.owe(1);
            }
            TagEnd::Link => self.close_link(),
            TagEnd::Image => self.close_image(),
            TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Table
            | TagEnd::TableHead
            | TagEnd::TableRow
            | TagEnd::MetadataBlock(_) => self.owe(1),
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::TableCell => {}
        }
    }

    fn open_span(&mut self, image: bool, dest: CowStr<'a>) {
        self.open_line();
        self.spans.push(Span {
            image,
            dest,
            text_start: self.out.len(),
        });
    }

    /// `text (url)`, or the url alone when the text says nothing more.
    fn close_link(&mut self) {
        let Some(span) = self.spans.pop().filter(|span| !span.image) else {
            return;
        };
        let dest: &str = &span.dest;
        let text = self.out.get(span.text_start..).unwrap_or_default();
        if dest.is_empty() || text == dest || dest.strip_prefix("mailto:") == Some(text) {
            return;
        }
        if text.trim().is_empty() {
            self.write(dest, Tabs::Keep);
        } else {
            self.write(&format!(" ({dest})"), Tabs::Keep);
        }
    }

    /// `[image: alt] (url)`; the alt text was written as it came and is wrapped here.
    fn close_image(&mut self) {
        let Some(span) = self.spans.pop().filter(|span| span.image) else {
            return;
        };
        let alt = if span.text_start <= self.out.len() && self.out.is_char_boundary(span.text_start)
        {
            self.out.split_off(span.text_start)
        } else {
            String::new()
        };
        let alt = alt.trim();
        let label = if alt.is_empty() {
            "[image]".to_owned()
        } else {
            format!("[image: {alt}]")
        };
        self.write(&label, Tabs::Keep);
        if !span.dest.is_empty() {
            self.write(&format!(" ({})", span.dest), Tabs::Keep);
        }
    }

    fn pop_container(&mut self) {
        self.containers.pop();
        self.shared_depth = self.shared_depth.min(self.containers.len());
    }

    /// Owes at least `newlines` line breaks before the next content.
    fn owe(&mut self, newlines: usize) {
        if self.started {
            self.pending = self.pending.max(newlines);
        }
    }

    /// A block ended: a blank line follows, unless we are directly inside a list item,
    /// where the next block or item follows on the next line.
    fn owe_block_end(&mut self) {
        let in_item = matches!(self.containers.last(), Some(Container::Item { .. }));
        self.owe(if in_item { 1 } else { 2 });
    }

    fn newline(&mut self) {
        if self.started {
            self.pending = (self.pending + 1).min(2);
        }
    }

    fn write(&mut self, text: &str, tabs: Tabs) {
        for (index, line) in text.split('\n').enumerate() {
            if index > 0 {
                self.newline();
            }
            if line.is_empty() {
                continue;
            }
            self.open_line();
            match tabs {
                Tabs::Keep => self.out.push_str(line),
                Tabs::ToSpace => self
                    .out
                    .extend(line.chars().map(|c| if c == '\t' { ' ' } else { c })),
            }
        }
    }

    /// Pays the owed newlines and writes the current line's prefix, if not done yet.
    fn open_line(&mut self) {
        if self.pending > 0 {
            let blank_line = self.blank_line_prefix();
            self.out.push('\n');
            for _ in 1..self.pending {
                self.out.push_str(&blank_line);
                self.out.push('\n');
            }
            self.pending = 0;
            self.line_open = false;
        }
        if !self.line_open {
            for container in &mut self.containers {
                match container {
                    Container::Quote => self.out.push_str("> "),
                    Container::Item { written: true, .. } => self.out.push_str("  "),
                    Container::Item { marker, written } => {
                        self.out.push_str(marker);
                        *written = true;
                    }
                }
            }
            self.line_open = true;
        }
        self.started = true;
        self.shared_depth = self.containers.len();
    }

    /// The prefix of a blank line: the containers open on both sides of it.
    fn blank_line_prefix(&self) -> String {
        let shared = &self.containers[..self.shared_depth.min(self.containers.len())];
        let prefix: String = shared
            .iter()
            .map(|container| match container {
                Container::Quote => "> ",
                Container::Item { .. } => "  ",
            })
            .collect();
        prefix.trim_end().to_owned()
    }
}

/// Trims trailing whitespace per line, collapses blank-line runs to one, and drops
/// leading and trailing blank lines.
fn tidy(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank_before = false;
    for line in raw.split('\n').map(str::trim_end) {
        if line.is_empty() {
            blank_before = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_before {
                out.push('\n');
            }
        }
        blank_before = false;
        out.push_str(line);
    }
    out
}

/// Replaces typographic characters with GSM-7 equivalents, if that makes the whole text
/// GSM-7 encodable; otherwise returns the text unchanged.
///
/// Curly quotes become straight, en and em dashes `-`, the ellipsis `...`, no-break and
/// other Unicode spaces a plain space; zero-width characters are removed. A single curly
/// quote would otherwise force UCS-2 and more than double the SMS count. A text that
/// needs UCS-2 anyway (an emoji, Cyrillic) is left as the agent wrote it.
pub fn normalise_for_gsm(text: &str) -> Cow<'_, str> {
    let mut needs_change = false;
    for c in text.chars() {
        if is_gsm(c) {
            continue;
        }
        if gsm_substitute(c).is_none() {
            return Cow::Borrowed(text);
        }
        needs_change = true;
    }
    if !needs_change {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match gsm_substitute(c) {
            Some(substitute) => out.push_str(substitute),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The GSM-7 stand-in for a typographic character that GSM cannot encode.
fn gsm_substitute(c: char) -> Option<&'static str> {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => Some("'"),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => Some("\""),
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Some("-"),
        '\u{2026}' => Some("..."),
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => Some(" "),
        '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some(""),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{Encoding, encoding_for};

    fn render(markdown: &str) -> String {
        markdown_to_sms(markdown)
    }

    #[test]
    fn plain_text_is_unchanged() {
        let text =
            "Hi Anna, your order 1234 shipped today.\nIt should arrive by Friday!\n\nThanks, Bob";
        assert_eq!(render(text), text);
    }

    #[test]
    fn asterisks_in_arithmetic_survive() {
        assert_eq!(render("5 * 3 = 15"), "5 * 3 = 15");
        assert_eq!(render("Price: 2 * $5 + tax"), "Price: 2 * $5 + tax");
    }

    #[test]
    fn snake_case_underscores_survive() {
        assert_eq!(render("set my_var_name please"), "set my_var_name please");
    }

    #[test]
    fn emphasis_markers_are_stripped() {
        assert_eq!(
            render("This is *really* _very_ important"),
            "This is really very important"
        );
    }

    #[test]
    fn strong_markers_are_stripped() {
        assert_eq!(render("**Note:** __read__ this"), "Note: read this");
    }

    #[test]
    fn nested_emphasis_is_stripped() {
        assert_eq!(
            render("***both*** and **bold *inside* it**"),
            "both and bold inside it"
        );
    }

    #[test]
    fn strikethrough_markers_are_stripped() {
        assert_eq!(render("~~old~~ new"), "old new");
    }

    #[test]
    fn link_shows_text_then_url() {
        assert_eq!(
            render("See [our FAQ](https://example.com/faq) for more."),
            "See our FAQ (https://example.com/faq) for more."
        );
    }

    #[test]
    fn link_whose_text_is_the_url_shows_it_once() {
        assert_eq!(
            render("[https://example.com](https://example.com)"),
            "https://example.com"
        );
    }

    #[test]
    fn link_with_formatted_text_strips_markers() {
        assert_eq!(
            render("[**Click** here](https://x.io)"),
            "Click here (https://x.io)"
        );
    }

    #[test]
    fn link_with_empty_text_shows_the_url() {
        assert_eq!(render("Go: [](https://x.io)"), "Go: https://x.io");
    }

    #[test]
    fn reference_link_resolves_its_url() {
        assert_eq!(
            render("Read [the docs][d].\n\n[d]: https://d.io"),
            "Read the docs (https://d.io)."
        );
    }

    #[test]
    fn mailto_link_with_the_address_as_text_shows_the_address() {
        assert_eq!(render("[help@x.io](mailto:help@x.io)"), "help@x.io");
    }

    #[test]
    fn autolinks_show_the_url_once() {
        assert_eq!(
            render("Visit <https://example.com/a?b=c>"),
            "Visit https://example.com/a?b=c"
        );
        assert_eq!(render("Mail <help@example.com>"), "Mail help@example.com");
    }

    #[test]
    fn bare_urls_stay_as_written() {
        assert_eq!(
            render("Visit https://example.com today"),
            "Visit https://example.com today"
        );
    }

    #[test]
    fn image_shows_alt_and_url() {
        assert_eq!(
            render("![Store map](https://x.io/map.png)"),
            "[image: Store map] (https://x.io/map.png)"
        );
    }

    #[test]
    fn image_without_alt_is_labelled() {
        assert_eq!(
            render("Look: ![](https://x.io/a.png)"),
            "Look: [image] (https://x.io/a.png)"
        );
    }

    #[test]
    fn image_inside_link_keeps_both_urls() {
        assert_eq!(
            render("[![logo](https://x.io/l.png)](https://x.io)"),
            "[image: logo] (https://x.io/l.png) (https://x.io)"
        );
    }

    #[test]
    fn headings_become_their_text_on_their_own_line() {
        assert_eq!(render("# Welcome\nHello there"), "Welcome\nHello there");
        assert_eq!(
            render("Intro\n\n## Step *one*\n\nDo it"),
            "Intro\n\nStep one\nDo it"
        );
        assert_eq!(render("Title\n====="), "Title");
    }

    #[test]
    fn bullet_list_items_get_dashes() {
        assert_eq!(
            render("* one\n+ two\n\nand\n\n- three"),
            "- one\n\n- two\n\nand\n\n- three"
        );
        assert_eq!(render("* one\n* two\n* three"), "- one\n- two\n- three");
    }

    #[test]
    fn ordered_list_items_are_numbered_from_the_start_number() {
        assert_eq!(
            render("1. one\n1. two\n1. three"),
            "1. one\n2. two\n3. three"
        );
        assert_eq!(render("3) three\n4) four"), "3. three\n4. four");
    }

    #[test]
    fn nested_lists_indent_two_spaces_per_level() {
        let markdown = "- fruit\n  - apple\n    1. green\n    2. red\n  - pear\n- veg";
        assert_eq!(
            render(markdown),
            "- fruit\n  - apple\n    1. green\n    2. red\n  - pear\n- veg"
        );
    }

    #[test]
    fn loose_list_keeps_blank_lines_between_items() {
        assert_eq!(
            render("- one\n\n- two\n\n  more"),
            "- one\n\n- two\n\n  more"
        );
    }

    #[test]
    fn list_after_paragraph_is_separated_by_a_blank_line() {
        assert_eq!(
            render("Options:\n\n- a\n- b\n\nBye"),
            "Options:\n\n- a\n- b\n\nBye"
        );
    }

    #[test]
    fn empty_list_item_keeps_its_marker() {
        assert_eq!(render("- a\n-\n- c"), "- a\n-\n- c");
    }

    #[test]
    fn block_quotes_are_prefixed() {
        assert_eq!(
            render("> quoted\n> text\n\nreply"),
            "> quoted\n> text\n\nreply"
        );
        assert_eq!(render("> one\n>\n> two"), "> one\n>\n> two");
    }

    #[test]
    fn nested_block_quotes_stack_prefixes() {
        assert_eq!(render("> a\n>> b"), "> a\n>\n> > b");
    }

    #[test]
    fn list_inside_quote_gets_both_prefixes() {
        assert_eq!(render("> - a\n> - b"), "> - a\n> - b");
    }

    #[test]
    fn inline_code_is_verbatim() {
        assert_eq!(
            render("Run `reset --hard *now*` then\t`a\tb`"),
            "Run reset --hard *now* then a\tb"
        );
    }

    #[test]
    fn fenced_code_block_keeps_lines_and_drops_fences() {
        let markdown = "Try:\n\n```sh\nls -la\n  cd  *dir*\n\techo hi\n```\n\nDone";
        assert_eq!(
            render(markdown),
            "Try:\n\nls -la\n  cd  *dir*\n\techo hi\n\nDone"
        );
    }

    #[test]
    fn indented_code_block_is_verbatim() {
        assert_eq!(
            render("Code:\n\n    let x = **y**;\n      z\n\nEnd"),
            "Code:\n\nlet x = **y**;\n  z\n\nEnd"
        );
    }

    #[test]
    fn code_block_in_list_item_is_indented() {
        assert_eq!(render("- step:\n\n  ```\n  run\n  ```"), "- step:\n\n  run");
    }

    #[test]
    fn html_passes_through_as_text() {
        assert_eq!(render("Hi <b>there</b>"), "Hi <b>there</b>");
        assert_eq!(
            render("<div>\nblock\n</div>\n\nafter"),
            "<div>\nblock\n</div>\n\nafter"
        );
    }

    #[test]
    fn rule_becomes_dashes() {
        assert_eq!(render("above\n\n***\n\nbelow"), "above\n\n---\n\nbelow");
    }

    #[test]
    fn hard_and_soft_breaks_become_line_breaks() {
        assert_eq!(render("one  \ntwo\\\nthree\nfour"), "one\ntwo\nthree\nfour");
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(
            render("\n\n  Hello\tworld   \n\n\n\n\nBye  \n\n\n"),
            "Hello world\n\nBye"
        );
    }

    #[test]
    fn crlf_line_endings_become_lf() {
        assert_eq!(render("one\r\ntwo\r\n\r\nthree"), "one\ntwo\n\nthree");
    }

    #[test]
    fn empty_and_blank_input_render_empty() {
        assert_eq!(render(""), "");
        assert_eq!(render(" \n\t\n "), "");
    }

    #[test]
    fn escapes_and_entities_become_characters() {
        assert_eq!(
            render(r"\*not emphasis\* &amp; 5 &lt; 6"),
            "*not emphasis* & 5 < 6"
        );
    }

    #[test]
    fn curly_quotes_and_dashes_become_gsm() {
        let normalised = normalise_for_gsm("It’s “fine” – really — ‘ok’…");
        assert_eq!(normalised, "It's \"fine\" - really - 'ok'...");
        assert_eq!(encoding_for(&normalised), Encoding::Gsm7);
    }

    #[test]
    fn unicode_spaces_become_spaces_and_zero_width_chars_vanish() {
        assert_eq!(normalise_for_gsm("a\u{A0}b\u{2009}c\u{3000}d"), "a b c d");
        assert_eq!(
            normalise_for_gsm("zero\u{200B}width\u{FEFF}\u{2060}"),
            "zerowidth"
        );
    }

    #[test]
    fn text_needing_ucs2_anyway_is_untouched() {
        let text = "It’s great 😀";
        assert!(matches!(normalise_for_gsm(text), Cow::Borrowed(t) if t == text));
        let text = "“Привет”";
        assert!(matches!(normalise_for_gsm(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn gsm_text_is_borrowed_unchanged() {
        let text = "Already fine: {€5} [ok]";
        assert!(matches!(normalise_for_gsm(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn every_substitute_is_gsm() {
        for code in 0..=0x10FFFF_u32 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            if let Some(substitute) = gsm_substitute(c) {
                assert!(!is_gsm(c), "{c:?} is already GSM");
                assert!(substitute.chars().all(is_gsm), "{c:?} → {substitute:?}");
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn plain_sentences_pass_through_unchanged(
                paragraphs in proptest::collection::vec(
                    proptest::collection::vec("[A-Za-z][a-z0-9,!?']{0,8}", 1..12), 1..5),
                blank_between in proptest::collection::vec(any::<bool>(), 5),
            ) {
                let mut text = String::new();
                for (index, words) in paragraphs.iter().enumerate() {
                    if index > 0 {
                        text.push_str(if blank_between[index] { "\n\n" } else { "\n" });
                    }
                    text.push_str(&words.join(" "));
                }
                prop_assert_eq!(markdown_to_sms(&text), text);
            }

            #[test]
            fn output_is_always_tidy(markdown in "(?s).{0,300}") {
                let rendered = markdown_to_sms(&markdown);
                prop_assert!(!rendered.starts_with('\n') && !rendered.ends_with('\n'));
                prop_assert!(!rendered.contains("\n\n\n"));
                for line in rendered.split('\n') {
                    prop_assert_eq!(line, line.trim_end());
                }
            }

            #[test]
            fn gsm_normalisation_is_all_or_nothing(text in "(?s).{0,80}") {
                let normalised = normalise_for_gsm(&text);
                let gsm_before = text.chars().all(is_gsm);
                let gsm_after = normalised.chars().all(is_gsm);
                if gsm_before || !gsm_after {
                    prop_assert_eq!(normalised.as_ref(), text.as_str());
                }
            }

            #[test]
            fn typographic_text_normalises_to_gsm(
                text in "[a-z ’‘“”–—…\u{A0}\u{200B}]{0,80}"
            ) {
                let normalised = normalise_for_gsm(&text);
                prop_assert!(normalised.chars().all(is_gsm), "{:?}", normalised);
            }
        }
    }
}
