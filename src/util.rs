//! Small shared helpers: durations as people write and read them, the clock, one small
//! pseudo-random generator, one stable hash, percent-encoding, and a fallible once-per-process
//! initialisation.

use std::time::Duration;

/// Parses `5s`, `500ms`, `1.5s`, `2m` or a bare number of seconds (`5`, `0.25`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (examples: 5s, 500ms, 1.5)"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 {
        return Err(format!("'{text}' is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// `text` with control characters escaped (`\u{1b}`), for strings a peer chose (certificate names,
/// CA names) that end up on a terminal: a server must not be able to rewrite the report.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The TLS library in use, short: `OpenSSL 3.0.19` (without the build date).
pub fn tls_library() -> String {
    let full = openssl::version::version();
    full.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `250 ms`, `1.25 s`, `2 m 5 s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{} ms", ms.round() as u64)
    } else if ms < 120_000.0 {
        let s = format!("{:.2}", ms / 1000.0);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s} s")
    } else {
        let secs = d.as_secs();
        format!("{} m {} s", secs / 60, secs % 60)
    }
}

/// `text` with every byte but RFC 3986's unreserved characters percent-encoded (a query value, a
/// path segment).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_try_once_value_is_made_once_by_racing_threads_and_again_after_an_error() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static VALUE: TryOnce<usize> = TryOnce::new();
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let failed: Result<&usize, &str> = VALUE.get_or_try_init(|| Err("not yet"));
        assert_eq!(failed, Err("not yet"));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    *VALUE
                        .get_or_try_init(|| -> Result<usize, ()> {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok(MADE.fetch_add(1, Ordering::SeqCst) + 7)
                        })
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 7);
        }
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("CN=evil\u{1b}[2K\nx"), "CN=evil\\u{1b}[2K\\nx");
        assert_eq!(printable("CN=ok, O=Café"), "CN=ok, O=Café");
    }

    #[test]
    fn durations_round_trip_the_usual_spellings() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(human_duration(Duration::from_millis(1250)), "1.25 s");
        assert_eq!(human_duration(Duration::from_secs(2)), "2 s");
    }
}

/// A xorshift64 generator: deterministic for a seed, no dependency, no cryptographic use (jitter
/// between retries, and the random bytes of the no-panic tests).
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

/// FNV-1a, 64 bits: a hash that is the same on every machine and in every release (shards and
/// SARIF fingerprints depend on it).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Xorshift {
    /// A generator from `seed` (any value; zero is replaced, as xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        Xorshift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `n` pseudo-random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A value made once per process by a fallible `init` (`OnceLock::get_or_try_init` is not
/// stable): threads that ask while it is being made wait for it instead of making their own, and
/// an error leaves it unmade for the next call.
pub struct TryOnce<T> {
    cell: std::sync::OnceLock<T>,
    making: std::sync::Mutex<()>,
}

impl<T> TryOnce<T> {
    pub const fn new() -> Self {
        TryOnce {
            cell: std::sync::OnceLock::new(),
            making: std::sync::Mutex::new(()),
        }
    }

    /// The value, made by `init` on first use.
    pub fn get_or_try_init<E>(&self, init: impl FnOnce() -> Result<T, E>) -> Result<&T, E> {
        if let Some(value) = self.cell.get() {
            return Ok(value);
        }
        let _making = self.making.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = self.cell.get() {
            return Ok(value);
        }
        let value = init()?;
        Ok(self.cell.get_or_init(|| value))
    }
}

impl<T> Default for TryOnce<T> {
    fn default() -> Self {
        Self::new()
    }
}
