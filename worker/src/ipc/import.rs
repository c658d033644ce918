//! The pipe's import: the text of a fetchmailrc or getmailrc, handed over by the Pull Manager,
//! becomes profiles exactly as `mailpull-worker import` makes them (the same mapping, the same
//! check, the same report), with names already in the running configuration numbered. The
//! passwords found go to this worker's OS keyring as the command stores them (never replacing
//! a different password stored under the same name); nothing is written to the configuration:
//! the window saves each profile through `save_profile`, which checks it against the rest.

use mailpull_shared::ipc::{ErrorKind, ImportFormat, IpcError, Response, WirePassword};
use tracing::info;

use super::handler::WorkerState;
use crate::import::run::{self, Format, OsKeyring};
use crate::import::{Import, Options};

impl WorkerState {
    /// [`mailpull_shared::ipc::Request::Import`].
    pub(super) async fn import(
        &self,
        format: ImportFormat,
        file: String,
        text: WirePassword,
    ) -> Result<Response, IpcError> {
        let format = match format {
            ImportFormat::Fetchmailrc => Format::Fetchmail,
            ImportFormat::Getmailrc => Format::Getmail,
        };
        let taken: Vec<String> = self
            .config()
            .profiles
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let texts = vec![(file.clone(), text.expose().to_string())];
        drop(text);
        let mut import = run::import_texts(format, &texts, &Options::default())
            .map_err(|err| IpcError::new(ErrorKind::Invalid, format!("nothing imported: {err}")))?;
        rename_taken(&mut import, &taken);
        let target = "the configuration";
        run::checked_text(format, std::slice::from_ref(&file), &mut import, target)
            .map_err(|err| IpcError::new(ErrorKind::Invalid, format!("{err:#}")))?;
        let (import, passwords) = tokio::task::spawn_blocking(move || {
            let passwords = run::store_passwords(&import, "", &mut OsKeyring);
            (import, passwords)
        })
        .await
        .map_err(|err| IpcError::new(ErrorKind::Internal, err.to_string()))?;
        let report = run::report(&import, target, &passwords);
        info!(file = %file, profiles = import.profiles.len(), "configuration imported over IPC");
        Ok(Response::Imported {
            profiles: import.profiles.into_iter().map(|p| p.profile).collect(),
            report,
        })
    }
}

/// Numbers each imported profile whose name the configuration (or an earlier one of the
/// import) has already: `isp` becomes `isp-2`.
fn rename_taken(import: &mut Import, taken: &[String]) {
    let mut used: Vec<String> = taken.to_vec();
    for imported in &mut import.profiles {
        let base = imported.name().to_string();
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        used.push(name.clone());
        imported.profile.name = Some(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ImportedProfile;

    fn named(name: &str) -> ImportedProfile {
        let profile = mailpull_shared::config::raw::RawProfile {
            name: Some(name.into()),
            ..Default::default()
        };
        ImportedProfile {
            profile,
            password: None,
            file: "rc".into(),
            line: 1,
        }
    }

    #[test]
    fn names_the_configuration_has_already_are_numbered() {
        let mut import = Import {
            profiles: vec![named("isp"), named("other"), named("isp-2")],
            findings: Vec::new(),
        };
        rename_taken(&mut import, &["isp".to_string(), "isp-2".to_string()]);
        let names: Vec<&str> = import.profiles.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["isp-3", "other", "isp-2-2"]);
    }
}
