// Windows resources (icon and version information) for a Mailpull executable, shared by
// the build scripts of the worker and the manager through `include!`. It acts only when the
// target is Windows; there it writes a resource script into OUT_DIR and has embed-resource
// compile it with windres (mingw) or rc.exe (MSVC) and link it into the binary.

/// Embeds `assets/mailpull.ico`, a VERSIONINFO naming `description` and `exe_name`, and an
/// application manifest asking for `execution_level` (`asInvoker` or `requireAdministrator`).
fn embed_windows_resources(description: &str, exe_name: &str, execution_level: &str) {
    let manifest_dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let icon = manifest_dir.join("../assets/mailpull.ico");
    println!("cargo:rerun-if-changed={}", icon.display());
    println!("cargo:rerun-if-changed=../assets/windows/resources.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let mut numbers = version
        .split(['.', '-', '+'])
        .map(|part| part.parse::<u16>().unwrap_or(0))
        .chain(std::iter::repeat(0));
    let (major, minor, patch) = (
        numbers.next().unwrap_or(0),
        numbers.next().unwrap_or(0),
        numbers.next().unwrap_or(0),
    );
    let icon = icon
        .canonicalize()
        .expect("assets/mailpull.ico exists")
        .display()
        .to_string()
        .replace('\\', "\\\\");
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = out_dir.join("mailpull.manifest");
    std::fs::write(
        &manifest,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v1" manifestVersion="1.0">
  <assemblyIdentity type="win32" name="Mailpull.{exe_name}" version="{major}.{minor}.{patch}.0"/>
  <trustInfo xmlns="urn:schemas-microsoft-com:asm.v3">
    <security>
      <requestedPrivileges>
        <requestedExecutionLevel level="{execution_level}" uiAccess="false"/>
      </requestedPrivileges>
    </security>
  </trustInfo>
  <compatibility xmlns="urn:schemas-microsoft-com:compatibility.v1">
    <application>
      <supportedOS Id="{{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}}"/>
    </application>
  </compatibility>
</assembly>
"#
        ),
    )
    .expect("write the application manifest to OUT_DIR");
    let manifest = manifest.display().to_string().replace('\\', "\\\\");
    let script = format!(
        r#"#pragma code_page(65001)
1 ICON "{icon}"
1 24 "{manifest}"
1 VERSIONINFO
FILEVERSION {major},{minor},{patch},0
PRODUCTVERSION {major},{minor},{patch},0
FILEOS 0x40004
FILETYPE 0x1
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "CompanyName", "Mailpull"
      VALUE "FileDescription", "{description}"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "{exe_name}"
      VALUE "OriginalFilename", "{exe_name}"
      VALUE "ProductName", "Mailpull"
      VALUE "ProductVersion", "{version}"
      VALUE "LegalCopyright", "MIT OR Apache-2.0"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#
    );
    let rc = out_dir.join("mailpull.rc");
    std::fs::write(&rc, script).expect("write the resource script to OUT_DIR");
    if let Err(err) = embed_resource::compile(&rc, embed_resource::NONE).manifest_required() {
        panic!("cannot compile the Windows resources of {exe_name}: {err}");
    }
}
