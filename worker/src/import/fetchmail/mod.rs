//! A `.fetchmailrc` to Mailpull profiles: [`lex`] (tokens), [`syntax`] (the keyword table),
//! [`parse`] (entries and options), [`settings`] (the options in force for one user),
//! [`map`] and `local` (what they mean for a profile), [`reasons`] (why an option has no
//! equivalent). All pure: text in, profiles and findings out.

pub mod lex;
mod local;
pub mod map;
pub mod parse;
pub mod reasons;
pub mod settings;
pub mod syntax;

use super::{Import, ImportError, Options};

/// The profiles of the `.fetchmailrc` `text`, read from `file`.
pub fn import(text: &str, file: &str, options: &Options) -> Result<Import, ImportError> {
    let error = |line, expected| ImportError {
        file: file.to_string(),
        line,
        expected,
    };
    let tokens = lex::tokenize(text).map_err(|e| error(e.line, e.expected))?;
    let rc = parse::parse(&tokens).map_err(|e| error(e.line, e.expected))?;
    Ok(map::map(file, &rc, options))
}
