/**
 * Docker-style aligned tables (docker's tabwriter: minimum cell width 10, padding 3).
 * Pure: strings in, string out.
 */

const MIN_WIDTH = 10;
const PADDING = 3;

/** Display width of a cell: code points (the CLI prints no wide characters in tables). */
function width(s: string): number {
  return [...s].length;
}

/**
 * Renders a header row and data rows as aligned columns, every line ending in "\n".
 * Each column but the last is padded to max(longest cell + 3, 10); trailing blanks are trimmed.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const columns = Math.max(...all.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < columns - 1; c++) {
    const longest = Math.max(...all.map((r) => width(r[c] ?? '')));
    widths.push(Math.max(longest + PADDING, MIN_WIDTH));
  }
  return all
    .map((row) => {
      let line = '';
      for (let c = 0; c < columns; c++) {
        const cell = row[c] ?? '';
        const w = widths[c];
        line += w === undefined ? cell : cell + ' '.repeat(w - width(cell));
      }
      return line.trimEnd() + '\n';
    })
    .join('');
}
