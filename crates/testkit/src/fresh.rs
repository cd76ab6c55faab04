//! Fresh names and phone numbers: the emulators are shared by every test and never reset,
//! so each test keeps to its own tables, topics and customers.

/// `prefix` and 16 random hex digits.
pub fn name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A random US customer number, `+1555` and seven digits, never ending in 99 (moto treats
/// such numbers as opted out).
pub fn customer() -> String {
    loop {
        let digits = rand::random::<u32>() % 10_000_000;
        if digits % 100 != 99 {
            return format!("+1555{digits:07}");
        }
    }
}

/// [`customer`], parsed.
///
/// # Panics
/// Never: the number is valid E.164.
#[allow(clippy::expect_used, reason = "the number is built valid")]
pub fn customer_number() -> bridge_core::PhoneNumber {
    bridge_core::PhoneNumber::parse(&customer()).expect("a valid number")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_valid_and_never_opted_out_by_moto() {
        for _ in 0..1_000 {
            let number = customer();
            assert!(!number.ends_with("99"), "{number}");
            assert_eq!(number.len(), 12, "{number}");
            assert!(bridge_core::PhoneNumber::parse(&number).is_ok(), "{number}");
        }
        assert_ne!(name("t"), name("t"));
    }
}
