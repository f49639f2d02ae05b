//! Wall-clock time in the protocol's unit: Unix milliseconds, the unit of
//! every `*_ms` field a test builds or compares.

/// Now, in milliseconds since the Unix epoch: what certificates, requests
/// and signatures carry.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is before 1970")
        .as_millis() as u64
}
