//! Embeds the icon, version information and application manifest when building for Windows
//! (nothing elsewhere).

include!("../assets/windows/resources.rs");

fn main() {
    // The window runs unelevated: the worker's pipe (and read access to %ProgramData%\Mailpull)
    // admits the local group "Mailpull Administrators", which the installer creates and puts
    // the installing user in. Only Start / Stop / Restart of the service asks for elevation
    // (`service::windows`, "runas" of mailpull-worker.exe).
    embed_windows_resources("Mailpull Pull Manager", "mailpull-manager.exe", "asInvoker");
}
