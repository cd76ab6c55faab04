//! GetTranscript paging over a contact's view (pure).
//!
//! The view of a contact is the items of the contacts it continues (persistent chat, oldest
//! first, the "past" segment) followed by its own items (the "current" segment). Decisions
//! where the API reference is silent (docs/connect-chat.md §3.4, §6.5, §9 item 4):
//!
//! - Without StartPosition, BACKWARD starts at the newest item and FORWARD at the oldest
//!   item of the current contact (of the whole view, past items first, when
//!   `SimConfig::past_items_forward` asks). StartPosition applies to current items only.
//! - `Id` starts at that item (inclusive). `AbsoluteTime` starts, FORWARD, at the first item at
//!   or after that time and, BACKWARD, at the last item at or before it. `MostRecent: n`
//!   starts at the n-th newest item (0 counts as 1).
//! - A page never mixes past and current items: a BACKWARD scan that reaches the start of the
//!   current contact returns a NextToken into the past, so "the first GetTranscript returns a
//!   NextToken if past messages exist" [AG-PERSIST] holds.
//! - NextToken is present exactly when items remain in the scan direction. It is an opaque
//!   base64 cursor bound to the contact; it stays valid because items are only appended.
//! - SortOrder orders the selected page only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::ContactId;
use super::item::StoredItem;

/// Default and maximum `MaxResults` [M-CP].
pub const DEFAULT_MAX_RESULTS: usize = 10;
/// Largest `MaxResults` accepted.
pub const MAX_MAX_RESULTS: usize = 100;

/// Scan direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Towards newer items.
    #[serde(rename = "F")]
    Forward,
    /// Towards older items.
    #[serde(rename = "B")]
    Backward,
}

/// Page ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Oldest first.
    Ascending,
    /// Newest first.
    Descending,
}

/// Where a scan starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No StartPosition and no NextToken.
    Default,
    /// `StartPosition.Id`.
    Id(String),
    /// `StartPosition.AbsoluteTime`.
    Time(DateTime<Utc>),
    /// `StartPosition.MostRecent`.
    MostRecent(u32),
    /// A decoded NextToken.
    Cursor(Cursor),
}

/// A NextToken's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "c")]
    contact: String,
    #[serde(rename = "i")]
    index: usize,
    #[serde(rename = "d")]
    direction: Direction,
}

impl Cursor {
    /// Encodes the cursor as an opaque token.
    #[must_use]
    pub fn encode(&self) -> String {
        // Serializing a struct of a string, an integer and an enum cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a token issued for `contact`.
    ///
    /// # Errors
    /// [`PageError::BadToken`] for anything not issued by [`Cursor::encode`] for this contact.
    pub fn decode(token: &str, contact: &ContactId) -> Result<Self, PageError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| PageError::BadToken)?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| PageError::BadToken)?;
        if cursor.contact != contact.as_str() {
            return Err(PageError::BadToken);
        }
        Ok(cursor)
    }
}

/// A GetTranscript request after parsing.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page, 1–100.
    pub max_results: usize,
    /// Requested direction (`None` means the documented default).
    pub direction: Option<Direction>,
    /// Page order.
    pub sort: Sort,
    /// Start of the scan.
    pub start: Start,
    /// FORWARD with no start begins at the oldest past item, not the current contact's
    /// first (`SimConfig::past_items_forward`).
    pub past_forward: bool,
}

/// Why a page could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// NextToken not issued for this contact or no longer meaningful.
    #[error("invalid NextToken")]
    BadToken,
    /// `StartPosition.Id` names no item of the current contact.
    #[error("StartPosition.Id {0:?} is not an item of this contact")]
    UnknownId(String),
}

/// One selected page: indices into the view, in response order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Indices into the view.
    pub indices: Vec<usize>,
    /// Cursor for the next page, if items remain in the scan direction.
    pub next: Option<Cursor>,
}

