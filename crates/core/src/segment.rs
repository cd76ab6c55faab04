//! SMS segmentation, and splitting of long inbound bodies for Connect.
//!
//! Outbound, an agent reply becomes one or more SMS. Each part is billed, so this module
//! decides the encoding (GSM-7 when every character is in GSM 03.38, UCS-2 otherwise) and
//! cuts the text into parts that fit: 160 septets / 70 UTF-16 units for a single SMS, 153 /
//! 67 per part once the text needs several (the rest of the 140 bytes holds the
//! concatenation header). The facts come from docs/connect-chat.md §7.2.
//!
//! Inbound, Connect refuses a `text/plain` message over [`CONNECT_MESSAGE_MAX_CHARS`]
//! characters, so [`split_for_connect`] cuts a long SMS body into in-order chunks.
//!
//! Both splitters share one packing rule. Parts are filled greedily. A cut goes after the
//! last whitespace that fits, so whitespace at a break ends the earlier part. When the word
//! after that whitespace could not fit in a whole part anyway, the part is filled up to the
//! limit instead, and the cut falls on a grapheme boundary. An extended grapheme cluster is
//! never split, so emoji, flags, ZWJ sequences, GSM escape pairs and combining marks stay
//! whole. The one exception: a single grapheme that is larger than a part on its own
//! (combining-mark spam, an absurd ZWJ chain) is cut between `char`s, as a last resort.
//! Joining the parts always gives back exactly the input.
//!
//! Pure and allocation-light: no I/O, and no input makes it panic.

use unicode_segmentation::UnicodeSegmentation;

/// Connect's limit for a `text/plain` chat message, counted in Unicode scalar values.
pub const CONNECT_MESSAGE_MAX_CHARS: usize = 1024;

/// The alphabet an SMS is sent in, which decides how many characters fit in a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet: 7-bit septets; extension-table characters take two.
    Gsm7,
    /// UCS-2 (UTF-16 on the wire): 16-bit units; characters outside the BMP take two.
    Ucs2,
}

impl Encoding {
    /// How many units a message may hold and still go as one SMS.
    pub const fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// How many units each part of a multi-part SMS may hold.
    pub const fn part_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

/// Options for [`segment`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentOptions {
    /// Prefix every part of a multi-part message with `"(i/n) "`, e.g. `"(1/3) "`.
    ///
    /// The marker counts against the part's limit. A message that fits one SMS gets none.
    pub numbering: bool,
}

/// A text cut into SMS parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmented {
    /// The encoding every part is sent in (the whole text decides it).
    pub encoding: Encoding,
    /// The parts, in order. Without numbering they concatenate to the input exactly; with
    /// numbering, each part starts with its `"(i/n) "` marker.
    pub parts: Vec<String>,
}

