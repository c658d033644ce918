use mailpull_shared::ipc::RunMode;

use super::*;

#[test]
fn served_by_says_how_the_worker_runs_in_an_administrators_words() {
    assert_eq!(
        served_by(&RunMode::WindowsService, None),
        "Served by the Mailpull service"
    );
    assert_eq!(
        served_by(
            &RunMode::Systemd {
                unit: Some("mailpull.service".into())
            },
            None
        ),
        "Served by the systemd unit mailpull.service"
    );
    assert_eq!(
        served_by(&RunMode::Systemd { unit: None }, None),
        "Served by a systemd unit"
    );
    assert_eq!(
        served_by(&RunMode::Manager { pid: 4242 }, Some(4242)),
        "Served by a worker this window started (process 4242)"
    );
    // Started by a window, but not this one (or this one was restarted since).
    assert_eq!(
        served_by(&RunMode::Manager { pid: 4242 }, Some(7)),
        "Served by a worker another Pull Manager window started (process 4242)"
    );
    assert_eq!(
        served_by(&RunMode::Foreground { pid: 9 }, Some(9)),
        "Served by a worker started from a terminal (process 9)"
    );
    assert_eq!(
        served_by(&RunMode::Unknown, None),
        "Served by a worker of an older release"
    );
}

#[test]
fn a_service_or_unit_replaces_start_worker_with_its_own_controls() {
    assert!(!Host::Nobody.is_service());
    assert!(Host::Nobody.controls().is_empty());
    let unit = Host::SystemdUnit {
        unit: "mailpull.service".into(),
    };
    assert!(unit.is_service());
    assert!(
        unit.controls().is_empty(),
        "systemctl is the administrator's"
    );
    assert!(
        unit.describe()
            .contains("sudo systemctl start mailpull.service"),
        "{}",
        unit.describe()
    );
    let service = |state| Host::WindowsService { state: Ok(state) };
    assert_eq!(
        service(ServiceState::Stopped).controls(),
        [ServiceVerb::Start]
    );
    assert_eq!(
        service(ServiceState::Running).controls(),
        [ServiceVerb::Stop, ServiceVerb::Restart]
    );
    assert!(service(ServiceState::Starting).controls().is_empty());
    assert_eq!(
        service(ServiceState::Stopped).describe(),
        "the Mailpull service is stopped"
    );
    assert!(
        service(ServiceState::Running)
            .describe()
            .contains("does not answer")
    );
    let unknown = Host::WindowsService {
        state: Err("access denied".into()),
    };
    assert_eq!(unknown.controls().len(), 3);
    assert!(unknown.describe().contains("access denied"));
}

#[test]
fn the_elevated_command_is_the_workers_service_subcommand() {
    assert_eq!(elevated_parameters(ServiceVerb::Start), "service start");
    assert_eq!(elevated_parameters(ServiceVerb::Stop), "service stop");
    assert_eq!(elevated_parameters(ServiceVerb::Restart), "service restart");
}

#[test]
fn the_config_is_read_from_the_services_command_line() {
    let quoted = r#""C:\Program Files\Mailpull\mailpull-worker.exe" service run --config "C:\ProgramData\Mail pull\mailpull.toml""#;
    assert_eq!(
        config_in_command_line(quoted).as_deref(),
        Some(r"C:\ProgramData\Mail pull\mailpull.toml")
    );
    let bare = r"C:\Mailpull\mailpull-worker.exe service run --config C:\Data\m.toml";
    assert_eq!(
        config_in_command_line(bare).as_deref(),
        Some(r"C:\Data\m.toml")
    );
    assert_eq!(
        config_in_command_line(r"C:\m\mailpull-worker.exe service run -c D:\x.toml").as_deref(),
        Some(r"D:\x.toml")
    );
    for none in [
        r#""C:\Program Files\Mailpull\mailpull-worker.exe" service run"#,
        r"C:\m\mailpull-worker.exe service run --config",
        "",
    ] {
        assert_eq!(config_in_command_line(none), None, "{none}");
    }
}

#[test]
fn same_config_compares_the_pipes_two_names_lead_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mailpull.toml");
    std::fs::write(&file, "").expect("write");
    let roundabout = dir.path().join(".").join("mailpull.toml");
    assert!(same_config(&file, &roundabout));
    assert!(!same_config(&file, &dir.path().join("other.toml")));
}

#[cfg(unix)]
#[test]
fn a_unit_counts_only_for_the_system_configuration_and_only_when_installed() {
    let units = tempfile::tempdir().expect("tempdir");
    let dir = units.path().to_str().expect("utf-8").to_string();
    let system = Path::new(mailpull_shared::paths::SYSTEM_CONFIG_FILE);
    assert_eq!(unit::probe(system, &[&dir]), Host::Nobody, "not installed");
    std::fs::write(units.path().join("mailpull.service"), "[Service]\n").expect("unit");
    assert_eq!(
        unit::probe(system, &[&dir]),
        Host::SystemdUnit {
            unit: "mailpull.service".into()
        }
    );
    // A person's own configuration is never the unit's.
    assert_eq!(
        unit::probe(&units.path().join("mailpull.toml"), &[&dir]),
        Host::Nobody
    );
}
