; Mailpull's Windows installer (NSIS 3, 64-bit Unicode). Built by installer/build.sh:
;   makensis -DVERSION=0.1.0 -DBINDIR=<dir with both .exe> -DOUTDIR=<dir> installer/mailpull.nsi
;
; What it does, in order:
;   1. license page, install folder, components (the desktop shortcut is optional);
;   2. stops a running "Mailpull Worker" service of an earlier version before replacing files;
;   3. copies mailpull-worker.exe, mailpull-manager.exe and the sample configuration;
;   3b. creates the local group "Mailpull Administrators" (its members use the Pull Manager
;      without elevation) and adds the installing user; the uninstaller removes the group;
;   4. `mailpull-worker service install` creates %ProgramData%\Mailpull with its owner
;      (Administrators) and access list (NT SERVICE\MailpullWorker, Administrators, SYSTEM)
;      in place, or takes over an existing one only if no other user owns it or anything in
;      it, and registers the service (its own virtual account, automatic start, restart when
;      it fails while running);
;   5. only then puts the sample there as mailpull.toml unless a configuration exists already
;      (an upgrade keeps config and state);
;   6. Start-menu folder, uninstaller, Add/Remove Programs entry, the Event Log source
;      MailpullWorker (removed by the uninstaller);
;   7. `mailpull-worker service start` starts it.
; The uninstaller stops and removes the service and the program files; configuration, state
; database and logs stay unless "Remove my data" is ticked (or /REMOVEDATA is given).
;
; Failures are loud, also under /S. Exit codes (documented in README "Windows"):
;   0  installed and the service runs
;   1  cancelled by the person installing
;   2  not possible here (not 64-bit Windows)
;   3  the service could not be registered or the data folder was refused: a new
;      installation is rolled back (no program files, no uninstaller entry)
;   4  installed, but the service did not start (usually the configuration: the reason is in
;      %ProgramData%\Mailpull\logs\service-errors.log)
; Every command's output also goes to %TEMP%\Mailpull-Setup.log.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel admin
ManifestSupportedOS all

!ifndef VERSION
  !error "pass -DVERSION=x.y.z"
!endif
!ifndef BINDIR
  !error "pass -DBINDIR=<folder with mailpull-worker.exe and mailpull-manager.exe>"
!endif
!ifndef OUTDIR
  !define OUTDIR "."
!endif

; installer/build.sh passes SIGN_COMMAND when a certificate is given: the uninstaller is
; signed as it is written into the setup (the programs and the setup itself by build.sh).
!ifdef SIGN_COMMAND
  !uninstfinalize '${SIGN_COMMAND} "%1"' = 0
!endif

!define PRODUCT "Mailpull"
!define PUBLISHER "Mailpull"
!define SERVICE "MailpullWorker"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Mailpull"
!define SETTINGS_KEY "Software\Mailpull"
!define ADMIN_GROUP "Mailpull Administrators"
; The service's Event Log source (worker/src/service/eventlog.rs): EventCreate.exe's messages
; 1-1000 are the text the worker gives, as for the sources `eventcreate` registers.
!define EVENTLOG_KEY "SYSTEM\CurrentControlSet\Services\EventLog\Application\MailpullWorker"
!define ASSETS "${__FILEDIR__}\..\assets"

Name "${PRODUCT} ${VERSION}"
OutFile "${OUTDIR}\Mailpull-Setup-${VERSION}.exe"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
InstallDirRegKey HKLM "${SETTINGS_KEY}" "InstallDir"
BrandingText "${PRODUCT} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} Setup"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "MIT OR Apache-2.0"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "Sections.nsh"
!include "x64.nsh"

!define MUI_ICON "${ASSETS}\mailpull.ico"
!define MUI_UNICON "${ASSETS}\mailpull.ico"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\mailpull-manager.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Open the Pull Manager"
!define MUI_FINISHPAGE_RUN_NOTCHECKED

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${__FILEDIR__}\license.txt"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH

!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"

!define SETUP_LOG "$TEMP\Mailpull-Setup.log"
!define ERROR_LOG "$APPDATA\${PRODUCT}\logs\service-errors.log"

; Runs a command, logs its output, and stores its exit code in $0.
!macro Run COMMAND
  nsExec::ExecToLog '${COMMAND}'
  Pop $0
!macroend

; Runs a command, shows and appends its output to ${SETUP_LOG}; exit code in $0, output in $1.
!macro RunLogged COMMAND
  nsExec::ExecToStack '${COMMAND}'
  Pop $0
  Pop $1
  DetailPrint "$1"
  FileOpen $9 "${SETUP_LOG}" a
  FileSeek $9 0 END
  FileWrite $9 `> ${COMMAND}$\r$\n$1$\r$\n(exit code $0)$\r$\n`
  FileClose $9
