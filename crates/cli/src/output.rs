//! Small formatting helpers shared by commands.

/// Bytes as a short decimal size; negative counts (the daemon's "not computed") print `?`.
pub fn bytes(n: i64) -> String {
    u64::try_from(n).map_or_else(|_| "?".to_owned(), swab_engine::format_bytes)
}

/// Writes `text` to stdout; a closed pipe (`swab doctor | head -1`) is not an error.
pub fn print(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1.0 kB");
        assert_eq!(bytes(1_234_567_890), "1.2 GB");
        assert_eq!(bytes(-1), "?");
    }
}
