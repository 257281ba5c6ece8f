/**
 * System calls per W2 append, counted by `strace -f` (when it is installed): what one
 * small save costs the kernel, and how often it wakes another thread (futex wakes
 * that woke one: a hand-over to a pool, a background thread, or back to the event
 * loop). Each contender runs the W2 job twice under strace, with `saves` appends and
 * with none (start-up, imports, warm-up and array creation are the same in both), and
 * the difference is divided by `saves`. Not timed: strace slows every call down.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Whether strace can run here. */
export function hasStrace() {
  return spawnSync("strace", ["-V"], { stdio: "ignore" }).status === 0;
}

/** Calls per syscall name, and futex wakes that woke a thread, from `strace -f -C -o` output. */
function parse(text) {
  const calls = {};
  let wakes = 0;
  let inSummary = false;
  /** Threads whose FUTEX_WAKE was interrupted in the log (its result comes later). */
  const waking = new Set();
  for (const line of text.split("\n")) {
    if (/^% time\s+seconds/.test(line)) {
      inSummary = true;
      continue;
    }
    if (inSummary) {
      // "% time seconds usecs/call calls [errors] syscall"
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
      if (m && m[2] !== "total") calls[m[2]] = Number(m[1]);
    } else if (/futex\([^)]*FUTEX_WAKE/.test(line)) {
      if (/<unfinished \.\.\.>\s*$/.test(line)) waking.add(line.split(" ")[0]);
      else if (/= [1-9]\d*\s*$/.test(line)) wakes++;
    } else if (/<\.\.\. futex resumed>/.test(line)) {
      const tid = line.split(" ")[0];
      if (waking.delete(tid) && /= [1-9]\d*\s*$/.test(line)) wakes++;
    }
  }
  return { calls, wakes };
}

/** One traced run of `contender` on `jobs`; its counts. */
function traced(contender, jobs, file) {
  const [exe, args] = contender.command(jobs);
  const r = spawnSync("strace", ["-f", "-C", "-qq", "-o", file, exe, ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (r.status !== 0) throw new Error(`strace ${contender.name} exited ${r.status}: ${(r.stderr ?? "").trim().slice(-300)}`);
  return parse(readFileSync(file, "utf8"));
}

/**
 * `{ saves, perAppend, futexWakes, byCall }` for `contender` on the W2 job `base`
 * (a `job()` object), over `saves` appends; `byCall`: the calls made most per append.
 */
export function syscallsPerAppend(contender, base, saves, dir) {
  mkdirSync(dir, { recursive: true });
  const job = (n, tag) => ({
    ...base,
    saves: n,
    budgetSeconds: undefined,
    out: join(dir, tag),
    container: join(dir, tag, "w2.zarr"),
  });
  for (const tag of ["n", "zero"]) mkdirSync(join(dir, tag), { recursive: true });
  const full = traced(contender, [job(saves, "n")], join(dir, "n.strace"));
  const zero = traced(contender, [job(0, "zero")], join(dir, "zero.strace"));
  const byCall = {};
  for (const [name, n] of Object.entries(full.calls)) {
    const per = (n - (zero.calls[name] ?? 0)) / saves;
    if (per > 0.05) byCall[name] = Number(per.toFixed(2));
  }
  const total = (counts) => Object.values(counts.calls).reduce((a, b) => a + b, 0);
  return {
    saves,
    perAppend: Number(((total(full) - total(zero)) / saves).toFixed(1)),
    futexWakes: Number(((full.wakes - zero.wakes) / saves).toFixed(2)),
    byCall: Object.fromEntries(Object.entries(byCall).sort((a, b) => b[1] - a[1])),
  };
}