!macroend

Var Upgrade

; A failed new installation leaves nothing behind: no program files, no uninstaller, no entry.
Function RollBack
  ${If} $Upgrade == 1
    Return
  ${EndIf}
  DetailPrint "Rolling back: removing the program files"
  Delete "$INSTDIR\mailpull-worker.exe"
  Delete "$INSTDIR\mailpull-manager.exe"
  Delete "$INSTDIR\mailpull.sample.toml"
  Delete "$INSTDIR\license.txt"
  Delete "$INSTDIR\uninstall.exe"
  SetOutPath "$TEMP" ; a folder in use cannot be removed
  RMDir "$INSTDIR"
FunctionEnd

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "Mailpull needs 64-bit Windows." /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
  SetShellVarContext all
FunctionEnd

Section "Mailpull (worker service and Pull Manager)" SecMain
  SectionIn RO
  SetShellVarContext all

  ; An earlier version's service holds its .exe open: stop it before replacing files.
  StrCpy $Upgrade 0
  ReadRegStr $R0 HKLM "${UNINSTALL_KEY}" "UninstallString"
  ${If} $R0 != ""
    StrCpy $Upgrade 1
  ${EndIf}
  ${If} ${FileExists} "$INSTDIR\mailpull-worker.exe"
    DetailPrint "Stopping the running service of the earlier version"
    ; Returns once the old process has exited and let go of its .exe (or says why not).
    !insertmacro RunLogged '"$INSTDIR\mailpull-worker.exe" service stop'
  ${EndIf}

  SetOutPath "$INSTDIR"
  File "${BINDIR}\mailpull-worker.exe"
  File "${BINDIR}\mailpull-manager.exe"
  File "/oname=mailpull.sample.toml" "${ASSETS}\mailpull.sample.toml"
  File "/oname=license.txt" "${__FILEDIR__}\license.txt"

  ; The local group "Mailpull Administrators": its members open the Pull Manager without a
  ; UAC prompt (the worker's pipe admits it, the data folder lets it read). Made before
  ; `service install`, which names it in the data folder's access list; the installing user
  ; joins it (effective at their next sign-in). "already exists" (an upgrade) is fine.
  !insertmacro RunLogged 'net localgroup "${ADMIN_GROUP}" /add /comment:"May use the Mailpull Pull Manager without elevation"'
  ReadEnvStr $R1 USERNAME
  ReadEnvStr $R2 USERDOMAIN
  !insertmacro RunLogged 'net localgroup "${ADMIN_GROUP}" "$R2\$R1" /add'
  ${If} $0 != 0
    DetailPrint "Could not add $R2\$R1 to ${ADMIN_GROUP} (exit code $0): add the people who use the Pull Manager with: net localgroup $\"${ADMIN_GROUP}$\" NAME /add"
  ${EndIf}

  ; The data folder is created (or taken over) by the worker, its owner and access list set
  ; before anything is written into it; then the service is registered.
  !insertmacro RunLogged '"$INSTDIR\mailpull-worker.exe" service install --config "$APPDATA\${PRODUCT}\mailpull.toml"'
  ${If} $0 != 0
    Call RollBack
    MessageBox MB_ICONSTOP "Registering the Mailpull Worker service failed (exit code $0):$\r$\n$1$\r$\nNothing was installed. The full output is in ${SETUP_LOG}." /SD IDOK
    SetErrorLevel 3
    Abort
  ${EndIf}

  ; Configuration and state: created once, never overwritten by an upgrade.
  ${IfNot} ${FileExists} "$APPDATA\${PRODUCT}\mailpull.toml"
    DetailPrint "Installing the sample configuration as $APPDATA\${PRODUCT}\mailpull.toml"
    CopyFiles /SILENT "$INSTDIR\mailpull.sample.toml" "$APPDATA\${PRODUCT}\mailpull.toml"
  ${Else}
    DetailPrint "Keeping the existing configuration $APPDATA\${PRODUCT}\mailpull.toml"
  ${EndIf}

  WriteUninstaller "$INSTDIR\uninstall.exe"

  WriteRegExpandStr HKLM "${EVENTLOG_KEY}" "EventMessageFile" "%SystemRoot%\System32\EventCreate.exe"
  WriteRegDWORD HKLM "${EVENTLOG_KEY}" "TypesSupported" 7

  CreateDirectory "$SMPROGRAMS\${PRODUCT}"
  CreateShortcut "$SMPROGRAMS\${PRODUCT}\Mailpull Pull Manager.lnk" "$INSTDIR\mailpull-manager.exe" "" "$INSTDIR\mailpull-manager.exe" 0
  CreateShortcut "$SMPROGRAMS\${PRODUCT}\Uninstall Mailpull.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKLM "${SETTINGS_KEY}" "InstallDir" "$INSTDIR"
  WriteRegStr HKLM "${SETTINGS_KEY}" "Version" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\mailpull-manager.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $1 $2 $3
  IntFmt $1 "0x%08X" $1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" "$1"

  !insertmacro RunLogged '"$INSTDIR\mailpull-worker.exe" service start'
  ${If} $0 != 0
    MessageBox MB_ICONEXCLAMATION "Mailpull is installed, but the Mailpull Worker service did not start (exit code $0):$\r$\n$1$\r$\nThe reason is in ${ERROR_LOG}. Repair the configuration $APPDATA\${PRODUCT}\mailpull.toml, then run: mailpull-worker service start" /SD IDOK
    SetErrorLevel 4
  ${EndIf}
SectionEnd

Section "Desktop shortcut to the Pull Manager" SecDesktop
  SetShellVarContext all
  CreateShortcut "$DESKTOP\Mailpull Pull Manager.lnk" "$INSTDIR\mailpull-manager.exe" "" "$INSTDIR\mailpull-manager.exe" 0
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecMain} "The worker as the Windows service $\"Mailpull Worker$\" and the Pull Manager in the Start menu."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "A shortcut to the Pull Manager on the desktop."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

