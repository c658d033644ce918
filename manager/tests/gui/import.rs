//! File → Import against a real worker: a `.fetchmailrc` whose entry is named like a profile
//! that exists already ("isp") and that holds a password and an `mda` Mailpull has no
//! equivalent for. The window hands its text to the worker, which numbers the name, stores the
//! password in its keyring and reports the `mda` line; the window saves the profile through the
//! usual save request, shows the report, and lists it; the file gets no password, and Test
//! connection of the imported profile signs in with the keyring's. Needs the OS keyring.

use egui_kittest::kittest::{NodeT, Queryable};
use mailpull_shared::secrets;
use mailpull_tests::keyring_usable;

use super::{PASSWORD, Rig, click, connected, fill, manager, shows, wait_for};

#[test]
fn file_import_of_a_fetchmailrc_saves_its_profile_with_the_password_in_the_keyring() {
    keyring_usable("File → Import stores the imported password in the keyring");
    let rig = Rig::start();
    let _ = secrets::delete_from_keyring("isp-2");
    let dir = tempfile::tempdir().expect("tempdir");
    let rc = dir.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "# a user's ~/.fetchmailrc\n\
             poll \"isp\" via localhost proto pop3 port {port}\n\
             \tuser \"isp-user2\" there with password \"{PASSWORD}\" is bob here\n\
             \tssl sslcertck sslcertfile \"{ca}\"\n\
             \tsmtphost 127.0.0.1/{smtp} smtpaddress {domain}\n\
             \tmda \"/usr/bin/procmail -d %T\"\n",
            port = rig.remote.pop3s_port(),
            ca = rig.ca.ca_file().display(),
            smtp = rig.local.smtp_port(),
            domain = mailpull_tests::LOCAL_DOMAIN,
        ),
    )
    .expect("write fetchmailrc");
    let mut gui = manager(&rig);
    connected(&mut gui, &rig);

    // The File menu (a password source is called "File" too).
    gui.query_all_by_label("File")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::Button)
        .expect("the File menu")
        .click();
    gui.run_steps(3);
    click(&mut gui, "Import fetchmailrc…");
    assert!(shows(&gui, "Import a fetchmailrc"), "the dialog");
    fill(&mut gui, "File to import", &rc.display().to_string());
    click(&mut gui, "Import");
    wait_for(&mut gui, &rig, "the import's outcome", |gui| {
        gui.state()
            .import
            .as_ref()
            .is_some_and(|d| d.outcome.is_some())
    });
    // The dialog grew with the report: let egui centre it again before clicking in it.
    gui.run_steps(5);
    let outcome = format!("{:?}", gui.state().import);
    assert!(shows(&gui, "Saved 1 profile: isp-2."), "{outcome}");
    assert!(
        shows(&gui, "isp-2: password stored in the OS keyring"),
        "{outcome}"
    );
    assert!(
        shows(&gui, "not imported: mda \"/usr/bin/procmail -d %T\""),
        "{outcome}"
    );
    assert!(
        !outcome.contains(PASSWORD),
        "the password came back: {outcome}"
    );
    gui.get_by_label("Close").hover();
    gui.run_steps(2);
    click(&mut gui, "Close");
    assert!(gui.state().import.is_none(), "{:?}", gui.state().import);

    // Saved through the usual path: listed, in the file without its password, in the keyring.
    wait_for(&mut gui, &rig, "isp-2 in the list", |gui| {
        gui.query_by_label("isp-2").is_some()
    });
    let text = rig.config_text();
    assert!(text.contains("name = \"isp-2\""), "{text}");
    let imported = &text[text.find("name = \"isp-2\"").expect("isp-2")..];
    assert!(
        imported.contains("[profile.remote.password]\nkeyring = true"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "password in the file:\n{text}");
    let stored = secrets::read_keyring("isp-2", &secrets::password_account("isp-2"))
        .expect("keyring")
        .expect("an entry for isp-2");
    assert_eq!(stored.expose(), PASSWORD);

    // The worker signs in with it.
    click(&mut gui, "isp-2");
    wait_for(&mut gui, &rig, "the form of isp-2", |gui| {
        gui.state().editor.fields.name == "isp-2"
    });
    click(&mut gui, "Test connection");
    wait_for(&mut gui, &rig, "the test report", |gui| {
        gui.state().test_report.is_some()
    });
    assert!(shows(&gui, "Sign-in: OK"), "{:?}", gui.state().test_report);
    secrets::delete_from_keyring("isp-2").expect("delete");
}
