// The one global filter: shared by the table, the map and the charts, kept in the URL. The core
// fields (text, labels, DEP, flags) and the fields the run's task adds (capabilities.filter_fields),
// each drawn by its kind.
import { useEffect, useState } from 'preact/hooks';
import { get, splitPath } from './api.js';
import { caps, columnNames, editsVersion, filter, filterKey, humanize, navigate, route, runInfo, setFilter, splitInfo } from './state.js';
import { debounce, fmt } from './util.jsx';

export function splitArgs() {
  const r = route.value;
  return { path: splitPath(r.project, r.run, r.split), inference_name: r.inf || undefined };
}

const FLAGS = [
  ['misclassified_only', 'Misclassified', 'is_misclassified'],
  ['likely_mislabeled', 'Likely mislabeled', 'likely_mislabeled'],
  ['is_otb', 'On the boundary', 'is_on_the_boundary'],
  ['is_drifted', 'Drifted', 'is_drifted'],
];

/** A chip's words for a task's filter field, by its kind. */
function describeField(field, v) {
  const name = humanize(field.name);
  switch (field.kind) {
    case 'text': return `${name} “${v}”`;
    case 'bool': return v ? name : `not ${name}`;
    case 'range': return `${name} ∈ [${fmt(v[0])}, ${fmt(v[1])}]`;
    default: return `${name} ∈ {${[].concat(v).join(', ')}}`;
  }
}

function describe(k, v) {
  const field = caps.value.filter_fields.find((x) => x.name === k);
  if (field) return describeField(field, v);
  switch (k) {
    case 'text': return `text contains “${v}”`;
    case 'text_regex': return `text ~ /${v}/`;
    case 'dep_min': return `DEP ≥ ${v}`;
    case 'dep_max': return `DEP ≤ ${v}`;
    case 'confidence_min': return `confidence ≥ ${v}`;
    case 'confidence_max': return `confidence ≤ ${v}`;
    case 'misclassified_only': return 'misclassified';
    case 'likely_mislabeled': return v ? 'likely mislabeled' : 'not likely mislabeled';
    case 'is_otb': return v ? 'on the boundary' : 'not on the boundary';
    case 'is_drifted': return v ? 'drifted' : 'not drifted';
    case 'gold': return `gold ∈ {${v.join(', ')}}`;
    case 'pred': return `pred ∈ {${v.join(', ')}}`;
    case 'task': return `task ${v}`;
    case 'labels': return `gold or pred ∈ {${v.join(', ')}}`;
    case 'cluster_id': return `cluster ${v.join(', ')}`;
    case 'ids': return `${v.length} chosen id${v.length === 1 ? '' : 's'}`;
    case 'exclude_ids': return `${v.length} id${v.length === 1 ? '' : 's'} excluded`;
    case 'lasso': {
      const polys = Array.isArray(v) ? v : [v];
      const sub = polys.filter((p) => p.op === 'subtract').length;
      return `lasso (${polys.length - sub} added${sub ? `, ${sub} subtracted` : ''})`;
    }
    case 'similar_to': return `${v.k} most similar to ${v.ids.length === 1 ? `id ${v.ids[0]}` : `${v.ids.length} ids`}`;
    case 'meta': return Object.entries(v).map(([c, x]) => `${c} = ${fmt(x)}`).join(', ');
    default: return `${k} = ${fmt(v)}`;
  }
}

