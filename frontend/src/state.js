// The console's state: where we are (kept in the URL, so a view can be shared) and what is loaded.
// route = { page: 'home' | 'run', project, run, split, inf, view, filter, color, sample }.
import { signal, computed } from '@preact/signals';

const VIEWS = ['table', 'map', 'summary', 'inference', 'spans', 'edits'];

export function parseLocation(loc = window.location) {
  const parts = loc.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(loc.search);
  if (parts[0] !== 'runs' || parts.length < 3) return { page: 'home' };
  let filter = {};
  try {
    const f = JSON.parse(q.get('filter') || '{}');
    if (f && typeof f === 'object' && !Array.isArray(f)) filter = f;
  } catch (e) {
    filter = {};
  }
  const view = VIEWS.includes(q.get('view')) ? q.get('view') : 'table';
  return {
    page: 'run',
    project: parts[1],
    run: parts[2],
    split: q.get('split') || '',
    inf: q.get('inference_name') || '',
    view,
    filter,
    color: q.get('color') || 'gold',
    sample: q.get('sample') || '',
  };
}

export function toUrl(r) {
  if (r.page !== 'run') return '/';
  const q = new URLSearchParams();
  if (r.split) q.set('split', r.split);
  if (r.inf) q.set('inference_name', r.inf);
  if (r.view && r.view !== 'table') q.set('view', r.view);
  if (r.filter && Object.keys(r.filter).length) q.set('filter', JSON.stringify(r.filter));
  if (r.color && r.color !== 'gold') q.set('color', r.color);
  if (r.sample !== '' && r.sample !== undefined && r.sample !== null) q.set('sample', String(r.sample));
  const s = q.toString();
  return `/runs/${encodeURIComponent(r.project)}/${encodeURIComponent(r.run)}${s ? `?${s}` : ''}`;
}

export const route = signal(parseLocation());

/** Change the route: push a history entry (default) or replace the current one. */
export function navigate(patch, { replace = false } = {}) {
  const next = { ...route.value, ...patch };
  if (next.page === 'run' && next.filter) next.filter = cleanFilter(next.filter);
  route.value = next;
  const url = toUrl(next);
  if (url !== window.location.pathname + window.location.search) {
    if (replace) window.history.replaceState(null, '', url);
    else window.history.pushState(null, '', url);
  }
}

window.addEventListener('popstate', () => {
  route.value = parseLocation();
});

/** Drop empty fields, so the URL and the server see only the conditions that are set. */
export function cleanFilter(f) {
  const out = {};
  for (const [k, v] of Object.entries(f || {})) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (k === 'meta' && typeof v === 'object' && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

export function setFilter(patch, opts) {
  navigate({ filter: { ...route.value.filter, ...patch }, sample: '' }, opts);
}

export const filter = computed(() => route.value.filter || {});
export const filterKey = computed(() => JSON.stringify(filter.value));

/** The loaded run (GET /api/runs/{p}/{r}) and a counter bumped whenever edits change. */
export const runInfo = signal(null);
export const editsVersion = signal(0);
export const toast = signal(null);

export function notify(message, kind = 'info') {
  toast.value = { message, kind, at: Date.now() };
  setTimeout(() => {
    if (toast.value && Date.now() - toast.value.at >= 4500) toast.value = null;
  }, 5000);
}

export const splitInfo = computed(() => {
  const info = runInfo.value;
  const r = route.value;
  if (!info || r.page !== 'run') return null;
  const key = r.split === 'inference' ? `inference/${r.inf}` : r.split;
  return info.splits.find((s) => s.key === key) || null;
});

export const columnNames = computed(() => new Set((splitInfo.value?.columns || []).map((c) => c.name)));

// What the run's task lets the console show and offer (GET /api/runs/{p}/{r} `capabilities`; see
// dataquality.tasks.base.Capabilities). Every task-dependent choice in the console reads these:
// no component asks which task a run is.
const NO_CAPS = {
  views: ['table', 'map', 'summary', 'inference', 'edits'],
  filter_fields: [], // [{ name, kind: 'text' | 'labels' | 'bool' | 'range' | 'choice', doc, choices }]
  label_filters: [], // core label fields the rows carry: 'gold', 'pred'
  edit_actions: [], // [{ name, needs: 'label' | 'text' | 'shift' | null, doc }]
  color_by: ['dep', 'cluster'],
  label_choices: [], // the names a user picks from when filtering or relabelling
  sample_view: 'text', // 'text' | 'spans'
  summary_sections: [], // 'per_class', 'confusion', 'entity_metrics', 'error_counts', 'per_task'
  subtasks: [], // multi-label: the run's tasks, for the task selector
};

/** The capabilities of a run (GET /api/runs/{p}/{r}), with defaults for what it leaves out. */
export function capsOf(info) {
  return { ...NO_CAPS, ...(info?.capabilities || {}) };
}

export const caps = computed(() => capsOf(runInfo.value));

/** A field or action name in words: `relabel_as_pred` → `relabel as pred`. */
export const humanize = (name) => String(name).replace(/_/g, ' ');

/** The task's filter field that selects by label name (kind `labels`), if any: where a click on a
 * label (a confusion row, a per-label bar) goes when the rows carry no core `gold`/`pred`. */
export const labelField = computed(() => caps.value.filter_fields.find((f) => f.kind === 'labels')?.name || null);

/** The filter that a click on a (gold, pred) pair of labels sets. */
export function labelPairFilter(gold, pred) {
  const c = caps.value;
  if (c.label_filters.includes('gold') && c.label_filters.includes('pred')) return { gold: [gold], pred: [pred] };
  if (c.label_filters.includes('gold')) return { gold: [gold] };
  return labelField.value ? { [labelField.value]: [gold] } : null;
}

/** The filter that a click on one label sets (`gold`, else the task's label field). */
export function labelFilter(label, core = 'gold') {
  if (caps.value.label_filters.includes(core)) return { [core]: [label] };
  return labelField.value ? { [labelField.value]: [label] } : null;
}

/** The filter that selects one value of a `choice` field offering it (an error type, ...). */
export function choiceFilter(value) {
  const f = caps.value.filter_fields.find((x) => x.kind === 'choice' && (x.choices || []).includes(value));
  return f ? { [f.name]: [value] } : null;
}
