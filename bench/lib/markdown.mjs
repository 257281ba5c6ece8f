/**
 * A Markdown table laid out the way the formatter lays it out (padded cells, `---:` for
 * right-aligned columns), so a regenerated RESULTS file passes the lint step unchanged.
 * The first column is left-aligned and the rest right-aligned unless `align` says
 * otherwise ("l" or "r" per column).
 */
export function markdownTable(headers, rows, align = headers.map((_, i) => (i === 0 ? "l" : "r"))) {
  const text = (v) => String(v ?? "").replace(/\|/g, "\\|");
  const widths = headers.map((h, i) => Math.max(3, text(h).length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells) =>
    `| ${cells.map((c, i) => (align[i] === "r" ? text(c).padStart(widths[i]) : text(c).padEnd(widths[i]))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (align[i] === "r" ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}
