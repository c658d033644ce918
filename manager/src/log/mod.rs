//! The live log as the window keeps it: the last [`CAPACITY`] lines from the worker, each
//! with its level and profile read from the formatted line and its words for a person, a
//! filter by profile, level and search text, and pause (lines arriving while paused wait and
//! are shown on resume). A line already kept is not kept twice (the worker sends its last
//! lines again when the window reconnects).
//!
//! Layout: `line` (a tracing line taken apart), `plain` (its time and event in plain words).

mod line;
mod plain;

pub use plain::size;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Lines kept; older ones are dropped.
pub const CAPACITY: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    fn parse(word: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.as_str() == word)
    }
}

/// One line of the worker's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// As the worker wrote it (the log file has the same).
    pub text: String,
    /// `None` for lines that are not tracing's format (they pass every level filter).
    pub level: Option<Level>,
    pub profile: Option<String>,
    /// Local time without fractions, when the line has a time.
    pub time: Option<String>,
    /// The event in plain words.
    pub words: String,
}

impl LogLine {
    /// Reads `2026-01-02T03:04:05.678Z  INFO poll{profile="isp"}: delivered uid=7`.
    pub fn parse(text: String) -> LogLine {
        let parts = line::parse(&text);
        let level = parts.level.and_then(Level::parse);
        let profile = parts.field("profile").map(str::to_string);
        let time = parts.time.and_then(plain::local_time);
        let words = if parts.level.is_some() {
            plain::words(&parts)
        } else {
            text.clone()
        };
        LogLine {
            level,
            profile,
            time,
            words,
            text,
        }
    }

    /// The line as the window shows it: `09:27:57  alice  delivered a message ...`, with
    /// `warning:` or `error:` before the words of those levels.
    pub fn shown(&self) -> String {
        let mut out = String::new();
        if let Some(time) = &self.time {
            out.push_str(time);
            out.push_str("  ");
        }
        if let Some(profile) = &self.profile {
            out.push_str(profile);
            out.push_str(": ");
        }
        match self.level {
            Some(Level::Error) => out.push_str("error: "),
            Some(Level::Warn) => out.push_str("warning: "),
            _ => {}
        }
        out.push_str(&self.words);
        out
    }
}

/// What the log panel shows; persisted between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogFilter {
    /// `None`: every profile.
    pub profile: Option<String>,
    /// Lines at this level or more severe.
    pub level: Level,
    /// Lines whose words or raw text contain this (any case); not remembered.
    #[serde(skip)]
    pub search: String,
}

impl Default for LogFilter {
    fn default() -> Self {
        LogFilter {
            profile: None,
            level: Level::Info,
            search: String::new(),
        }
    }
}

impl LogFilter {
    pub fn shows(&self, line: &LogLine) -> bool {
        let level_ok = line.level.is_none_or(|level| level <= self.level);
        let profile_ok = match &self.profile {
            None => true,
            Some(wanted) => line.profile.as_deref() == Some(wanted.as_str()),
        };
        let search = self.search.trim().to_lowercase();
        let search_ok = search.is_empty()
            || line.words.to_lowercase().contains(&search)
            || line.text.to_lowercase().contains(&search);
        level_ok && profile_ok && search_ok
    }
}

#[derive(Debug, Default)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    /// The raw text of every line kept or held, so a line sent again is not kept twice.
    seen: HashSet<String>,
    /// Lines that arrived while paused.
    held: Vec<LogLine>,
    paused: bool,
}

impl LogBuffer {
    pub fn push(&mut self, text: String) {
        if self.seen.contains(&text) {
            return;
        }
        self.seen.insert(text.clone());
        let line = LogLine::parse(text);
        if self.paused {
            self.held.push(line);
            if self.held.len() > CAPACITY {
                let dropped = self.held.remove(0);
                self.seen.remove(&dropped.text);
            }
        } else {
            self.keep(line);
        }
    }

