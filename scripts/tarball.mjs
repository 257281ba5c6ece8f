// The files of an npm tarball (.tgz), read without a tar program: ustar headers are
// 512-byte blocks, name at 0 (100 bytes), size in octal at 124, prefix at 345; file
// data follows, padded to whole blocks.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/** Each file of the tarball `file`: its path (`package/...`), size and bytes. */
export function tarEntries(file) {
  const tar = gunzipSync(readFileSync(file));
  const entries = [];
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0; ) {
    const field = (start, length) =>
      tar
        .subarray(at + start, at + start + length)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const prefix = field(345, 155);
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    entries.push({
      name: prefix ? `${prefix}/${field(0, 100)}` : field(0, 100),
      size,
      data: tar.subarray(at + 512, at + 512 + size),
    });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}