/// Septets a character takes in GSM-7, or `None` when GSM 03.38 cannot encode it.
fn septets(c: char) -> Option<usize> {
    match c {
        // The basic table, in table order (0x1B is the escape, not a character).
        '@'
        | '£'
        | '$'
        | '¥'
        | 'è'
        | 'é'
        | 'ù'
        | 'ì'
        | 'ò'
        | 'Ç'
        | '\n'
        | 'Ø'
        | 'ø'
        | '\r'
        | 'Å'
        | 'å'
        | 'Δ'
        | '_'
        | 'Φ'
        | 'Γ'
        | 'Λ'
        | 'Ω'
        | 'Π'
        | 'Ψ'
        | 'Σ'
        | 'Θ'
        | 'Ξ'
        | 'Æ'
        | 'æ'
        | 'ß'
        | 'É'
        | ' '..='#'
        | '¤'
        | '%'..='?'
        | '¡'
        | 'A'..='Z'
        | 'Ä'
        | 'Ö'
        | 'Ñ'
        | 'Ü'
        | '§'
        | '¿'
        | 'a'..='z'
        | 'ä'
        | 'ö'
        | 'ñ'
        | 'ü'
        | 'à' => Some(1),
        // The extension table: sent as escape + character.
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// Whether GSM 03.38 (basic or extension table) can encode `c`.
pub(crate) fn is_gsm(c: char) -> bool {
    septets(c).is_some()
}

/// The encoding a text must be sent in: GSM-7 when every character is in GSM 03.38
/// (basic or extension table), UCS-2 otherwise. The empty text is GSM-7.
pub fn encoding_for(text: &str) -> Encoding {
    if text.chars().all(is_gsm) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// The size of `text` in `encoding`: septets for GSM-7 (extension characters count two),
/// UTF-16 code units for UCS-2 (characters outside the BMP count two).
///
/// Under GSM-7, a character GSM cannot encode counts as one septet; pick the encoding
/// with [`encoding_for`] to avoid asking.
pub fn units(text: &str, encoding: Encoding) -> usize {
    text.chars().map(|c| char_units(c, encoding)).sum()
}

fn char_units(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// Cuts `text` into SMS parts (see the module docs for where cuts fall).
///
/// A text that fits one SMS (160 septets in GSM-7, 70 units in UCS-2) is one part. A
/// longer text becomes parts of at most 153 septets / 67 units each, numbering marker
/// included when [`SegmentOptions::numbering`] is on. The empty text has zero parts.
pub fn segment(text: &str, options: &SegmentOptions) -> Segmented {
    let encoding = encoding_for(text);
    if text.is_empty() {
        return Segmented {
            encoding,
            parts: Vec::new(),
        };
    }
    if units(text, encoding) <= encoding.single_limit() {
        return Segmented {
            encoding,
            parts: vec![text.to_owned()],
        };
    }
    let cost = |c: char| char_units(c, encoding);
    let atoms = atoms(text, cost);
    let part_limit = encoding.part_limit();
    let parts = if options.numbering {
        numbered_parts(text, &atoms, cost, part_limit)
    } else {
        pack(text, &atoms, cost, |_| part_limit)
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    Segmented { encoding, parts }
}

/// Packs with room for `"(i/n) "` markers and prepends them.
///
/// The marker's width depends on the part count `n`, which depends on the room left. So
/// pack assuming `n` has `digits` digits, and retry with more digits until the count fits
/// the assumption. More room reserved never lowers the count, so this ends quickly.
fn numbered_parts(
    text: &str,
    atoms: &[Atom],
    cost: impl Fn(char) -> usize + Copy,
    part_limit: usize,
) -> Vec<String> {
    let mut digits = 1;
    loop {
        let parts = pack(text, atoms, cost, |index| {
            part_limit.saturating_sub(marker_len(index + 1, digits))
        });
        let count = parts.len();
        if decimal_digits(count) <= digits {
            return parts
                .into_iter()
                .enumerate()
                .map(|(index, part)| format!("{}{part}", marker(index + 1, count)))
                .collect();
        }
        digits = decimal_digits(count);
    }
}

/// The numbering marker of part `index` (1-based) of `count`.
fn marker(index: usize, count: usize) -> String {
    format!("({index}/{count}) ")
}

/// The width of [`marker`] when the count has `count_digits` digits: `(`, `/`, `)` and the
/// space, all one unit in either encoding.
fn marker_len(index: usize, count_digits: usize) -> usize {
    4 + decimal_digits(index) + count_digits
}

fn decimal_digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Splits an inbound SMS body into chunks Connect accepts, each of 1..=`max_chars` chars.
///
/// Chunks are in order and join back to `body`. A body within the limit is one chunk, the
/// empty body none. Cuts prefer whitespace and never split a grapheme cluster unless that
/// grapheme alone exceeds `max_chars`. A `max_chars` of 0 is treated as 1.
pub fn split_for_connect(body: &str, max_chars: usize) -> Vec<String> {
    if body.is_empty() {
        return Vec::new();
    }
    let limit = max_chars.max(1);
    if body.chars().count() <= limit {
        return vec![body.to_owned()];
    }
    let cost = |_: char| 1;
    let atoms = atoms(body, cost);
    pack(body, &atoms, cost, |_| limit)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// One extended grapheme cluster of the whole text, with its cost.
struct Atom {
    start: usize,
    end: usize,
    cost: usize,
    /// Made of breakable whitespace only: a cut may follow it.
    space: bool,
}

fn atoms(text: &str, cost: impl Fn(char) -> usize) -> Vec<Atom> {
    text.grapheme_indices(true)
        .map(|(start, grapheme)| Atom {
            start,
            end: start + grapheme.len(),
            cost: grapheme.chars().map(&cost).sum(),
            space: grapheme.chars().all(is_break_space),
        })
        .collect()
}

/// Whitespace a line may break after. No-break spaces exist to forbid exactly that.
fn is_break_space(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{00A0}' | '\u{2007}' | '\u{202F}')
}

/// Greedy packing of `atoms` into parts, part `i` holding at most `limit_for(i)`.
fn pack<'t>(
    text: &'t str,
    atoms: &[Atom],
    cost: impl Fn(char) -> usize + Copy,
    limit_for: impl Fn(usize) -> usize,
) -> Vec<&'t str> {
    let mut parts = Vec::new();
    // `start` lies in atoms[first]; past its start only after a last-resort cut.
    let mut start = 0;
    let mut first = 0;
    while first < atoms.len() {
        let limit = limit_for(parts.len());
        let reach = reach(text, &atoms[first..], start, cost, limit);
        if reach.fitted == atoms.len() - first {
            parts.push(&text[start..]);
            break;
        }
        let (cut, next) = match reach.space_break {
            Some((cut, fitted))
                if word_fits(&atoms[first + fitted..], limit_for(parts.len() + 1)) =>
            {
                (cut, first + fitted)
            }
            _ if reach.end > start => (reach.end, first + reach.fitted),
            _ => {
                // Last resort: the grapheme alone is larger than a part.
                let end = atoms[first].end;
                let cut = char_cut(text, start, end, cost, limit);
                (cut, if cut < end { first } else { first + 1 })
            }
        };
        parts.push(&text[start..cut]);
        start = cut;
        first = next;
    }
    parts
}

/// How much of `atoms` fits in `limit` from byte `start` (inside `atoms[0]`).
struct Reach {
    /// How many atoms fit whole.
    fitted: usize,
    /// Byte offset where the fitting atoms end.
    end: usize,
    /// Byte offset after the last whitespace atom that fits, and the atom count up to it.
    space_break: Option<(usize, usize)>,
}

fn reach(
    text: &str,
    atoms: &[Atom],
    start: usize,
    cost: impl Fn(char) -> usize,
    limit: usize,
) -> Reach {
    let mut reach = Reach {
        fitted: 0,
        end: start,
        space_break: None,
    };
    let mut used = 0;
    for atom in atoms {
        let atom_cost = if atom.start < start {
            text[start..atom.end].chars().map(&cost).sum()
        } else {
            atom.cost
        };
        if used + atom_cost > limit {
            break;
        }
        used += atom_cost;
        reach.fitted += 1;
        reach.end = atom.end;
        if atom.space {
            reach.space_break = Some((reach.end, reach.fitted));
        }
    }
    reach
}

/// Whether the word at the head of `atoms` (up to the next whitespace) fits in `limit`.
fn word_fits(atoms: &[Atom], limit: usize) -> bool {
    let mut used = 0;
    for atom in atoms.iter().take_while(|atom| !atom.space) {
        used += atom.cost;
        if used > limit {
            return false;
        }
    }
    true
}

/// The furthest `char` boundary in `start..end` within `limit`, taking at least one char
/// so that packing always progresses.
fn char_cut(
    text: &str,
    start: usize,
    end: usize,
    cost: impl Fn(char) -> usize,
    limit: usize,
) -> usize {
    let mut used = 0;
    let mut cut = start;
    for (offset, c) in text[start..end].char_indices() {
        used += cost(c);
        if used > limit && cut > start {
            break;
        }
        cut = start + offset + c.len_utf8();
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GSM 03.38 basic table in table order, 0x00..=0x7F without the escape at 0x1B.
    /// Written independently of `septets` so the tests check it.
    const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                             ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    /// GSM 03.38 extension table (each sent as escape + character).
    const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

    fn oracle_septets(text: &str) -> Option<usize> {
        text.chars()
            .map(|c| {
                if GSM_BASIC.contains(c) {
                    Some(1)
                } else if GSM_EXTENSION.contains(c) {
                    Some(2)
                } else {
                    None
                }
            })
            .sum()
    }

    fn oracle_units(text: &str, encoding: Encoding) -> usize {
        match encoding {
            Encoding::Gsm7 => oracle_septets(text).unwrap_or(usize::MAX),
            Encoding::Ucs2 => text.encode_utf16().count(),
        }
    }

    fn plain(options: SegmentOptions) -> bool {
        !options.numbering
    }

    fn split(text: &str) -> Segmented {
        segment(text, &SegmentOptions::default())
    }

    fn numbered(text: &str) -> Segmented {
        segment(text, &SegmentOptions { numbering: true })
    }

    /// Removes the `"(i/n) "` marker, checking it names the right part.
    fn strip_marker(part: &str, index: usize, count: usize) -> &str {
        let marker = format!("({index}/{count}) ");
        part.strip_prefix(&marker)
            .unwrap_or_else(|| panic!("part {part:?} lacks marker {marker:?}"))
    }

    #[test]
    fn gsm_tables_have_the_standard_sizes() {
        assert_eq!(GSM_BASIC.chars().count(), 127);
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn every_gsm_basic_char_is_one_septet() {
        for c in GSM_BASIC.chars() {
            assert_eq!(septets(c), Some(1), "{c:?}");
        }
    }

    #[test]
    fn every_gsm_extension_char_is_two_septets() {
        for c in GSM_EXTENSION.chars() {
            assert_eq!(septets(c), Some(2), "{c:?}");
        }
    }

    #[test]
    fn ascii_outside_gsm_forces_ucs2() {
        for text in ["`code`", "tab\there", "ç", "a\u{1B}b", "😀", "Привет"] {
            assert_eq!(encoding_for(text), Encoding::Ucs2, "{text:?}");
        }
    }

    #[test]
    fn gsm_text_is_gsm7() {
        assert_eq!(
            encoding_for("Hello! Price: €5 {ok} [yes] ~ | ^ \\ £ ¥ Ø"),
            Encoding::Gsm7
        );
        assert_eq!(encoding_for(""), Encoding::Gsm7);
    }

    #[test]
    fn units_count_extension_chars_twice() {
        assert_eq!(units("a€b", Encoding::Gsm7), 4);
        assert_eq!(units("{}", Encoding::Gsm7), 4);
    }

    #[test]
    fn units_count_non_bmp_as_two_utf16_units() {
        assert_eq!(units("a😀", Encoding::Ucs2), 3);
        assert_eq!(units("👨‍👩‍👧‍👦", Encoding::Ucs2), 11);
        assert_eq!(units("é€", Encoding::Ucs2), 2);
    }

    #[test]
    fn empty_text_has_no_parts() {
        let segmented = split("");
        assert!(segmented.parts.is_empty());
        assert!(numbered("").parts.is_empty());
    }

    #[test]
    fn exactly_160_gsm_septets_is_one_sms() {
        let text = "a".repeat(160);
        assert_eq!(split(&text).parts, vec![text.clone()]);
    }

    #[test]
    fn gsm_161_septets_splits_into_153_and_8() {
        let text = "a".repeat(161);
        let segmented = split(&text);
        assert_eq!(segmented.encoding, Encoding::Gsm7);
        assert_eq!(segmented.parts, vec!["a".repeat(153), "a".repeat(8)]);
    }

    #[test]
    fn extension_chars_count_towards_the_single_sms_limit() {
        assert_eq!(split(&"€".repeat(80)).parts.len(), 1);
        assert_eq!(split(&"€".repeat(81)).parts.len(), 2);
        assert_eq!(split(&format!("{}€", "a".repeat(159))).parts.len(), 2);
    }

    #[test]
    fn extension_char_at_a_part_boundary_moves_whole_to_the_next_part() {
        // 152 septets, then a 2-septet char that would straddle the 153 limit.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let parts = split(&text).parts;
        assert_eq!(parts[0], "a".repeat(152));
        assert_eq!(parts[1], format!("€{}", "b".repeat(20)));
    }

    #[test]
    fn exactly_70_ucs2_units_is_one_sms() {
        let text = "ж".repeat(70);
        let segmented = split(&text);
        assert_eq!(segmented.encoding, Encoding::Ucs2);
        assert_eq!(segmented.parts, vec![text.clone()]);
    }

    #[test]
    fn ucs2_71_units_splits_into_67_and_4() {
        let text = "ж".repeat(71);
        assert_eq!(split(&text).parts, vec!["ж".repeat(67), "ж".repeat(4)]);
    }

    #[test]
    fn emoji_at_a_boundary_is_never_split() {
        // 66 units of letters, then an emoji (2 units) that would straddle 67.
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        let parts = split(&text).parts;
        assert_eq!(parts[0], "ж".repeat(66));
        assert_eq!(parts[1], format!("😀{}", "ж".repeat(10)));
    }

    #[test]
    fn emoji_only_text_packs_whole_emoji() {
        let text = "😀".repeat(40);
        let parts = split(&text).parts;
        assert_eq!(parts, vec!["😀".repeat(33), "😀".repeat(7)]);
    }

    #[test]
    fn flags_stay_whole() {
        // A flag is two regional indicators: 4 units; 16 fit in 67, 17 do not.
        let text = "🇫🇷".repeat(20);
        let parts = split(&text).parts;
        assert_eq!(parts, vec!["🇫🇷".repeat(16), "🇫🇷".repeat(4)]);
    }

    #[test]
    fn zwj_family_emoji_stay_whole() {
        // 11 units each: 6 fit in 67.
        let family = "👨‍👩‍👧‍👦";
        let text = family.repeat(10);
        let parts = split(&text).parts;
        assert_eq!(parts, vec![family.repeat(6), family.repeat(4)]);
    }

    #[test]
    fn combining_marks_stay_with_their_base() {
        // "e" + combining acute: 2 units per grapheme; 33 fit, the 34th would split.
        let grapheme = "e\u{301}";
        let text = grapheme.repeat(40);
        let parts = split(&text).parts;
        assert_eq!(parts, vec![grapheme.repeat(33), grapheme.repeat(7)]);
    }

    #[test]
    fn a_grapheme_larger_than_a_part_is_split_between_chars() {
        let huge = format!("a{}", "\u{301}".repeat(200));
        let text = format!("x {huge} y");
        let segmented = split(&text);
        assert!(segmented.parts.len() >= 4);
        for part in &segmented.parts {
            assert!(units(part, Encoding::Ucs2) <= 67, "{part:?}");
        }
        assert_eq!(segmented.parts.concat(), text);
    }

    #[test]
    fn cuts_fall_after_whitespace() {
        let text = "lorem ipsum dolor sit amet ".repeat(12);
        let parts = split(&text).parts;
        assert!(parts.len() > 1);
        for part in &parts[..parts.len() - 1] {
            assert!(part.ends_with(' '), "{part:?}");
        }
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn whitespace_at_a_break_ends_the_earlier_part() {
        let text = format!("{} {}", "a".repeat(100), "b".repeat(100));
        let parts = split(&text).parts;
        assert_eq!(
            parts,
            vec![format!("{} ", "a".repeat(100)), "b".repeat(100)]
        );
    }

    #[test]
    fn newline_is_a_break_point() {
        let text = format!("{}\n{}", "a".repeat(100), "b".repeat(100));
        let parts = split(&text).parts;
        assert_eq!(parts[0], format!("{}\n", "a".repeat(100)));
    }

    #[test]
    fn no_break_space_is_not_a_break_point() {
        let text = format!("{}\u{A0}{}", "a".repeat(40), "b".repeat(40));
        let parts = split(&text).parts;
        assert_eq!(
            parts[0],
            format!("{}\u{A0}{}", "a".repeat(40), "b".repeat(26))
        );
    }

    #[test]
    fn word_longer_than_a_part_fills_the_part() {
        let text = format!("Hi {}", "x".repeat(300));
        let parts = split(&text).parts;
        assert_eq!(parts[0], format!("Hi {}", "x".repeat(150)));
        assert_eq!(parts[1], "x".repeat(150));
        assert_eq!(parts.len(), 2);
    }

    #[test]
    fn cjk_without_spaces_splits_at_grapheme_boundaries() {
        let text = "漢".repeat(150);
        let parts = split(&text).parts;
        assert_eq!(
            parts,
            vec!["漢".repeat(67), "漢".repeat(67), "漢".repeat(16)]
        );
    }

    #[test]
    fn single_sms_gets_no_marker_even_with_numbering() {
        assert_eq!(numbered("Hello").parts, vec!["Hello".to_owned()]);
        let text = "a".repeat(160);
        assert_eq!(numbered(&text).parts, vec![text.clone()]);
    }

    #[test]
    fn numbering_prefixes_each_part_and_counts_against_the_limit() {
        let text = "a".repeat(200);
        let parts = numbered(&text).parts;
        // "(1/2) " is 6 septets, leaving 147.
        assert_eq!(
            parts,
            vec![
                format!("(1/2) {}", "a".repeat(147)),
                format!("(2/2) {}", "a".repeat(53))
            ]
        );
    }

    #[test]
    fn numbering_with_ten_or_more_parts_reserves_two_digit_markers() {
        let text = "abcd ".repeat(400);
        let segmented = numbered(&text);
        let count = segmented.parts.len();
        assert!(count >= 10, "{count}");
        let mut rejoined = String::new();
        for (index, part) in segmented.parts.iter().enumerate() {
            assert!(units(part, Encoding::Gsm7) <= 153, "{part:?}");
            rejoined.push_str(strip_marker(part, index + 1, count));
        }
        assert_eq!(rejoined, text);
    }

    #[test]
    fn numbering_in_ucs2_fits_67_units_with_marker() {
        let text = "ж".repeat(200);
        let parts = numbered(&text).parts;
        for part in &parts {
            assert!(units(part, Encoding::Ucs2) <= 67, "{part:?}");
        }
        assert_eq!(parts[0], format!("(1/4) {}", "ж".repeat(61)));
    }

    #[test]
    fn connect_body_within_limit_is_one_chunk() {
        let body = "é".repeat(CONNECT_MESSAGE_MAX_CHARS);
        assert_eq!(
            split_for_connect(&body, CONNECT_MESSAGE_MAX_CHARS),
            vec![body.clone()]
        );
    }

    #[test]
    fn connect_empty_body_has_no_chunks() {
        assert!(split_for_connect("", CONNECT_MESSAGE_MAX_CHARS).is_empty());
    }

    #[test]
    fn connect_3000_char_body_splits_into_three_word_aligned_chunks() {
        let sentence = "The quick brown fox jumps over the lazy dog. ";
        let body: String = sentence.repeat(100).chars().take(3000).collect();
        let chunks = split_for_connect(&body, CONNECT_MESSAGE_MAX_CHARS);
        assert_eq!(chunks.len(), 3);
        for chunk in &chunks[..2] {
            let chars = chunk.chars().count();
            assert!(
                chars <= CONNECT_MESSAGE_MAX_CHARS && chars > 1000,
                "{chars}"
            );
            assert!(chunk.ends_with(' '), "{chunk:?}");
        }
        assert_eq!(chunks.concat(), body);
    }

    #[test]
    fn connect_split_keeps_graphemes_whole() {
        let family = "👨‍👩‍👧‍👦"; // 7 chars
        let body = family.repeat(3);
        assert_eq!(
            split_for_connect(&body, 10),
            vec![family.to_owned(), family.to_owned(), family.to_owned()]
        );
    }

    #[test]
    fn connect_zero_limit_is_treated_as_one() {
        assert_eq!(split_for_connect("abc", 0), vec!["a", "b", "c"]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn words_and_gsm_extension() -> impl Strategy<Value = String> {
            let token = prop_oneof![
                6 => "[a-zA-Z0-9]{1,12}",
                4 => Just(" ".to_owned()),
                1 => Just("\n".to_owned()),
                1 => "[.,!?@£$_]",
                2 => select(GSM_EXTENSION.chars().collect::<Vec<_>>()).prop_map(String::from),
            ];
            proptest::collection::vec(token, 0..150).prop_map(|tokens| tokens.concat())
        }

        fn mixed_scripts() -> impl Strategy<Value = String> {
            let token = prop_oneof![
                6 => "[a-zA-Z]{1,10}",
                4 => Just(" ".to_owned()),
                1 => Just("\n".to_owned()),
                2 => select(GSM_EXTENSION.chars().collect::<Vec<_>>()).prop_map(String::from),
                2 => select(vec!["é", "è", "ü", "ñ", "ç", "ő", "ł", "Å", "ß", "ș"])
                    .prop_map(str::to_owned),
                2 => "[\u{4e00}-\u{9fff}]{1,8}",
                2 => select(vec![
                    "😀", "👍🏽", "🇫🇷", "🇯🇵", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🧑🏾‍💻", "\u{a0}",
                ])
                .prop_map(str::to_owned),
                1 => select(vec!["e\u{301}", "a\u{308}\u{301}", "\r\n"]).prop_map(str::to_owned),
                1 => (0usize..150).prop_map(|marks| format!("o{}", "\u{301}".repeat(marks))),
            ];
            proptest::collection::vec(token, 0..120).prop_map(|tokens| tokens.concat())
        }

        fn any_text() -> impl Strategy<Value = String> {
            prop_oneof![
                words_and_gsm_extension(),
                mixed_scripts(),
                proptest::collection::vec(any::<char>(), 0..400)
                    .prop_map(|chars| chars.into_iter().collect::<String>()),
            ]
        }

        /// Every cut between parts is a grapheme boundary of the whole text, unless it
        /// lies inside a grapheme that alone costs more than `min_limit`.
        fn check_cuts(
            text: &str,
            parts: &[&str],
            min_limit: usize,
            cost: impl Fn(&str) -> usize,
        ) -> Result<(), TestCaseError> {
            let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
            let mut cut = 0;
            for part in parts.iter().take(parts.len().saturating_sub(1)) {
                cut += part.len();
                let straddled = graphemes
                    .iter()
                    .find(|(start, g)| *start < cut && cut < start + g.len());
                if let Some((_, grapheme)) = straddled {
                    prop_assert!(
                        cost(grapheme) > min_limit,
                        "cut at {cut} splits grapheme {grapheme:?}"
                    );
                }
            }
            Ok(())
        }

        fn check_segmented(text: &str, options: SegmentOptions) -> Result<(), TestCaseError> {
            let segmented = segment(text, &options);
            let encoding = segmented.encoding;
            let expected = if oracle_septets(text).is_some() {
                Encoding::Gsm7
            } else {
                Encoding::Ucs2
            };
            prop_assert_eq!(encoding, expected);
            let count = segmented.parts.len();
            let total = oracle_units(text, encoding);
            prop_assert_eq!(count == 0, text.is_empty());
            prop_assert_eq!(
                count == 1,
                !text.is_empty() && total <= encoding.single_limit()
            );
            let limit = if count == 1 {
                encoding.single_limit()
            } else {
                encoding.part_limit()
            };
            let mut bodies = Vec::with_capacity(count);
            for (index, part) in segmented.parts.iter().enumerate() {
                prop_assert!(
                    oracle_units(part, encoding) <= limit,
                    "part {part:?} too big"
                );
                let body = if plain(options) || count == 1 {
                    part.as_str()
                } else {
                    strip_marker(part, index + 1, count)
                };
                prop_assert!(!body.is_empty(), "empty part");
                bodies.push(body);
            }
            prop_assert_eq!(bodies.concat(), text);
            let widest_marker = if plain(options) {
                0
            } else {
                4 + 2 * decimal_digits(count)
            };
            check_cuts(text, &bodies, limit - widest_marker, |g| {
                oracle_units(g, encoding)
            })
        }

        proptest! {
            #[test]
            fn segments_rejoin_fit_and_respect_graphemes(text in any_text()) {
                check_segmented(&text, SegmentOptions::default())?;
            }

            #[test]
            fn numbered_segments_rejoin_fit_and_respect_graphemes(text in any_text()) {
                check_segmented(&text, SegmentOptions { numbering: true })?;
            }

            #[test]
            fn non_final_parts_end_after_whitespace_unless_the_next_word_is_too_long(
                text in words_and_gsm_extension()
            ) {
                let parts = split(&text).parts;
                let mut cut = 0;
                for part in parts.iter().take(parts.len().saturating_sub(1)) {
                    cut += part.len();
                    // This strategy's whitespace (space, newline, form feed) is one byte.
                    let last_space = part.rfind(char::is_whitespace);
                    if let Some(space) = last_space.filter(|&space| space + 1 < part.len()) {
                        // The part has a break point but did not end there: the word
                        // after it must be too long for a whole part.
                        let word_start = cut - part.len() + space + 1;
                        let word_end = text[word_start..]
                            .find(char::is_whitespace)
                            .map_or(text.len(), |end| word_start + end);
                        let word = &text[word_start..word_end];
                        prop_assert!(oracle_units(word, Encoding::Gsm7) > 153, "{word:?}");
                    }
                }
            }

            #[test]
            fn connect_chunks_rejoin_fit_and_respect_graphemes(
                text in any_text(),
                max_chars in 1usize..200,
            ) {
                let chunks = split_for_connect(&text, max_chars);
                prop_assert_eq!(chunks.concat(), text.as_str());
                prop_assert_eq!(chunks.is_empty(), text.is_empty());
                prop_assert_eq!(chunks.len() == 1, !text.is_empty() && text.chars().count() <= max_chars);
                for chunk in &chunks {
                    let chars = chunk.chars().count();
                    prop_assert!((1..=max_chars).contains(&chars), "{chunk:?}");
                }
                let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
                check_cuts(&text, &chunks, max_chars, |g| g.chars().count())?;
            }
        }
    }
}
