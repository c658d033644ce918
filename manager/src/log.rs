//! The live log as the window keeps it: the last [`CAPACITY`] lines from the worker, each
//! with its level and profile read from the formatted line, a filter by profile and level,
//! and pause (lines arriving while paused wait and are shown on resume).

use std::collections::VecDeque;
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
    pub text: String,
    /// `None` for lines that are not tracing's format (they pass every level filter).
    pub level: Option<Level>,
    pub profile: Option<String>,
}

impl LogLine {
    /// Reads `2026-01-02T03:04:05.678Z  INFO poll{profile="isp"}: delivered uid=7`.
    pub fn parse(text: String) -> LogLine {
        let level = text.split_whitespace().take(2).find_map(Level::parse);
        let profile = profile_of(&text);
        LogLine {
            text,
            level,
            profile,
        }
    }
}

/// The value of the first `profile=` field, quoted or not.
fn profile_of(text: &str) -> Option<String> {
    let start = text.find("profile=")? + "profile=".len();
    let rest = &text[start..];
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()?
    } else {
        rest.split([' ', '}', ',', ':']).next()?
    };
    (!value.is_empty()).then(|| value.to_string())
}

/// What the log panel shows; persisted between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogFilter {
    /// `None`: every profile.
    pub profile: Option<String>,
    /// Lines at this level or more severe.
    pub level: Level,
}

impl Default for LogFilter {
    fn default() -> Self {
        LogFilter {
            profile: None,
            level: Level::Info,
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
        level_ok && profile_ok
    }
}

#[derive(Debug, Default)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    /// Lines that arrived while paused.
    held: Vec<LogLine>,
    paused: bool,
}

impl LogBuffer {
    pub fn push(&mut self, text: String) {
        let line = LogLine::parse(text);
        if self.paused {
            self.held.push(line);
            if self.held.len() > CAPACITY {
                self.held.remove(0);
            }
        } else {
            self.keep(line);
        }
    }

    fn keep(&mut self, line: LogLine) {
        self.lines.push_back(line);
        while self.lines.len() > CAPACITY {
            self.lines.pop_front();
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

    pub fn clear(&mut self) {
        self.lines.clear();
        self.held.clear();
    }

    pub fn visible<'a>(&'a self, filter: &'a LogFilter) -> impl Iterator<Item = &'a LogLine> {
        self.lines.iter().filter(|line| filter.shows(line))
    }

    /// The visible lines as text, for the clipboard.
    pub fn visible_text(&self, filter: &LogFilter) -> String {
        let mut out = String::new();
        for line in self.visible(filter) {
            out.push_str(&line.text);
            out.push('\n');
        }
        out
    }
}

/// The newest `mailpull.log*` file in the worker's log folder, or the folder itself.
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

    #[test]
    fn reads_level_and_profile_from_tracing_lines() {
        let line = LogLine::parse(
            "2026-01-02T03:04:05.678Z  INFO poll{profile=\"isp\"}: delivered uid=7".into(),
        );
        assert_eq!(line.level, Some(Level::Info));
        assert_eq!(line.profile.as_deref(), Some("isp"));
        let line = LogLine::parse("2026-01-02T03:04:05Z  WARN profile=work: slow".into());
        assert_eq!(line.level, Some(Level::Warn));
        assert_eq!(line.profile.as_deref(), Some("work"));
        let line = LogLine::parse("plain text".into());
        assert_eq!((line.level, line.profile), (None, None));
    }

    #[test]
    fn filters_by_profile_and_level_and_holds_lines_while_paused() {
        let mut buffer = LogBuffer::default();
        buffer.push("t  INFO poll{profile=\"a\"}: one".into());
        buffer.push("t DEBUG poll{profile=\"a\"}: two".into());
        buffer.push("t ERROR poll{profile=\"b\"}: three".into());
        let mut filter = LogFilter::default();
        assert_eq!(buffer.visible(&filter).count(), 2);
        filter.profile = Some("a".into());
        assert_eq!(
            buffer.visible_text(&filter),
            "t  INFO poll{profile=\"a\"}: one\n"
        );
        filter.level = Level::Debug;
        assert_eq!(buffer.visible(&filter).count(), 2);

        buffer.set_paused(true);
        buffer.push("t  INFO poll{profile=\"a\"}: four".into());
        assert_eq!((buffer.visible(&filter).count(), buffer.held()), (2, 1));
        buffer.set_paused(false);
        assert_eq!((buffer.visible(&filter).count(), buffer.held()), (3, 0));
    }
}
