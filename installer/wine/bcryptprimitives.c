/* For tests under wine 8 only (Debian 12), never shipped: wine 8 has no
 * bcryptprimitives.dll, which Rust's standard library (1.78+) imports for ProcessPrng, so
 * every Rust .exe exits at once with code 53. This DLL exports ProcessPrng and forwards it
 * to advapi32's RtlGenRandom (SystemFunction036). Real Windows 10+ has the DLL.
 * Built by installer/test-wine.sh:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
