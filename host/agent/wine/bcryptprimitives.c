/*
 * A stand-in for bcryptprimitives.dll, for running rampart's Windows build under Wine 8.
 *
 * Rust's standard library (1.78 and later) gets its random bytes, e.g. the keys of every
 * HashMap, from bcryptprimitives.dll!ProcessPrng, which Windows 10 and later export. Wine 8's
 * bcryptprimitives.dll does not export it (Wine added it in 9.x), so a Rust program does not
 * even load. This DLL exports ProcessPrng and forwards to RtlGenRandom (advapi32's
 * SystemFunction036), which every Wine version has and which fills the buffer from the host's
 * CSPRNG. It is a test fixture only: real Windows has ProcessPrng and never loads this file.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll \
 *            bcryptprimitives.c bcryptprimitives.def -ladvapi32
 * Use:   next to the .exe, with WINEDLLOVERRIDES=bcryptprimitives=n,b so Wine prefers it over
 *        its builtin.
 */
#include <windows.h>

/* RtlGenRandom: declared by hand because its header name (ntsecapi.h) pulls in more than
 * this file needs. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng never fails on Windows (it returns TRUE always); RtlGenRandom takes a ULONG
 * length, so a larger request is filled in chunks. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
