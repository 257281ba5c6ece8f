/** The console table, RESULTS.md and latest.json of a benchmark run. */
import { TABLED as CONTENDERS } from "./contenders.mjs";
import { markdownTable } from "./markdown.mjs";

const BASES = CONTENDERS.filter((c) => c.baseline);

function fmtRate(x) {
  if (x === undefined) return "";
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function fmtRatio(x) {
  if (x === undefined) return "";
  return x >= 10 ? `${x.toFixed(0)}x` : `${x.toFixed(2)}x`;
}

/** What a cell shows: the rate, or why there is none. `*` marks a capped run. */
function cellText(cell) {
  if (!cell) return "";
  if (cell.error) return "CRASH";
  if (cell.skipped) return "skipped";
  if (cell.notApplicable) return "n/a";
  return `${fmtRate(cell.mbps)}${cell.capped ? "*" : ""}`;
}

const escapeMarkdown = (text) => text.replace(/_/g, "\\_");

const baseLabel = (b) => (b.baseline === "ceiling" ? "Rust" : b.baseline);

function rateRows(result) {
  const header = [
    "workload",
    ...CONTENDERS.map((c) => c.label),
    ...BASES.map((b) => `save / ${baseLabel(b)}`),
    "saveSync / Rust",
  ];
  const rows = result.workloads.map((w) => {
    const r = result.ratios[w.id] ?? {};
    return [
      w.id,
      ...CONTENDERS.map((c) => cellText(result.cells[w.id]?.[c.name])),
      ...BASES.map((b) => fmtRatio(r["zarr-saver-async"]?.[b.baseline])),
      fmtRatio(r["zarr-saver-sync"]?.ceiling),
    ];
  });
  return { header, rows };
}

function memoryRows(result) {
  const w1 = result.workloads.filter((w) => w.kind === "bulk");
  const header = [
    "contender",
    ...w1.map((w) => `${w.id}: peak RSS (before save) MiB`),
    "W1 event-loop p99 / max ms (worst of all W1 runs)",
  ];
  const rows = CONTENDERS.map((c) => {
    const loops = w1.map((w) => result.cells[w.id]?.[c.name]?.eventLoop).filter(Boolean);
    return [
      c.label,
      ...w1.map((w) => {
        const cell = result.cells[w.id]?.[c.name];
        if (!cell?.peakRssMiB) return cellText(cell);
        const before = cell.rssBeforeMiB === undefined ? "" : ` (${cell.rssBeforeMiB.toFixed(0)})`;
        return `${cell.peakRssMiB.toFixed(0)}${before}`;
      }),
      loops.length
        ? `${Math.max(...loops.map((l) => l.p99Ms)).toFixed(1)} / ${Math.max(...loops.map((l) => l.maxMs)).toFixed(1)}`
        : c.name.startsWith("zarr-saver") || c.name === "zarrita"
          ? ""
          : "n/a",
    ];
  });
  return { header, rows };
}

function pad(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((v, i) => (i === 0 ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function cappedNotes(result) {
  const notes = [];
  for (const w of result.workloads) {
    for (const c of CONTENDERS) {
      const cap = result.cells[w.id]?.[c.name]?.capped;
      if (!cap) continue;
      const est = cap.estimatedFullSeconds
        ? `; the full ${cap.of} would take about ${cap.estimatedFullSeconds.toFixed(0)} s`
        : "";
      notes.push(
        `${w.id}, ${c.label}: capped by the ${result.sizes.budgetSeconds} s budget at ${cap.done} of ${cap.of} ${cap.unit}${est}; its MB/s is the rate over the part it did (raw bytes done / time), so it scales to the full workload.`,
      );
    }
  }
  return notes;
}

function storageRows(result) {
  const w1 = result.workloads;
  const header = [
    "workload",
    "codecs (zarr.json)",
    "same codecs in every contender",
    ...CONTENDERS.map((c) => `${c.label} stored MB`),
  ];
  const rows = w1.map((w) => {
    const codecs = CONTENDERS.map((c) => result.cells[w.id]?.[c.name]?.codecs).filter(Boolean);
    const same = codecs.length > 1 ? (codecs.every((x) => x === codecs[0]) ? "yes" : "NO") : "";
    return [
      w.id,
      w.codecName,
      same,
      ...CONTENDERS.map((c) => {
        const b = result.cells[w.id]?.[c.name]?.storedBytes;
        return b === undefined ? "" : (b / 1e6).toFixed(1);
      }),
    ];
  });
  return { header, rows };
}

function repsText(result) {
  const counts = new Map();
  for (const [id, n] of Object.entries(result.repsPerWorkload ?? {})) counts.set(n, [...(counts.get(n) ?? []), id.split(" ")[0]]);
  return [...counts].map(([n, ids]) => `${n} for ${[...new Set(ids)].join(", ")}`).join("; ") || `${result.reps}`;
}

/**
 * What the durable contender cost: its time as a multiple of the plain save's, or why
 * there is no figure. Undefined when the run did not include it.
 */
function durableText(result) {
  const durable = result.contenders.find((c) => c.name === "zarr-saver-durable");
  if (!durable) return undefined;
  if (durable.skipped) return `not measured (${durable.skipped})`;
  const parts = Object.entries(result.durableCost ?? {}).map(([id, d]) => {
    const spread = d.range[0] !== d.range[1] ? ` (repetitions ${d.range[0].toFixed(2)}-${d.range[1].toFixed(2)})` : "";
    const cap = result.cells[id]?.["zarr-saver-durable"]?.capped;
    const capped = cap ? ` (durable capped at ${cap.done}/${cap.of} ${cap.unit})` : "";
    return { w: id.split(" ")[0], text: `${d.timeRatio.toFixed(2)}${spread}${capped}` };
  });
  if (parts.length === 0) return "not measured (needs zarr-saver-async and zarr-saver-durable on W1 or W2)";
  const [first, ...rest] = parts;
  return `${first.w} ${first.text} the time of a plain save${rest.map((p) => `, ${p.w} ${p.text}`).join("")}`;
}

/** The system calls per W2 append, in words; undefined when W2 did not run. */
function syscallsText(result) {
  const sc = result.syscalls;
  if (!sc) return undefined;
  if (sc.skipped) return `not counted (${sc.skipped})`;
  const label = (name) => CONTENDERS.find((c) => c.name === name)?.label ?? name;
  const parts = Object.entries(sc).map(([name, c]) =>
    c.error ? `${label(name)}: failed (${c.error})` : `${label(name)} ${c.perAppend} (futex wakes ${c.futexWakes})`,
  );
  const first = Object.values(sc).find((c) => c.saves);
  return `${parts.join(", ")}; over ${first?.saves ?? "?"} appends, start-up and warm-up subtracted`;
}

/** The calls one save makes most, per W2 append. */
function syscallsDetail(result) {
  const c = result.syscalls?.["zarr-saver-async"];
  if (!c?.byCall) return undefined;
  return Object.entries(c.byCall)
    .map(([name, n]) => `${name} ${n}`)
    .join(", ");
}

export function consoleReport(result) {
  const rates = rateRows(result);
  const mem = memoryRows(result);
  const out = [
    `MB/s of raw data (MB = 10^6 bytes), median over repetitions (${repsText(result)}); ratios: median of per-repetition ratios`,
    pad(rates.rows, rates.header),
    "",
    pad(mem.rows, mem.header),
    "",
    ...cappedNotes(result).map((n) => `* ${n}`),
    ...result.targets.map(
      (t) => `${t.met === undefined ? "[ -- ]" : t.met ? "[ ok ]" : "[MISS]"} ${t.target}: ${t.value ?? "not measured"}`,
    ),
  ];
  const durable = durableText(result);
  if (durable) out.push(`durable cost: ${durable}`);
  const calls = syscallsText(result);
  if (calls) out.push(`W2 system calls per append: ${calls}`);
  const detail = syscallsDetail(result);
  if (detail) out.push(`  save, per append: ${detail}`);
  if (result.scratchFs) out.push(`written to: ${result.scratchFs}`);
  for (const c of result.contenders.filter((c) => c.skipped)) out.push(`skipped ${c.label}: ${c.skipped}`);
  for (const e of result.crashes) out.push(`CRASH ${e}`);
  return out.join("\n");
}

const ANALYSIS_START = "<!-- analysis:start (kept across runs; edit by hand) -->";
const ANALYSIS_END = "<!-- analysis:end -->";

/** The hand-written analysis block of an existing RESULTS.md, kept when the tables are regenerated. */
export function keptAnalysis(previous) {
  const a = previous?.indexOf(ANALYSIS_START) ?? -1;
  const b = previous?.indexOf(ANALYSIS_END) ?? -1;
  if (a < 0 || b < a) return `${ANALYSIS_START}\n\n(no analysis yet)\n\n${ANALYSIS_END}`;
  return previous.slice(a, b + ANALYSIS_END.length);
}

export function markdown(result, analysis) {
  const rates = rateRows(result);
  const mem = memoryRows(result);
  const storage = storageRows(result);
  const m = result.machine;
  const v = result.versions;
  const lines = [
    "# Benchmark results",
    "",
    `Generated by \`npm run bench\` (bench/run.mjs) on ${result.generatedAt.slice(0, 10)}; raw figures in`,
    "[results/latest.json](results/latest.json), chart in [results/ratios.svg](results/ratios.svg).",
    "",
    `**Machine:** ${m.nproc} cores (${m.cpu}), ${m.ramGiB} GiB RAM, ${m.os}; load average at start ${m.load.join(", ")}.`,
    "Shared and noisy: compare ratios within this run, not absolute numbers across runs.",
    ...(result.scratchFs ? ["", `**Written to:** ${result.scratchFs}.`] : []),
    ...(result.staleBuild?.length ? ["", `**Warning:** ${result.staleBuild.join("; ")}.`] : []),
    "",
    `**Versions:** node ${v.node}, zarr-saver ${v["zarr-saver"]}, zarrs ${v.zarrs}, rustc ${v.rustc ?? "?"}, ` +
      `zarr-python ${v["zarr-python"] ?? "?"}, numpy ${v.numpy ?? "?"}, numcodecs ${v.numcodecs ?? "?"}, zarrita ${v.zarrita}, ` +
      `tensorstore ${v.tensorstore ?? "?"}.`,
    "",
    "## Throughput",
    "",
    `MB/s of raw (uncompressed) data, MB = 10^6 bytes; median over repetitions (${repsText(result)}), each contender in its own`,
    "process, contenders interleaved within each repetition. Ratios are zarr-saver's `save` (async) over each",
    "baseline: the median of the ratios taken within each repetition. `*`: capped run (see notes).",
    "",
    markdownTable(rates.header, rates.rows),
    "",
    ...result.workloads.map((w) => `- **${w.id}**: ${w.describe}.`),
    "",
    ...cappedNotes(result).map((n) => `\\* ${n}`),
    "",
    ...(durableText(result)
      ? [`**Durable cost** (\`durable: true\`, not a target; see bench/README.md): ${durableText(result)}.`, ""]
      : []),
    ...(syscallsText(result)
      ? [
          `**System calls per W2 append** (\`strace -f\`; futex wakes: hand-overs between threads): ${syscallsText(result)}.`,
          ...(syscallsDetail(result) ? ["", `\`save\`, per append: ${escapeMarkdown(syscallsDetail(result))}.`] : []),
          "",
        ]
      : []),
    "## Targets",
    "",
    markdownTable(
      ["target", "goal", "measured", "met"],
      result.targets.map((t) => [
        t.target,
        t.goal,
        t.value ?? "not measured",
        t.met === undefined ? "?" : t.met ? "yes" : "**no**",
      ]),
    ),
    "",
    "## Memory and event loop",
    "",
    "Peak RSS is each process's high-water mark (`process.resourceUsage().maxRSS`, Python `ru_maxrss`,",
    "Rust `VmHWM`), the largest over repetitions; in parentheses the RSS just before the timed save, with the",
    "input already in memory. Event-loop delay: `perf_hooks.monitorEventLoopDelay({ resolution: 1 })`,",
    "enabled just around the save; each sample includes the 1 ms timer period, so an idle loop reads about 1.1 ms.",
    "",
    markdownTable(mem.header, mem.rows),
    "",
    "## Same codecs, same bytes",
    "",
    "The codecs each contender wrote in zarr.json (compared as JSON) and the bytes it stored",
    "(first repetition):",
    "",
    markdownTable(storage.header, storage.rows),
    "",
    analysis,
    "",
  ];
  return lines.join("\n");
}