export function FilterBar() {
  const f = filter.value;
  const cols = columnNames.value;
  const c = caps.value;
  const [count, setCount] = useState(null);
  const [text, setText] = useState(f.text || '');
  const { path, inference_name } = splitArgs();
  useEffect(() => setText(f.text || ''), [f.text]);
  useEffect(() => {
    let alive = true;
    const key = filterKey.value;
    get(`${path}/count`, { inference_name, filter: f }).then(
      (n) => alive && setCount({ ...n, key }),
      (e) => alive && setCount({ error: e.message, key }),
    );
    return () => { alive = false; };
  }, [path, inference_name, filterKey.value, editsVersion.value]);
  const [searchText] = useState(() => debounce((v) => setFilter({ text: v || undefined }, { replace: true }), 350));
  const chips = Object.entries(f);
  // gold on labelled splits only; each where the split's rows carry it
  const labelFilters = c.label_filters.filter((k) => cols.has(k) && (k !== 'gold' || splitInfo.value?.split !== 'inference'));
  // a bool field that is a flag column of some split (has_drifted_span) is offered where the split has it
  const runCols = new Set((runInfo.value?.splits || []).flatMap((x) => x.columns.map((y) => y.name)));
  const fields = c.filter_fields.filter((x) => x.kind !== 'bool' || !runCols.has(x.name) || cols.has(x.name));
  return (
    <section class="filterbar" data-testid="filterbar">
      <input type="search" placeholder="Search text…" value={text} data-testid="search"
             onInput={(e) => { setText(e.target.value); searchText(e.target.value); }} />
      {labelFilters.map((k) => (
        <AddToList key={k} name={k} testid={`${k}-select`} placeholder={`${k}…`} options={c.label_choices} value={f[k]} />
      ))}
      {fields.filter((x) => x.kind !== 'bool').map((x) => <Field key={x.name} field={x} value={f[x.name]} labels={c.label_choices} />)}
      {cols.has('data_error_potential') && (
        <label class="inline">DEP ≥
          <input type="number" min="0" max="1" step="0.05" value={f.dep_min ?? ''} data-testid="dep-min"
                 onChange={(e) => setFilter({ dep_min: e.target.value === '' ? undefined : Number(e.target.value) })} />
        </label>
      )}
      {FLAGS.filter(([, , col]) => cols.has(col)).map(([key, label]) => (
        <label class="inline toggle" key={key}>
          <input type="checkbox" checked={!!f[key]} data-testid={`flag-${key}`}
                 onChange={(e) => setFilter({ [key]: e.target.checked || undefined })} />
          {label}
        </label>
      ))}
      {fields.filter((x) => x.kind === 'bool').map((x) => <Field key={x.name} field={x} value={f[x.name]} />)}
      <span class="spacer" />
      <span class="count" data-testid="filter-count" data-key={count ? count.key : undefined}>
        {count && !count.error ? `${count.count.toLocaleString()} of ${count.total.toLocaleString()}` : ''}
        {count && count.error ? <span class="error-text">{count.error}</span> : ''}
      </span>
      {chips.length > 0 && (
        <div class="chips" data-testid="chips">
          {chips.map(([k, v]) => (
            <span class="chip" key={k}>
              {describe(k, v)}
              <button title="Remove" aria-label={`remove ${k}`} onClick={() => setFilter({ [k]: undefined })}>×</button>
            </span>
          ))}
          <button class="link" data-testid="clear-filter" onClick={() => navigate({ filter: {}, sample: '' })}>clear all</button>
        </div>
      )}
    </section>
  );
}

/** A select whose choice is added to the list held by the filter key `name`. */
function AddToList({ name, testid, placeholder, options, value, title }) {
  return (
    <select data-testid={testid} value="" title={title}
            onChange={(e) => e.target.value && setFilter({ [name]: [...new Set([...(value || []), e.target.value])] })}>
      <option value="">{placeholder}</option>
      {options.map((l) => <option key={l} value={l}>{l}</option>)}
    </select>
  );
}

/** A task's filter field, drawn by its kind (text, labels, choice, bool, range). */
function Field({ field, value, labels = [] }) {
  const slug = field.name.replace(/_/g, '-');
  const name = humanize(field.name);
  switch (field.kind) {
    case 'text': return <TextField field={field} value={value} />;
    case 'labels':
      return <AddToList name={field.name} testid={`${slug}-select`} placeholder={`${name}…`} options={labels} value={value} title={field.doc} />;
    case 'choice':
      return <AddToList name={field.name} testid={`${slug}-select`} placeholder={`${name}…`} options={field.choices || []} value={value} title={field.doc} />;
    case 'bool':
      return (
        <label class="inline toggle" title={field.doc}>
          <input type="checkbox" checked={!!value} data-testid={`flag-${field.name}`}
                 onChange={(e) => setFilter({ [field.name]: e.target.checked || undefined })} />
          {name}
        </label>
      );
    case 'range': {
      const [lo, hi] = Array.isArray(value) ? value : [null, null];
      const set = (a, b) => setFilter({ [field.name]: a === null && b === null ? undefined : [a, b] });
      const num = (v) => (v === '' ? null : Number(v));
      return (
        <label class="inline" title={field.doc}>{name}
          <input type="number" value={lo ?? ''} data-testid={`${slug}-min`} onChange={(e) => set(num(e.target.value), hi)} />
          –
          <input type="number" value={hi ?? ''} data-testid={`${slug}-max`} onChange={(e) => set(lo, num(e.target.value))} />
        </label>
      );
    }
    default: return null;
  }
}

function TextField({ field, value }) {
  const [v, setV] = useState(value || '');
  useEffect(() => setV(value || ''), [value]);
  const [push] = useState(() => debounce((x) => setFilter({ [field.name]: x || undefined }, { replace: true }), 350));
  return (
    <input type="search" class="narrow" placeholder={`${humanize(field.name)}…`} title={field.doc} value={v}
           data-testid={`${field.name.replace(/_/g, '-')}-input`}
           onInput={(e) => { setV(e.target.value); push(e.target.value); }} />
  );
}