/// Selects a page from a view of `items`, whose current segment begins at `current_start`.
///
/// # Errors
/// [`PageError`] for a foreign or stale token or an unknown start id.
pub fn select(
    items: &[&StoredItem],
    current_start: usize,
    contact: &ContactId,
    request: &PageRequest,
) -> Result<Page, PageError> {
    let len = items.len();
    let current = current_start.min(len)..len;
    let (start, direction) = match &request.start {
        Start::Default => {
            let direction = request.direction.unwrap_or(Direction::Backward);
            let start = match direction {
                Direction::Backward => len.checked_sub(1),
                Direction::Forward if request.past_forward => (len > 0).then_some(0),
                Direction::Forward => (!current.is_empty()).then_some(current.start),
            };
            (start, direction)
        }
        Start::Cursor(cursor) => {
            if cursor.index >= len {
                return Err(PageError::BadToken);
            }
            (Some(cursor.index), cursor.direction)
        }
        Start::Id(id) => {
            let index = current
                .clone()
                .find(|&i| items[i].id.as_str() == id)
                .ok_or_else(|| PageError::UnknownId(id.clone()))?;
            (Some(index), request.direction.unwrap_or(Direction::Forward))
        }
        Start::Time(time) => {
            let direction = request.direction.unwrap_or(Direction::Forward);
            let start = match direction {
                Direction::Forward => current.clone().find(|&i| items[i].time >= *time),
                Direction::Backward => current.clone().rev().find(|&i| items[i].time <= *time),
            };
            (start, direction)
        }
        Start::MostRecent(n) => {
            let n = usize::try_from((*n).max(1)).unwrap_or(usize::MAX);
            let start = (!current.is_empty()).then(|| len.saturating_sub(n).max(current.start));
            (start, request.direction.unwrap_or(Direction::Forward))
        }
    };
    let Some(start) = start else {
        return Ok(Page {
            indices: Vec::new(),
            next: None,
        });
    };
    let in_past = start < current.start;
    let max = request.max_results.max(1);
    let (mut indices, next_index): (Vec<usize>, Option<usize>) = match direction {
        Direction::Forward => {
            let segment_end = if in_past { current.start } else { len };
            let stop = (start + max).min(segment_end);
            ((start..stop).collect(), (stop < len).then_some(stop))
        }
        Direction::Backward => {
            let segment_begin = if in_past { 0 } else { current.start };
            let low = (start + 1).saturating_sub(max).max(segment_begin);
            ((low..=start).collect(), low.checked_sub(1))
        }
    };
    if request.sort == Sort::Descending {
        indices.reverse();
    }
    Ok(Page {
        indices,
        next: next_index.map(|index| Cursor {
            contact: contact.to_string(),
            index,
            direction,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::ItemId;
    use crate::model::item::{ItemType, message};

    fn items(n: usize) -> Vec<StoredItem> {
        (0..n)
            .map(|i| StoredItem {
                id: ItemId::from_client(&format!("i{i}")),
                time: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + i as i64 * 1000)
                    .expect("time"),
                item_type: ItemType::Message,
                content_type: message::TEXT_PLAIN,
                content: Some(format!("m{i}")),
                participant_id: None,
                display_name: None,
                role: None,
                receipts: Vec::new(),
            })
            .collect()
    }

    fn request(start: Start, direction: Option<Direction>, max: usize, sort: Sort) -> PageRequest {
        PageRequest {
            max_results: max,
            direction,
            sort,
            start,
            past_forward: false,
        }
    }

    fn ids(all: &[&StoredItem], page: &Page) -> Vec<String> {
        page.indices
            .iter()
            .map(|&i| all[i].id.to_string())
            .collect()
    }

    #[test]
    fn backward_default_pages_from_newest_to_oldest() {
        let owned = items(5);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        let first = select(
            &view,
            0,
            &contact,
            &request(Start::Default, None, 2, Sort::Ascending),
        )
        .expect("page");
        assert_eq!(ids(&view, &first), ["i3", "i4"]);
        let token = first.next.expect("more").encode();
        let cursor = Cursor::decode(&token, &contact).expect("decodes");
        let second = select(
            &view,
            0,
            &contact,
            &request(Start::Cursor(cursor), None, 2, Sort::Descending),
        )
        .expect("page");
        assert_eq!(ids(&view, &second), ["i2", "i1"]);
        let third = select(
            &view,
            0,
            &contact,
            &request(
                Start::Cursor(second.next.expect("more")),
                None,
                2,
                Sort::Ascending,
            ),
        )
        .expect("page");
        assert_eq!(ids(&view, &third), ["i0"]);
        assert!(third.next.is_none());
    }

    #[test]
    fn forward_from_id_is_inclusive() {
        let owned = items(5);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        let page = select(
            &view,
            0,
            &contact,
            &request(Start::Id("i1".into()), None, 3, Sort::Ascending),
        )
        .expect("page");
        assert_eq!(ids(&view, &page), ["i1", "i2", "i3"]);
        assert!(page.next.is_some());
    }

    #[test]
    fn most_recent_forward_returns_the_newest_items() {
        let owned = items(5);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        let page = select(
            &view,
            0,
            &contact,
            &request(Start::MostRecent(2), None, 10, Sort::Ascending),
        )
        .expect("page");
        assert_eq!(ids(&view, &page), ["i3", "i4"]);
        assert!(page.next.is_none());
    }

    #[test]
    fn absolute_time_respects_direction() {
        let owned = items(5);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        let t = owned[2].time + chrono::Duration::milliseconds(1);
        let forward = select(
            &view,
            0,
            &contact,
            &request(Start::Time(t), None, 10, Sort::Ascending),
        )
        .expect("page");
        assert_eq!(ids(&view, &forward), ["i3", "i4"]);
        let backward = select(
            &view,
            0,
            &contact,
            &request(
                Start::Time(t),
                Some(Direction::Backward),
                10,
                Sort::Ascending,
            ),
        )
        .expect("page");
        assert_eq!(ids(&view, &backward), ["i0", "i1", "i2"]);
    }

    #[test]
    fn pages_never_mix_past_and_current_items() {
        let owned = items(6);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        // Items 0..4 are past, 4..6 current.
        let first = select(
            &view,
            4,
            &contact,
            &request(Start::Default, None, 15, Sort::Ascending),
        )
        .expect("page");
        assert_eq!(ids(&view, &first), ["i4", "i5"]);
        let past = select(
            &view,
            4,
            &contact,
            &request(
                Start::Cursor(first.next.expect("past exists")),
                None,
                15,
                Sort::Ascending,
            ),
        )
        .expect("page");
        assert_eq!(ids(&view, &past), ["i0", "i1", "i2", "i3"]);
        assert!(past.next.is_none());
        let forward = select(
            &view,
            4,
            &contact,
            &request(
                Start::Default,
                Some(Direction::Forward),
                15,
                Sort::Ascending,
            ),
        )
        .expect("page");
        assert_eq!(ids(&view, &forward), ["i4", "i5"]);
    }

    #[test]
    fn forward_default_starts_in_the_past_only_when_asked() {
        let owned = items(5);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        // Items 0..3 are past, 3..5 current.
        let mut asked = request(
            Start::Default,
            Some(Direction::Forward),
            10,
            Sort::Ascending,
        );
        let current_only = select(&view, 3, &contact, &asked).expect("page");
        assert_eq!(ids(&view, &current_only), ["i3", "i4"]);
        assert!(current_only.next.is_none());

        asked.past_forward = true;
        let past = select(&view, 3, &contact, &asked).expect("page");
        assert_eq!(
            ids(&view, &past),
            ["i0", "i1", "i2"],
            "a page stays in one segment"
        );
        let rest = select(
            &view,
            3,
            &contact,
            &request(
                Start::Cursor(past.next.expect("the current items remain")),
                None,
                10,
                Sort::Ascending,
            ),
        )
        .expect("page");
        assert_eq!(ids(&view, &rest), ["i3", "i4"]);
        assert!(rest.next.is_none());
    }

    #[test]
    fn foreign_and_garbage_tokens_are_refused() {
        let contact = ContactId::from_client("c");
        let other = ContactId::from_client("d");
        let cursor = Cursor {
            contact: "c".into(),
            index: 0,
            direction: Direction::Forward,
        };
        assert_eq!(
            Cursor::decode(&cursor.encode(), &other),
            Err(PageError::BadToken)
        );
        assert_eq!(
            Cursor::decode("not base64!", &contact),
            Err(PageError::BadToken)
        );
        let owned = items(1);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let stale = Cursor {
            contact: "c".into(),
            index: 7,
            direction: Direction::Forward,
        };
        assert_eq!(
            select(
                &view,
                0,
                &contact,
                &request(Start::Cursor(stale), None, 1, Sort::Ascending)
            ),
            Err(PageError::BadToken)
        );
    }

    #[test]
    fn unknown_start_id_is_an_error() {
        let owned = items(2);
        let view: Vec<&StoredItem> = owned.iter().collect();
        let contact = ContactId::from_client("c");
        assert!(matches!(
            select(
                &view,
                0,
                &contact,
                &request(Start::Id("nope".into()), None, 1, Sort::Ascending)
            ),
            Err(PageError::UnknownId(_))
        ));
    }
}