    fn keep(&mut self, line: LogLine) {
        self.lines.push_back(line);
        while self.lines.len() > CAPACITY {
            if let Some(dropped) = self.lines.pop_front() {
                self.seen.remove(&dropped.text);
            }
        }
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Lines held back by the pause.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            for line in std::mem::take(&mut self.held) {
                self.keep(line);
            }
        }
    }

    /// Empties the panel; the lines cleared are not shown again when the worker repeats them.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.held.clear();
        // The cleared lines stay seen; a window cleared again and again forgets them.
        if self.seen.len() > 4 * CAPACITY {
            self.seen.clear();
        }
    }

    pub fn visible<'a>(&'a self, filter: &'a LogFilter) -> impl Iterator<Item = &'a LogLine> {
        self.lines.iter().filter(|line| filter.shows(line))
    }

    /// The visible lines as shown, for the clipboard.
    pub fn visible_text(&self, filter: &LogFilter) -> String {
        let mut out = String::new();
        for line in self.visible(filter) {
            out.push_str(&line.shown());
            out.push('\n');
        }
        out
    }
}

/// The newest `mailpull.*` file (`mailpull.YYYY-MM-DD.log`) in the worker's log folder, or the
/// folder itself.
pub fn newest_log_file(dir: &Path) -> PathBuf {
    let newest = std::fs::read_dir(dir).ok().and_then(|entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("mailpull"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .max()
            .map(|(_, path)| path)
    });
    newest.unwrap_or_else(|| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-01-02T03:04:05.678901Z";

    #[test]
    fn reads_level_and_profile_from_tracing_lines() {
        let line = LogLine::parse(format!(
            "{T}  INFO poll{{profile=\"isp\"}}: delivered uid=7"
        ));
        assert_eq!(line.level, Some(Level::Info));
        assert_eq!(line.profile.as_deref(), Some("isp"));
        let line = LogLine::parse(format!("{T}  WARN slow profile=work"));
        assert_eq!(line.level, Some(Level::Warn));
        assert_eq!(line.profile.as_deref(), Some("work"));
        assert!(
            line.shown().ends_with("work: warning: slow"),
            "{}",
            line.shown()
        );
        assert!(!line.shown().contains(".678"), "no fractions of seconds");
        let line = LogLine::parse("plain text".into());
        assert_eq!(line.shown(), "plain text");
        assert_eq!((line.level, line.profile), (None, None));
    }

    #[test]
    fn filters_by_profile_level_and_search_and_holds_lines_while_paused() {
        let mut buffer = LogBuffer::default();
        buffer.push(format!("{T}  INFO poll{{profile=a}}: one"));
        buffer.push(format!("{T} DEBUG poll{{profile=a}}: two"));
        buffer.push(format!("{T} ERROR poll{{profile=b}}: three"));
        let mut filter = LogFilter::default();
        assert_eq!(buffer.visible(&filter).count(), 2);
        filter.profile = Some("a".into());
        assert!(
            buffer.visible_text(&filter).ends_with("a: one\n"),
            "{}",
            buffer.visible_text(&filter)
        );
        filter.level = Level::Debug;
        assert_eq!(buffer.visible(&filter).count(), 2);
        filter.search = "TWO".into();
        assert_eq!(buffer.visible(&filter).count(), 1, "search ignores case");
        filter.search.clear();

        buffer.set_paused(true);
        buffer.push(format!("{T}  INFO poll{{profile=a}}: four"));
        assert_eq!((buffer.visible(&filter).count(), buffer.held()), (2, 1));
        buffer.set_paused(false);
        assert_eq!((buffer.visible(&filter).count(), buffer.held()), (3, 0));
    }

    /// The worker sends its last lines again on every connection: each is kept once.
    #[test]
    fn a_line_sent_again_is_kept_once() {
        let mut buffer = LogBuffer::default();
        for _ in 0..2 {
            buffer.push(format!("{T}  INFO poll{{profile=a}}: one"));
            buffer.push(format!("{T}  INFO poll{{profile=a}}: two"));
        }
        assert_eq!(buffer.visible(&LogFilter::default()).count(), 2);
        buffer.clear();
        buffer.push(format!("{T}  INFO poll{{profile=a}}: two"));
        assert_eq!(
            buffer.visible(&LogFilter::default()).count(),
            0,
            "cleared stays"
        );
    }
}
