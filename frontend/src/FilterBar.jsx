// The one global filter: shared by the table, the map and the charts, kept in the URL.
import { useEffect, useState } from 'preact/hooks';
import { get, splitPath } from './api.js';
import { columnNames, editsVersion, filter, filterKey, navigate, route, runInfo, setFilter, splitInfo } from './state.js';
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
  ['has_drifted_span', 'Drifted span', 'has_drifted_span'],
];

function describe(k, v) {
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
    case 'has_drifted_span': return v ? 'with a drifted span' : 'without a drifted span';
    case 'gold': return `gold ∈ {${v.join(', ')}}`;
    case 'pred': return `pred ∈ {${v.join(', ')}}`;
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
    case 'span_text': return `span text contains “${v}”`;
    case 'span_regex': return `span text ~ /${v}/`;
    case 'error_type': return `error type ∈ {${v.join(', ')}}`;
    case 'span_label': return `entity ∈ {${v.join(', ')}}`;
    case 'meta': return Object.entries(v).map(([c, x]) => `${c} = ${fmt(x)}`).join(', ');
    default: return `${k} = ${fmt(v)}`;
  }
}

export function FilterBar() {
  const f = filter.value;
  const cols = columnNames.value;
  const labels = runInfo.value?.labels || [];
  const isNer = runInfo.value?.task_type === 'text_ner';
  const [count, setCount] = useState(null);
  const [text, setText] = useState(f.text || '');
  const { path, inference_name } = splitArgs();
  useEffect(() => setText(f.text || ''), [f.text]);
  useEffect(() => {
    let alive = true;
    const key = filterKey.value;
    get(`${path}/count`, { inference_name, filter: f }).then(
      (c) => alive && setCount({ ...c, key }),
      (e) => alive && setCount({ error: e.message, key }),
    );
    return () => { alive = false; };
  }, [path, inference_name, filterKey.value, editsVersion.value]);
  const [searchText] = useState(() => debounce((v) => setFilter({ text: v || undefined }, { replace: true }), 350));
  const chips = Object.entries(f);
  const labelOptions = isNer ? labels.filter((l) => l !== 'O').map((l) => l.replace(/^[BIESLU]-/, '')).filter((v, i, a) => a.indexOf(v) === i) : labels;
  return (
    <section class="filterbar" data-testid="filterbar">
      <input type="search" placeholder="Search text…" value={text} data-testid="search"
             onInput={(e) => { setText(e.target.value); searchText(e.target.value); }} />
      {!isNer && cols.has('gold') && splitInfo.value?.split !== 'inference' && (
        <select data-testid="gold-select" value="" onChange={(e) => e.target.value && setFilter({ gold: [...new Set([...(f.gold || []), e.target.value])] })}>
          <option value="">gold…</option>
          {labels.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
      )}
      {!isNer && cols.has('pred') && (
        <select data-testid="pred-select" value="" onChange={(e) => e.target.value && setFilter({ pred: [...new Set([...(f.pred || []), e.target.value])] })}>
          <option value="">pred…</option>
          {labels.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
      )}
      {isNer && (
        <select data-testid="span-label-select" value="" onChange={(e) => e.target.value && setFilter({ span_label: [...new Set([...(f.span_label || []), e.target.value])] })}>
          <option value="">entity…</option>
          {labelOptions.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
      )}
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
