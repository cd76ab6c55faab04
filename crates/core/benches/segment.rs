//! Benchmarks for the relay's per-message text path: markdown rendering and SMS
//! segmentation on inputs the size of typical agent replies.

use std::hint::black_box;

use bridge_core::render::markdown_to_sms;
use bridge_core::segment::{SegmentOptions, segment};
use criterion::{Criterion, criterion_group, criterion_main};

const AGENT_REPLY: &str = "\
Hi **Anna**, thanks for waiting!

I checked your order *#48213*. Here is what happens next:

1. Your parcel leaves our warehouse **today**.
2. You get a tracking link by email: see [your orders](https://shop.example.com/orders).
3. Delivery takes 2-3 working days.
   - Saturday delivery is available for a small fee.
   - Pick-up points: <https://shop.example.com/pickup>

> Tip: reply `STOP` any time to opt out.

Anything else I can help with?";

/// Repeats `unit` until the text holds exactly `chars` characters.
fn text_of(unit: &str, chars: usize) -> String {
    unit.chars().cycle().take(chars).collect()
}

fn benches(c: &mut Criterion) {
    let gsm = text_of(
        "Your appointment is confirmed for Monday at 10:00 (room 4B). ",
        500,
    );
    let emoji = text_of(
        "Great news 🎉 your parcel 📦 is on its way 🚚 see you soon 👋🏽 ",
        500,
    );
    let plain = SegmentOptions::default();
    let numbered = SegmentOptions { numbering: true };

    c.bench_function("segment_gsm_500_chars", |b| {
        b.iter(|| segment(black_box(&gsm), black_box(&plain)))
    });
    c.bench_function("segment_gsm_500_chars_numbered", |b| {
        b.iter(|| segment(black_box(&gsm), black_box(&numbered)))
    });
    c.bench_function("segment_emoji_500_chars", |b| {
        b.iter(|| segment(black_box(&emoji), black_box(&plain)))
    });
    c.bench_function("markdown_to_sms_agent_reply", |b| {
        b.iter(|| markdown_to_sms(black_box(AGENT_REPLY)))
    });
}

criterion_group!(text_path, benches);
criterion_main!(text_path);
