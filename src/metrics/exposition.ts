/**
 * The Prometheus text exposition format (version 0.0.4), written the way Go's client_golang
 * (and so node_exporter) writes it: families sorted by name, each with `# HELP` and
 * `# TYPE`, its series sorted by label values, label names sorted, values formatted as Go's
 * strconv 'g' with the shortest precision ("2.3765872e+07", "321"). Matching that byte for
 * byte lets a test compare uvs's node_ipvs_* series with node_exporter's own output.
 *
 * Families are plain data built at scrape time from counters (client_golang's "const
 * metrics", which node_exporter's collectors use too): nothing here is kept between scrapes.
 */

export type MetricType = 'counter' | 'gauge' | 'untyped';

export interface Sample {
  /** Label name -> value. */
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** The content type Prometheus expects for this format. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A family of `samples` (built by the caller at scrape time). */
export function family(
  name: string,
  type: MetricType,
  help: string,
  samples: Sample[] = [],
): MetricFamily {
  return { name, type, help, samples };
}

/** Writes the families as exposition text. Throws on an invalid metric or label name. */
export function formatExposition(families: readonly MetricFamily[]): string {
  const sorted = [...families].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  let prev = '';
  for (const f of sorted) {
    if (!NAME_RE.test(f.name)) throw new Error(`invalid metric name '${f.name}'`);
    if (f.name === prev) throw new Error(`metric family '${f.name}' registered twice`);
    prev = f.name;
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
    const lines = f.samples.map((s) => ({ key: labelKey(s.labels), s }));
    lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (let i = 0; i < lines.length; i++) {
      const { key, s } = lines[i];
      if (i > 0 && lines[i - 1].key === key) {
        throw new Error(`metric '${f.name}' has two series with labels {${key}}`);
      }
      out.push(`${f.name}${key === '' ? '' : `{${key}}`} ${formatValue(s.value)}\n`);
    }
  }
  return out.join('');
}

/** Label names already checked (a scrape writes the same few names many times). */
const goodLabels = new Set<string>();

/** `a="1",b="2"` with names sorted (client_golang's order). */
function labelKey(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels);
  if (names.length > 1) names.sort();
  let key = '';
  for (const n of names) {
    if (!goodLabels.has(n)) {
      if (!LABEL_RE.test(n) || n.startsWith('__')) throw new Error(`invalid label name '${n}'`);
      goodLabels.add(n);
    }
    if (key !== '') key += ',';
    key += `${n}="${escapeLabel(labels[n])}"`;
  }
  return key;
}

/** Throws when a family's metric or label names are not valid (what formatExposition checks). */
export function checkFamilies(families: readonly MetricFamily[]): void {
  for (const f of families) {
    if (!NAME_RE.test(f.name)) throw new Error(`invalid metric name '${f.name}'`);
    for (const s of f.samples) labelKey(s.labels);
  }
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeLabel(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Go's strconv.FormatFloat(v, 'g', -1, 64), as client_golang writes values: the shortest
 * digits that read back as v, in %e form when the decimal exponent is < -4 or >= 6 (Go's
 * rule for the shortest precision), with at least two exponent digits.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const [mant, expText] = v.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+';
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${mant}e${sign}${digits}`;
  }
  // Plain decimal: JavaScript prints these ranges without an exponent already.
  return String(v);
}
