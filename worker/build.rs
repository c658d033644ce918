//! Embeds the icon, version information and application manifest when building for Windows
//! (nothing elsewhere).

include!("../assets/windows/resources.rs");

fn main() {
    // A console tool and the service: runs as invoked; `service install` needs an
    // administrator's prompt and says so.
    embed_windows_resources("Mailpull Worker", "mailpull-worker.exe", "asInvoker");
}
