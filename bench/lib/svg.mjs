/** A hand-written SVG bar chart of zarr-saver's ratios to each baseline (log scale). */

const COLORS = { zarrita: "#e07b39", "zarr-python": "#3b75af", ceiling: "#6a9f58" };
const NAMES = { zarrita: "vs zarrita.js saver", "zarr-python": "vs zarr-python 3", ceiling: "vs Rust core direct (ceiling)" };
/** The benchmark targets drawn as marks: [workload, baseline, goal]. */
const GOALS = [
  ["W1 blosc lz4", "zarrita", 20],
  ["W1 blosc lz4", "zarr-python", 2],
  ["W1 blosc lz4", "ceiling", 0.9],
  ["W2 appends", "zarr-python", 10],
  ["W3 updates", "zarr-python", 3],
];

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function ratiosSvg(result) {
  const bases = ["zarrita", "zarr-python", "ceiling"];
  const contenderOf = { zarrita: "zarrita", "zarr-python": "zarr-python", ceiling: "rust-direct" };
  const rows = result.workloads.map((w) => ({
    id: w.id,
    r: result.ratios[w.id]?.["zarr-saver-async"] ?? {},
    capped: Object.fromEntries(bases.map((b) => [b, Boolean(result.cells[w.id]?.[contenderOf[b]]?.capped)])),
  }));
  const anyCapped = rows.some((row) => Object.values(row.capped).some(Boolean));
  const values = rows.flatMap((row) => bases.map((b) => row.r[b])).filter((x) => x > 0);
  const lo = Math.min(0.25, ...values.map((x) => x / 1.5));
  const hi = Math.max(100, ...values.map((x) => x * 1.5));
  const left = 130;
  const right = 50;
  const width = 820;
  const plotW = width - left - right;
  const top = 70;
  const bar = 11;
  const group = bases.length * (bar + 2) + 14;
  const height = top + rows.length * group + 44;
  const x = (v) => left + ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * plotW;
  const ticks = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].filter((t) => t >= lo && t <= hi);

  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="14" font-weight="bold">zarr-saver save: throughput ratio to each baseline (log scale, higher is better)</text>`,
    `<text x="${left}" y="34" fill="#555">${esc(`${result.machine.nproc} cores, ${result.machine.cpu}; ${result.quick ? "QUICK (smoke-test sizes), 1 repetition" : "median of per-repetition ratios over 3-5 repetitions"}`)}</text>`,
  );
  bases.forEach((b, i) => {
    const lx = left + i * 210;
    out.push(
      `<rect x="${lx}" y="44" width="12" height="10" fill="${COLORS[b]}"/>`,
      `<text x="${lx + 16}" y="53">${NAMES[b]}</text>`,
    );
  });
  out.push(
    `<line x1="${left + 640}" y1="44" x2="${left + 640}" y2="56" stroke="#c00" stroke-width="2"/>`,
    `<text x="${left + 645}" y="53">target</text>`,
  );
  for (const t of ticks) {
    const tx = x(t).toFixed(1);
    out.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${height - 34}" stroke="${t === 1 ? "#333" : "#ddd"}" stroke-width="${t === 1 ? 1.2 : 1}"/>`,
      `<text x="${tx}" y="${height - 20}" text-anchor="middle" fill="#444">${t}x</text>`,
    );
  }
  rows.forEach((row, gi) => {
    const gy = top + gi * group;
    out.push(`<text x="${left - 8}" y="${gy + group / 2 - 2}" text-anchor="end" font-weight="bold">${esc(row.id)}</text>`);
    bases.forEach((b, i) => {
      const y = gy + i * (bar + 2);
      const v = row.r[b];
      const marks = GOALS.filter(([wid, gb]) => wid === row.id && gb === b).map(([, , goal]) => {
        const gx = x(goal).toFixed(1);
        return `<line x1="${gx}" y1="${y - 2}" x2="${gx}" y2="${y + bar + 2}" stroke="#c00" stroke-width="2"/>`;
      });
      if (v > 0) {
        const x0 = x(Math.min(1, v));
        const x1 = x(Math.max(1, v));
        // Bar, then the target mark over it, then the value label over both.
        out.push(
          `<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${bar}" fill="${COLORS[b]}"/>`,
          ...marks,
          `<text x="${(v >= 1 ? x1 + 4 : x0 - 4).toFixed(1)}" y="${y + bar - 2}" text-anchor="${v >= 1 ? "start" : "end"}" fill="#222">${v >= 10 ? v.toFixed(0) : v.toFixed(2)}x${row.capped[b] ? "*" : ""}</text>`,
        );
      } else {
        out.push(
          ...marks,
          `<text x="${x(1) + 4}" y="${y + bar - 2}" fill="#999">${row.id.startsWith("W4") && b === "ceiling" ? "n/a" : "not run"}</text>`,
        );
      }
    });
  });
  if (anyCapped) {
    out.push(
      `<text x="${left}" y="${height - 2}" fill="#555">* the baseline was capped by the time budget; its rate is measured on the part it did</text>`,
    );
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
