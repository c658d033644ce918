//! Embeds the icon and version information when building for Windows (nothing elsewhere).

include!("../assets/windows/resources.rs");

fn main() {
    embed_windows_resources("Mailpull Worker", "mailpull-worker.exe");
}