; ---------------------------------------------------------------------------- uninstaller

Var RemoveData

; Declared first so that it runs while the service still runs: the passwords, client secrets
; and refresh tokens are in the credential store of the service's account, which only the
; running worker reaches (`forget-secrets` over the pipe). The folder goes at the end of the
; next section, after the service has stopped.
Section /o "un.Remove my data (configuration, state database, logs, stored passwords and sign-ins)" UnSecData
  SetShellVarContext all
  StrCpy $RemoveData 1
  DetailPrint "Removing the stored passwords and sign-ins from the service's credential store"
  !insertmacro Run '"$INSTDIR\mailpull-worker.exe" forget-secrets'
  ${If} $0 != 0
    DetailPrint "The stored passwords could not be removed (exit code $0): the service was not running. Remove the credentials named mailpull in the Credential Manager of NT SERVICE\MailpullWorker."
  ${EndIf}
SectionEnd

Section "un.Mailpull (service and program files)" UnSecMain
  SectionIn RO
  SetShellVarContext all
  !insertmacro Run '"$INSTDIR\mailpull-worker.exe" service uninstall'
  ${If} $0 != 0
    MessageBox MB_ICONEXCLAMATION "Removing the Mailpull Worker service failed (exit code $0)." /SD IDOK
  ${EndIf}

  Delete "$INSTDIR\mailpull-worker.exe"
  Delete "$INSTDIR\mailpull-manager.exe"
  Delete "$INSTDIR\mailpull.sample.toml"
  Delete "$INSTDIR\license.txt"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"

  Delete "$SMPROGRAMS\${PRODUCT}\Mailpull Pull Manager.lnk"
  Delete "$SMPROGRAMS\${PRODUCT}\Uninstall Mailpull.lnk"
  RMDir "$SMPROGRAMS\${PRODUCT}"
  Delete "$DESKTOP\Mailpull Pull Manager.lnk"

  DeleteRegKey HKLM "${UNINSTALL_KEY}"
  DeleteRegKey HKLM "${SETTINGS_KEY}"
  DeleteRegKey HKLM "${EVENTLOG_KEY}"

  ; The group goes with the program (its members lose nothing else).
  !insertmacro RunLogged 'net localgroup "${ADMIN_GROUP}" /delete'

  ${If} $RemoveData == 1
    DetailPrint "Removing $APPDATA\${PRODUCT}"
    RMDir /r "$APPDATA\${PRODUCT}"
  ${EndIf}
SectionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecMain} "Stops and removes the service, removes the programs and shortcuts."
  !insertmacro MUI_DESCRIPTION_TEXT ${UnSecData} "Also deletes %ProgramData%\Mailpull (the configuration, the record of delivered messages and the logs) and the passwords, client secrets and sign-ins the service stored. Without it a later installation continues where this one stopped."
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END

Function un.onInit
  SetRegView 64
  SetShellVarContext all
  ; `uninstall.exe /S /REMOVEDATA` removes the data too (for scripts).
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/REMOVEDATA" $R1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${UnSecData}
  ${EndIf}
FunctionEnd

