//! File → Import on the pipe thread: the worker makes the profiles from the file's text (and
//! stores its passwords), then each profile is saved with the same `save_profile` request as
//! the form's Save; one [`Update::Imported`] says what was saved, refused and reported.

use mailpull_shared::ipc::{ClientError, ImportFormat, IpcClient, WirePassword};

use super::{Outbox, Update, fatal};

/// The profiles of an import the worker saved and refused, and its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub report: String,
    pub saved: Vec<String>,
    pub refused: Vec<(String, String)>,
}

/// Imports, saves each profile, reports; `Err` only when the connection broke.
pub(super) async fn import_and_save(
    client: &mut IpcClient,
    format: ImportFormat,
    file: &str,
    text: WirePassword,
    out: &Outbox,
) -> Result<(), ClientError> {
    let (profiles, report) = match client.import(format, file, text).await {
        Ok(imported) => imported,
        Err(err) if !fatal(&err) => {
            out.send(Update::Imported(Err(err.to_string())));
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    let mut outcome = ImportOutcome {
        report,
        saved: Vec::new(),
        refused: Vec::new(),
    };
    for profile in profiles {
        let name = profile.name.clone().unwrap_or_default();
        match client.save_profile(None, profile).await {
            Ok(_) => outcome.saved.push(name),
            Err(err) if !fatal(&err) => outcome.refused.push((name, err.to_string())),
            Err(err) => return Err(err),
        }
    }
    out.send(Update::Imported(Ok(outcome)));
    Ok(())
}
