/**
 * A Grafana dashboard's queries, read for checking them against a real
 * Prometheus: every panel target's PromQL with the template variables put
 * in, and the label_values() variables as label and match selector. Pure.
 */

/** One panel target: where it is (panel title, refId) and its PromQL. */
export interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
}

/** A `label_values(selector, label)` template variable. */
export interface LabelVariable {
  name: string;
  label: string;
  match: string;
}

interface Dashboard {
  panels?: { title?: string; targets?: { refId?: string; expr?: string }[]; panels?: Dashboard['panels'] }[];
  templating?: { list?: { name?: string; type?: string; query?: string | { query?: string } }[] };
}

/** `$name`, `${name}` and `[[name]]` replaced by `values[name]`; a variable without a value throws, naming it. */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g, (_m, a: string | undefined, b: string | undefined, c: string | undefined) => {
    const name = (a ?? b ?? c)!;
    const v = values[name];
    if (v === undefined) throw new Error(`no value for template variable $${name} in ${expr}`);
    return v;
  });
}

/** Every target of every panel (rows' nested panels included), in order; a panel without targets throws, naming it. */
export function panelQueries(dashboard: unknown, values: Record<string, string>): PanelQuery[] {
  const out: PanelQuery[] = [];
  const walk = (panels: Dashboard['panels']): void => {
    for (const p of panels ?? []) {
      if (p.panels) walk(p.panels);
      if ((p as { type?: string }).type === 'row') continue;
      const title = p.title ?? '(untitled)';
      const targets = (p.targets ?? []).filter((t) => t.expr !== undefined);
      if (targets.length === 0) throw new Error(`panel "${title}" has no PromQL target`);
      for (const t of targets) out.push({ panel: title, refId: t.refId ?? '?', expr: substitute(t.expr!, values) });
    }
  };
  walk((dashboard as Dashboard).panels);
  return out;
}

/** The query variables of the form label_values(selector, label), with the other variables put into the selector. */
export function labelVariables(dashboard: unknown, values: Record<string, string>): LabelVariable[] {
  const out: LabelVariable[] = [];
  for (const v of (dashboard as Dashboard).templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query ?? '';
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q.trim());
    if (!m) throw new Error(`template variable ${v.name}: not a label_values(selector, label) query: ${q}`);
    out.push({ name: v.name ?? '?', label: m[2]!, match: substitute(m[1]!, values) });
  }
  return out;
}
