//! Embeds the icon, version information and application manifest when building for Windows
//! (nothing elsewhere).

include!("../assets/windows/resources.rs");

fn main() {
    // The worker's pipe and %ProgramData%\Mailpull admit SYSTEM and Administrators only, and
    // under UAC an administrator's unelevated token does not count: ask for elevation.
    embed_windows_resources(
        "Mailpull Pull Manager",
        "mailpull-manager.exe",
        "requireAdministrator",
    );
}
