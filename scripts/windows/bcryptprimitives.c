/* A test-only stand-in for bcryptprimitives.dll, which wine 8 lacks and Rust's std
 * (>= 1.78) imports for its randomness: ProcessPrng over advapi32's
 * SystemFunction036 (RtlGenRandom). Built and installed by scripts/windows/setup.sh. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG n = length > 0x40000000 ? 0x40000000 : (ULONG)length;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    length -= n;
  }
  return TRUE;
}
