//! Waiting for the service's process to end. The SCM reports "stopped" as soon as the worker
//! says so, a moment before its process has exited and released `mailpull-worker.exe`: an
//! upgrade that replaced the file in that moment failed ("the second Setup.exe /S exited with
//! an error" under wine on a busy machine). `service stop` therefore returns only once the
//! process is gone.
#![allow(unsafe_code)] // OpenProcess / WaitForSingleObject / CloseHandle.

use std::time::Duration;

use windows_sys::Win32::Foundation::{CloseHandle, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{
    OpenProcess, PROCESS_SYNCHRONIZE, WaitForSingleObject,
};

/// Waits up to `timeout` for process `pid` to exit. True when it has (or no longer exists).
pub fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX - 1);
    // SAFETY: plain Win32 calls on a handle this function opens and closes.
    unsafe {
        let handle = OpenProcess(PROCESS_SYNCHRONIZE, 0, pid);
        if handle.is_null() {
            // Already gone (or its id reused by a process we may not open: nothing to wait on).
            return true;
        }
        let waited = WaitForSingleObject(handle, millis);
        CloseHandle(handle);
        waited == WAIT_OBJECT_0
    }
}
