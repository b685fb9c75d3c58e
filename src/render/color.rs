//! Terminal colour, hand-written: a few SGR escape codes, the `--color auto|always|never` choice and
//! the `NO_COLOR` convention (<https://no-color.org>). Renderers lay text out first and colour it last,
//! so escape codes never count towards a column width. Only table output is ever coloured; JSON and
//! YAML never are.

use std::ffi::OsStr;

/// `--color`: when to colour the table output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset or empty.
    #[default]
    Auto,
    /// Always colour, even into a pipe or a file (NO_COLOR is ignored).
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour output written to this process's stdout.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        self.decide(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        )
    }

    /// The rule itself: `always` and `never` win; `auto` colours a terminal unless `NO_COLOR` holds
    /// a non-empty value.
    pub fn decide(self, stdout_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// A text style: one SGR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Green,
    Yellow,
    Red,
    Blue,
    /// Faint: for what matters least (rejected and untestable suites).
    Dim,
    Bold,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Blue => "34",
            Style::Dim => "2",
            Style::Bold => "1",
        }
    }
}

/// Colours text, or passes it through unchanged when colour is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Painter {
    enabled: bool,
}

impl Painter {
    /// A painter that never colours.
    pub const OFF: Painter = Painter { enabled: false };

    pub fn new(enabled: bool) -> Painter {
        Painter { enabled }
    }

    pub fn enabled(self) -> bool {
        self.enabled
    }

    /// `text` in `style` (unchanged when colour is off or there is no style or no text).
    pub fn paint(self, text: &str, style: Option<Style>) -> String {
        match style {
            Some(s) if self.enabled && !text.is_empty() => {
                format!("\x1b[{}m{text}\x1b[0m", s.code())
            }
            _ => text.to_string(),
        }
    }

    /// `text` left-aligned in `width` columns, coloured without colouring (or counting) the padding.
    pub fn padded(self, text: &str, width: usize, style: Option<Style>) -> String {
        let pad = width.saturating_sub(text.chars().count());
        format!("{}{}", self.paint(text, style), " ".repeat(pad))
    }

    /// Colours one column of a finished `psql`-style table (header, `---+---` rule, rows): each cell
    /// of column `column` (0-based) whose trimmed text gets a style from `style_of`. The layout is
    /// read off the rule line, so widths are computed before any escape code exists; cells that
    /// continue a multi-line row (empty in this column) stay as they are.
    pub fn column(
        self,
        table: &str,
        column: usize,
        style_of: impl Fn(&str) -> Option<Style>,
    ) -> String {
        if !self.enabled {
            return table.to_string();
        }
        let lines: Vec<&str> = table.split('\n').collect();
        let Some(rule) = lines.iter().position(|l| is_rule(l)) else {
            return table.to_string();
        };
        // Column boundaries, as char positions of `+` on the rule line.
        let rule_chars: Vec<char> = lines[rule].chars().collect();
        let mut bounds: Vec<usize> = vec![0];
        bounds.extend(
            rule_chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '+')
                .map(|(i, _)| i + 1),
        );
        let Some(&start) = bounds.get(column) else {
            return table.to_string();
        };
        let end = bounds
            .get(column + 1)
            .map(|b| b - 1)
            .unwrap_or(rule_chars.len());
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if i <= rule {
                out.push(line.to_string());
                continue;
            }
            let chars: Vec<char> = line.chars().collect();
            if chars.len() < start || (end < chars.len() && chars[end] != '|') {
                out.push(line.to_string());
                continue;
            }
            let stop = end.min(chars.len());
            let cell: String = chars[start..stop].iter().collect();
            let word = cell.trim();
            let Some(style) = style_of(word).filter(|_| !word.is_empty()) else {
                out.push(line.to_string());
                continue;
            };
            // A character count: `chars` below is indexed by character, not byte.
            let lead = cell.chars().take_while(|c| c.is_whitespace()).count();
            let before: String = chars[..start + lead].iter().collect();
            let after: String = chars[start + lead + word.chars().count()..]
                .iter()
                .collect();
            out.push(format!("{before}{}{after}", self.paint(word, Some(style))));
        }
        out.join("\n")
    }
}

/// A `psql` rule line: dashes and `+` only.
fn is_rule(line: &str) -> bool {
    line.contains('-') && line.chars().all(|c| c == '-' || c == '+')
}

/// Removes SGR escape sequences (`ESC [ … m`): what the text looks like without colour.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Colours the Result column of `check`'s summary table: PASS green, FAIL red, ERROR yellow.
pub fn check_table(table: &str, painter: Painter) -> String {
    painter.column(table, 1, |word| match word {
        "PASS" => Some(Style::Green),
        "FAIL" => Some(Style::Red),
        "ERROR" => Some(Style::Yellow),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_terminal_and_no_color() {
        let empty = OsStr::new("");
        let one = OsStr::new("1");
        assert!(ColorChoice::Auto.decide(true, None));
        assert!(ColorChoice::Auto.decide(true, Some(empty)));
        assert!(!ColorChoice::Auto.decide(true, Some(one)));
        assert!(!ColorChoice::Auto.decide(false, None));
        assert!(ColorChoice::Always.decide(false, Some(one)));
        assert!(!ColorChoice::Never.decide(true, None));
    }

    #[test]
    fn off_is_plain_and_strip_undoes_paint() {
        assert_eq!(
            Painter::OFF.paint("accepted", Some(Style::Green)),
            "accepted"
        );
        let on = Painter::new(true);
        let s = on.paint("accepted", Some(Style::Green));
        assert_eq!(s, "\x1b[32maccepted\x1b[0m");
        assert_eq!(strip(&s), "accepted");
        assert_eq!(strip(&on.padded("ok", 5, Some(Style::Red))), "ok   ");
        assert_eq!(on.paint("", Some(Style::Red)), "");
    }

    #[test]
    fn column_colours_cells_without_moving_anything() {
        let table = " Target | Result | Reasons\n\
                     --------+--------+---------\n \
                     a:443  | PASS   |\n \
                     b:443  | FAIL   | - one\n        \
                            |        | - two\n \
                     c:443  | ERROR  | PASS";
        let on = check_table(table, Painter::new(true));
        assert_eq!(strip(&on), table);
        assert!(on.contains("| \x1b[32mPASS\x1b[0m   |"));
        assert!(on.contains("| \x1b[31mFAIL\x1b[0m   |"));
        assert!(on.contains("| \x1b[33mERROR\x1b[0m  |"));
        // Only the Result column: a reason that reads PASS stays plain.
        assert!(on.ends_with("| PASS"));
        assert_eq!(check_table(table, Painter::OFF), table);
    }
}
