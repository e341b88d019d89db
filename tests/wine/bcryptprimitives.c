/*
 * A test-only stand-in for Windows' bcryptprimitives.dll, for running orc.exe under
 * Wine 8, which lacks that DLL. Rust's standard library imports one function from
 * it, ProcessPrng (random bytes for HashMap keys and the like); without the DLL the
 * loader refuses to start the program. This shim answers with RtlGenRandom
 * (exported by advapi32 as SystemFunction036), Wine's own random source.
 *
 * Built by tests/wine_smoke.rs:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 * and placed beside orc.exe. Never shipped: real Windows (10 and later) has the DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Documented to always succeed (it returns TRUE); RtlGenRandom takes a ULONG
 * length, so larger requests are served in pieces. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG piece = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        length -= piece;
    }
    return TRUE;
}
