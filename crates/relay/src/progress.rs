//! One session's delivery progress: the cursor, and the small memory that stops catch-up
//! and stream from delivering one item twice.
//!
//! Pure bookkeeping, no I/O: the session worker asks [`Progress::is_seen`] before acting
//! on an item, reports what it did with [`Progress::mark`], and writes the cursor to the
//! store when [`Progress::unwritten`] says it lags. Kept small on purpose (a few dozen
//! bytes plus a 16-entry ring of id hashes), because a relay holds thousands of these.
//!
//! Rules:
//! - The stored cursor names the last item handled, in transcript order. Catch-up starts
//!   there (GetTranscript's start position is inclusive, so that item is pre-marked seen).
//! - A delivered item is written at once (the caller does it after SNS accepted every
//!   part); a skipped but persisted item only moves the in-memory cursor, written later in
//!   one go, so a run of receipts and joins costs no writes. Losing that lazy write costs a
//!   rescan, never a message.
//! - Items that are not stored in the transcript (typing, receipts) never become the
//!   cursor: GetTranscript could not start from them.
//! - An item arriving on the socket is a duplicate if its id was handled recently, or if it
//!   is older than the newest item catch-up handled (the transcript is in time order, so
//!   catch-up already read it).

use std::hash::{DefaultHasher, Hash, Hasher};

use bridge_core::ids::ItemId;
use bridge_core::ports::{TranscriptItem, TranscriptStart};
use chrono::DateTime;

/// How many recent item ids are remembered.
const RECENT: usize = 16;

/// Where an item came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A GetTranscript page (catch-up).
    Transcript,
    /// The live socket.
    Stream,
}

/// What the cursor may do with a handled item ([`Progress::mark`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsCursor {
    /// Never point at it: it is not stored in the transcript (a typing event, a receipt,
    /// the idle mark).
    Never,
    /// It may point at it, lazily: the position is written with the next write.
    Unwritten,
    /// The caller just wrote it as the stored cursor.
    Written,
}

/// Per-session delivery progress.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The cursor as stored.
    stored: Option<ItemId>,
    /// A later item handled without an SMS and not yet written.
    unwritten: Option<ItemId>,
    /// Hashes of recently handled ids, a ring.
    recent: [u64; RECENT],
    next_slot: u8,
    /// AbsoluteTime (ms) of the newest item handled from the transcript.
    high_water_ms: Option<i64>,
    /// Parts of the item in hand already accepted by SNS: (id hash, count).
    partial: Option<(u64, u16)>,
}

impl Progress {
    /// Progress starting at the stored cursor (`None`: nothing of this chat delivered yet).
    pub fn new(stored: Option<ItemId>) -> Self {
        let mut progress = Self {
            stored: None,
            unwritten: None,
            recent: [0; RECENT],
            next_slot: 0,
            high_water_ms: None,
            partial: None,
        };
        if let Some(id) = &stored {
            progress.remember(id);
        }
        progress.stored = stored;
        progress
    }

    /// Where catch-up starts: the newest handled item (inclusive), or the oldest item.
    pub fn start(&self) -> TranscriptStart {
        self.unwritten
            .as_ref()
            .or(self.stored.as_ref())
            .map_or(TranscriptStart::Oldest, |id| {
                TranscriptStart::FromItem(id.clone())
            })
    }

    /// Whether `item` was already handled.
    pub fn is_seen(&self, item: &TranscriptItem, source: Source) -> bool {
        if self.recent.contains(&id_hash(&item.id)) {
            return true;
        }
        source == Source::Stream
            && matches!(
                (self.high_water_ms, time_ms(&item.absolute_time)),
                (Some(high), Some(time)) if time < high
            )
    }

    /// Records that `item` was handled, and what the cursor may do with it.
    pub fn mark(&mut self, item: &TranscriptItem, source: Source, cursor: AsCursor) {
        self.remember(&item.id);
        if source == Source::Transcript
            && let Some(time) = time_ms(&item.absolute_time)
        {
            self.high_water_ms = Some(self.high_water_ms.map_or(time, |high| high.max(time)));
        }
        if self
            .partial
            .is_some_and(|(hash, _)| hash == id_hash(&item.id))
        {
            self.partial = None;
        }
        match cursor {
            AsCursor::Never => {}
            AsCursor::Unwritten => self.unwritten = Some(item.id.clone()),
            AsCursor::Written => {
                self.stored = Some(item.id.clone());
                self.unwritten = None;
            }
        }
    }

    /// The cursor position handled but not yet written, if any.
    pub fn unwritten(&self) -> Option<&ItemId> {
        self.unwritten.as_ref()
    }

    /// Records that `id` was written as the stored cursor.
    pub fn written(&mut self, id: &ItemId) {
        if self.unwritten.as_ref() == Some(id) {
            self.unwritten = None;
        }
        self.stored = Some(id.clone());
    }

    /// How many parts of item `id` SNS already accepted (so a retry resumes after them).
    pub fn parts_done(&self, id: &ItemId) -> usize {
        match self.partial {
            Some((hash, done)) if hash == id_hash(id) => usize::from(done),
            _ => 0,
        }
    }

    /// Records that SNS accepted `done` parts of item `id`.
    pub fn parts_sent(&mut self, id: &ItemId, done: usize) {
        self.partial = Some((id_hash(id), u16::try_from(done).unwrap_or(u16::MAX)));
    }

