//! Windows security look-ups shared by the worker and the pipe's client: who owns a file or
//! folder, which account a process runs as, and creating a folder with its access list
//! already in place (no moment in which another user could write into it).
#![allow(unsafe_code)] // Win32 calls (windows-sys); each is wrapped in a safe function here.

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt as _;
use std::path::Path;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    GetNamedSecurityInfoW, GetSecurityInfo, SDDL_REVISION_1, SE_FILE_OBJECT, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountNameW, LookupAccountSidW, OWNER_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// An account (user, group or service) by SID, with its name when Windows can tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `S-1-5-…`.
    pub sid: String,
    /// `DOMAIN\name`.
    pub name: Option<String>,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} ({})", self.sid),
            None => write!(f, "{}", self.sid),
        }
    }
}

fn wide(text: &OsStr) -> Vec<u16> {
    text.encode_wide().chain(std::iter::once(0)).collect()
}

/// # Safety
/// `sid` points to a valid SID.
unsafe fn account(sid: PSID) -> io::Result<Account> {
    let mut text: *mut u16 = null_mut();
    // SAFETY: `sid` is valid (caller); `text` receives a LocalAlloc'ed string freed below.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ConvertSidToStringSidW wrote a NUL-terminated string.
    let sid_text = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let value = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text as HLOCAL);
        value
    };
    let (mut name, mut domain) = ([0u16; 256], [0u16; 256]);
    let (mut name_len, mut domain_len) = (256u32, 256u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: the buffers and their lengths match.
    let found = unsafe {
        LookupAccountSidW(
            null(),
            sid,
            name.as_mut_ptr(),
            &mut name_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    } != 0;
    let name = found.then(|| {
        let user = String::from_utf16_lossy(&name[..name_len as usize]);
        let domain = String::from_utf16_lossy(&domain[..domain_len as usize]);
        if domain.is_empty() {
            user
        } else {
            format!("{domain}\\{user}")
        }
    });
    Ok(Account {
        sid: sid_text,
        name,
    })
}

/// The owner of a file or folder.
pub fn owner_of(path: &Path) -> io::Result<Account> {
    let path = wide(path.as_os_str());
    let mut owner: PSID = null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `path` is NUL-terminated; the descriptor is freed below, `owner` points into it.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            path.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            null_mut(),
            null_mut(),
            null_mut(),
            &mut descriptor,
        )
    };
    // SAFETY: what the call just returned.
    unsafe { owner_account(rc, owner, descriptor) }
}

/// The owner of the kernel object behind `handle` (e.g. a connected named pipe: the account
/// that created it, since only a privileged account can give an object another owner).
pub fn owner_of_handle(handle: std::os::windows::io::BorrowedHandle<'_>) -> io::Result<Account> {
    use std::os::windows::io::AsRawHandle as _;
    let mut owner: PSID = null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: a valid handle; the descriptor is freed below, `owner` points into it.
    let rc = unsafe {
        GetSecurityInfo(
            handle.as_raw_handle(),
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            null_mut(),
            null_mut(),
            null_mut(),
            &mut descriptor,
        )
    };
    // SAFETY: what the call just returned.
    unsafe { owner_account(rc, owner, descriptor) }
}

/// The owner account from a `Get(Named)SecurityInfo` call's result.
///
/// # Safety
/// `owner` and `descriptor` are what that call returned with `rc`; the descriptor (which
/// `owner` points into) is freed here.
unsafe fn owner_account(
    rc: u32,
    owner: PSID,
    descriptor: PSECURITY_DESCRIPTOR,
) -> io::Result<Account> {
    if rc != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    // SAFETY: `owner` is valid while `descriptor` lives.
    let result = unsafe { account(owner) };
    // SAFETY: allocated by the security-info call.
    unsafe { LocalFree(descriptor as HLOCAL) };
    result
}

/// # Safety
/// `process` is a process handle with PROCESS_QUERY_LIMITED_INFORMATION.
unsafe fn token_user(process: HANDLE) -> io::Result<Account> {
    let mut token: HANDLE = null_mut();
    // SAFETY: valid handle (caller).
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut len = 0u32;
    // SAFETY: a size query.
    unsafe { GetTokenInformation(token, TokenUser, null_mut(), 0, &mut len) };
    let mut buffer = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: the buffer holds `len` bytes, aligned for TOKEN_USER.
    let ok =
        unsafe { GetTokenInformation(token, TokenUser, buffer.as_mut_ptr().cast(), len, &mut len) };
    let err = io::Error::last_os_error();
    // SAFETY: opened above.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(err);
    }
    // SAFETY: GetTokenInformation filled a TOKEN_USER whose SID lies in `buffer`.
    unsafe {
        let user = &*(buffer.as_ptr() as *const TOKEN_USER);
        account(user.User.Sid)
    }
}

/// The SID (`S-1-5-…`) of the local account or group `name`, `None` when there is none
/// (e.g. the group "Mailpull Administrators" before the installer created it).
pub fn account_sid(name: &str) -> io::Result<Option<String>> {
    /// ERROR_NONE_MAPPED: no account of that name.
    const NONE_MAPPED: i32 = 1332;
    let name = wide(OsStr::new(name));
    let mut sid = vec![0u64; 16]; // 128 bytes: a SID is at most 68
    let mut sid_len = (sid.len() * 8) as u32;
    let mut domain = [0u16; 256];
    let mut domain_len = 256u32;
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: the buffers and their lengths match; `name` is NUL-terminated.
    let found = unsafe {
        LookupAccountNameW(
            null(),
            name.as_ptr(),
            sid.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    } != 0;
    if !found {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(NONE_MAPPED) => Ok(None),
            _ => Err(err),
        };
    }
    // SAFETY: LookupAccountNameW wrote a valid SID into `sid`.
    unsafe { account(sid.as_mut_ptr().cast()) }.map(|account| Some(account.sid))
}

/// The account this process runs as.
pub fn current_user() -> io::Result<Account> {
    // SAFETY: the pseudo handle of this process needs no closing.
    unsafe { token_user(GetCurrentProcess()) }
}

/// The account process `pid` runs as.
pub fn process_user(pid: u32) -> io::Result<Account> {
    // SAFETY: plain call; the handle is closed below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: opened with the access token_user needs.
    let result = unsafe { token_user(process) };
    // SAFETY: opened above.
    unsafe { CloseHandle(process) };
    result
}

/// Creates the folder `path` (its parent must exist) with the security descriptor `sddl`
/// from the start.
pub fn create_dir_with_sddl(path: &Path, sddl: &str) -> io::Result<()> {
    let sddl = wide(OsStr::new(sddl));
    let mut descriptor: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: NUL-terminated input; the descriptor is freed below.
    if unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            null_mut(),
        )
    } == 0
    {
        return Err(io::Error::last_os_error());
    }
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    let path = wide(path.as_os_str());
    // SAFETY: NUL-terminated path, valid attributes.
    let ok = unsafe { CreateDirectoryW(path.as_ptr(), &attributes) };
    let err = io::Error::last_os_error();
    // SAFETY: allocated by the conversion above.
    unsafe { LocalFree(descriptor as HLOCAL) };
    if ok == 0 { Err(err) } else { Ok(()) }
}
