//! Progress and colour for a person at a terminal; plain lines for a pipe or a log.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Whether standard error is a terminal a person watches.
fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress display for work counted in messages: a bar redrawn in place on a terminal, a
/// line now and then otherwise (so a log shows the run moving without a line per message).
pub struct Progress {
    label: &'static str,
    terminal: bool,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
}

/// How often a plain (non-terminal) progress line is written at most.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often the bar is redrawn at most.
const BAR_EVERY: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 30;

impl Progress {
    pub fn new(label: &'static str) -> Self {
        Progress {
            label,
            terminal: stderr_is_terminal(),
            started: Instant::now(),
            last: None,
            drawn: false,
        }
    }

    /// `done` of `total` messages worked.
    pub fn update(&mut self, done: usize, total: usize) {
        let every = if self.terminal {
            BAR_EVERY
        } else {
            PLAIN_EVERY
        };
        if self.last.is_some_and(|t| t.elapsed() < every) && done < total {
            return;
        }
        self.last = Some(Instant::now());
        let line = render(
            self.label,
            done,
            total,
            self.started.elapsed(),
            self.terminal,
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r{line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends the bar's line, so what follows starts on its own.
    pub fn finish(self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// One progress line: a bar on a terminal, words otherwise.
pub fn render(label: &str, done: usize, total: usize, elapsed: Duration, bar: bool) -> String {
    let total = total.max(done);
    let secs = elapsed.as_secs();
    if !bar {
        return format!("{label}: {done} of {total} messages worked ({secs} s)");
    }
    let filled = (done * BAR_WIDTH).checked_div(total).unwrap_or(BAR_WIDTH);
    format!(
        "{label} [{}{}] {done}/{total} ({secs} s)",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled)
    )
}

/// Colours for text a person reads at a terminal (never in a pipe, never with NO_COLOR set).
#[derive(Clone, Copy)]
pub enum Colour {
    Red,
    Green,
    Yellow,
}

/// Whether standard output takes colours.
pub fn colours() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `text` in `colour` when `on`.
pub fn paint(text: &str, colour: Colour, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match colour {
        Colour::Red => 31,
        Colour::Green => 32,
        Colour::Yellow => 33,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_fills_with_the_work_and_plain_lines_say_it_in_words() {
        let t = Duration::from_secs(3);
        assert_eq!(
            render("syncing", 5, 10, t, true),
            format!("syncing [{}{}] 5/10 (3 s)", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(
            render("syncing", 5, 10, t, false),
            "syncing: 5 of 10 messages worked (3 s)"
        );
        assert!(render("syncing", 0, 0, t, true).contains(&"#".repeat(30)));
    }

    #[test]
    fn colour_is_only_added_when_asked() {
        assert_eq!(paint("clean", Colour::Green, false), "clean");
        assert_eq!(paint("clean", Colour::Green, true), "\x1b[32mclean\x1b[0m");
    }
}