    fn remember(&mut self, id: &ItemId) {
        let slot = usize::from(self.next_slot) % RECENT;
        self.recent[slot] = id_hash(id);
        // RECENT fits a u8, so the cast back is lossless.
        self.next_slot = u8::try_from((slot + 1) % RECENT).unwrap_or(0);
    }
}

/// A hash of an item id. Collisions within a 16-entry window are negligible (64 bits),
/// and 0 is reserved for "empty slot".
fn id_hash(id: &ItemId) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.as_str().hash(&mut hasher);
    hasher.finish().max(1)
}

fn time_ms(absolute_time: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(absolute_time)
        .ok()
        .map(|time| time.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use bridge_core::ports::ItemKind;

    use super::*;

    fn item(id: &str, time: &str) -> TranscriptItem {
        TranscriptItem {
            id: ItemId::new(id).unwrap(),
            kind: ItemKind::Message,
            content_type: "text/plain".to_owned(),
            content: Some("x".to_owned()),
            role: None,
            display_name: None,
            absolute_time: time.to_owned(),
            contact_id: None,
            related_contact_id: None,
            attachment_names: Vec::new(),
        }
    }

    fn id(value: &str) -> ItemId {
        ItemId::new(value).unwrap()
    }

    #[test]
    fn catch_up_starts_at_the_stored_cursor_and_skips_it() {
        let progress = Progress::new(Some(id("i-3")));
        assert_eq!(progress.start(), TranscriptStart::FromItem(id("i-3")));
        assert!(progress.is_seen(&item("i-3", "2024-01-01T00:00:03.000Z"), Source::Transcript));
        assert!(!progress.is_seen(&item("i-4", "2024-01-01T00:00:04.000Z"), Source::Transcript));
        assert_eq!(Progress::new(None).start(), TranscriptStart::Oldest);
    }

    #[test]
    fn stream_items_catch_up_handled_are_duplicates() {
        let mut progress = Progress::new(None);
        for (n, time) in [(1, "00:01"), (2, "00:02"), (3, "00:03")] {
            let it = item(&format!("i-{n}"), &format!("2024-01-01T00:{time}.000Z"));
            progress.mark(&it, Source::Transcript, AsCursor::Written);
        }
        // Same id, arriving on the socket after catch-up read it.
        assert!(progress.is_seen(&item("i-3", "2024-01-01T00:00:03.000Z"), Source::Stream));
        // Older than the newest catch-up item: catch-up read it even if the ring forgot it.
        assert!(progress.is_seen(&item("i-0", "2024-01-01T00:00:00.500Z"), Source::Stream));
        // Newer: a live item.
        assert!(!progress.is_seen(&item("i-4", "2024-01-01T00:00:04.000Z"), Source::Stream));
        // The time rule never hides a transcript item (catch-up trusts the transcript).
        assert!(!progress.is_seen(&item("i-0", "2024-01-01T00:00:00.500Z"), Source::Transcript));
    }

    #[test]
    fn skipped_items_move_the_cursor_lazily_and_in_order() {
        let mut progress = Progress::new(Some(id("i-1")));
        progress.mark(
            &item("i-2", "2024-01-01T00:00:02.000Z"),
            Source::Stream,
            AsCursor::Unwritten,
        );
        assert_eq!(progress.unwritten(), Some(&id("i-2")));
        // Catch-up after a reconnect resumes after the skipped item, even unwritten.
        assert_eq!(progress.start(), TranscriptStart::FromItem(id("i-2")));
        // A typing event or receipt never becomes the cursor.
        progress.mark(
            &item("t-1", "2024-01-01T00:00:03.000Z"),
            Source::Stream,
            AsCursor::Never,
        );
        assert_eq!(progress.unwritten(), Some(&id("i-2")));
        // A delivered item is written by the caller and supersedes the lazy position.
        progress.mark(
            &item("i-3", "2024-01-01T00:00:04.000Z"),
            Source::Stream,
            AsCursor::Written,
        );
        assert_eq!(progress.unwritten(), None);
        assert_eq!(progress.start(), TranscriptStart::FromItem(id("i-3")));
    }

    #[test]
    fn written_clears_only_the_matching_lazy_position() {
        let mut progress = Progress::new(None);
        progress.mark(&item("i-1", "x"), Source::Stream, AsCursor::Unwritten);
        progress.written(&id("i-0"));
        assert_eq!(progress.unwritten(), Some(&id("i-1")));
        progress.written(&id("i-1"));
        assert_eq!(progress.unwritten(), None);
    }

    #[test]
    fn recent_ring_forgets_after_sixteen() {
        let mut progress = Progress::new(None);
        for n in 0..=RECENT {
            progress.mark(
                &item(&format!("i-{n}"), "bad time"),
                Source::Stream,
                AsCursor::Never,
            );
        }
        assert!(!progress.is_seen(&item("i-0", "bad time"), Source::Stream));
        assert!(progress.is_seen(&item(&format!("i-{RECENT}"), "bad time"), Source::Stream));
    }

    #[test]
    fn partial_parts_resume_and_clear_when_done() {
        let mut progress = Progress::new(None);
        progress.parts_sent(&id("i-1"), 2);
        assert_eq!(progress.parts_done(&id("i-1")), 2);
        assert_eq!(progress.parts_done(&id("i-2")), 0);
        progress.mark(&item("i-1", "x"), Source::Stream, AsCursor::Written);
        assert_eq!(progress.parts_done(&id("i-1")), 0);
    }

    #[test]
    fn progress_stays_small() {
        assert!(
            std::mem::size_of::<Progress>() <= 256,
            "{}",
            std::mem::size_of::<Progress>()
        );
    }
}
