// The sample table: sorted server-side (default DEP, hardest first), keyset-paged as you scroll,
// virtualised (only the rows in view are in the DOM), with column toggles.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get } from './api.js';
import { editsVersion, filter, filterKey, navigate, route, splitInfo } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { ErrorBox, depColor, fmt } from './util.jsx';

const ROW_H = 34;
const PAGE = 200;
const HIDDEN_BY_DEFAULT = new Set(['aum', 'confidence_mean', 'variability', 'correctness', 'certainty_ratio', 'x', 'y',
  'cluster_id', 'knn_distance', 'gold_spans', 'pred_spans', 'text_token_indices']);
const FLAG_COLS = { is_misclassified: 'misclassified', likely_mislabeled: 'mislabeled?', is_on_the_boundary: 'boundary', is_drifted: 'drifted', has_drifted_span: 'drifted span' };
const WIDTH = { text: 'minmax(16em, 4fr)', text_pair: 'minmax(12em, 3fr)' };

function cell(col, v) {
  if (col === 'data_error_potential' && typeof v === 'number') {
    return <span class="dep" style={{ borderColor: depColor(v) }}>{v.toFixed(3)}</span>;
  }
  if (FLAG_COLS[col]) return v ? <span class={`flag ${col}`}>{FLAG_COLS[col]}</span> : '';
  // short lists of labels (a multi-label sample's labels per task) read as they are
  if (Array.isArray(v) && v.length <= 12 && v.every((x) => typeof x === 'string')) return v.join(', ');
  if (Array.isArray(v)) return `${v.length} item${v.length === 1 ? '' : 's'}`;
  return fmt(v);
}

export function TableView() {
  const r = route.value;
  const s = splitInfo.value;
  const { path, inference_name } = splitArgs();
  const hasSimilar = !!filter.value.similar_to;
  const allCols = useMemo(() => [...s.columns.map((c) => c.name), ...(hasSimilar ? ['similarity'] : [])], [s, hasSimilar]);
  const sortable = useMemo(() => new Set([...s.columns.filter((c) => c.sortable).map((c) => c.name), 'similarity']), [s]);
  const defaultSort = hasSimilar ? 'similarity' : allCols.includes('data_error_potential') ? 'data_error_potential' : allCols.includes('drift_score') ? 'drift_score' : 'confidence';
  const [sort, setSort] = useState({ col: null, desc: true });
  const sortCol = sort.col && allCols.includes(sort.col) ? sort.col : defaultSort;
  const [hidden, setHidden] = useState(() => new Set(HIDDEN_BY_DEFAULT));
  const cols = allCols.filter((c) => !hidden.has(c));
  const [state, setState] = useState({ rows: [], next: null, done: false, error: null, loading: false });
  const [scroll, setScroll] = useState(0);
  const [height, setHeight] = useState(600);
  const box = useRef(null);
  const gen = useRef(0);

  const load = (reset) => {
    const g = reset ? ++gen.current : gen.current;
    setState((st) => ({ ...(reset ? { rows: [], next: null, done: false } : st), error: null, loading: true }));
    const cursor = reset ? undefined : state.next;
    get(`${path}/samples`, { inference_name, filter: filter.value, sort: sortCol, order: sort.desc ? 'desc' : 'asc', limit: PAGE, cursor })
      .then((page) => {
        if (g !== gen.current) return;
        setState((st) => ({ rows: reset ? page.rows : [...st.rows, ...page.rows], next: page.next_cursor, done: !page.next_cursor, error: null, loading: false }));
      }, (error) => g === gen.current && setState((st) => ({ ...st, error, loading: false })));
  };
  useEffect(() => {
    load(true);
    if (box.current) box.current.scrollTop = 0;
  }, [path, inference_name, filterKey.value, sortCol, sort.desc, editsVersion.value]);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(scroll / ROW_H) - 10);
  const last = Math.min(state.rows.length, Math.ceil((scroll + height) / ROW_H) + 10);
  useEffect(() => {
    if (!state.loading && !state.done && state.next && last >= state.rows.length - 40) load(false);
  }, [last, state.rows.length, state.loading, state.done]);

  const template = cols.map((c) => WIDTH[c] || (c === 'id' ? '6em' : 'minmax(6em, 1fr)')).join(' ');
  const clickHeader = (c) => {
    if (!sortable.has(c)) return;
    setSort((st) => ({ col: c, desc: sortCol === c ? !st.desc : true }));
  };
  return (
    <div class="tableview">
      <div class="toolbar">
        <details class="coltoggle" data-testid="column-toggles">
          <summary>Columns ({cols.length}/{allCols.length})</summary>
          <div class="menu">
            {allCols.map((c) => (
              <label key={c}>
                <input type="checkbox" checked={!hidden.has(c)}
                       onChange={(e) => setHidden((h) => { const n = new Set(h); if (e.target.checked) n.delete(c); else n.add(c); return n; })} />
                {c}
              </label>
            ))}
          </div>
        </details>
        <span class="muted">sorted by <strong>{sortCol}</strong> {sort.desc ? '↓' : '↑'} · click a header to sort, a row to inspect</span>
      </div>
      <ErrorBox error={state.error} />
      <div class="vtable" role="table" data-testid="sample-table">
        <div class="vrow head" role="row" style={{ gridTemplateColumns: template }}>
          {cols.map((c) => (
            <div key={c} role="columnheader" class={sortable.has(c) ? 'sortable' : ''} data-col={c} onClick={() => clickHeader(c)}>
              {c === 'data_error_potential' ? 'DEP' : c}{sortCol === c ? (sort.desc ? ' ↓' : ' ↑') : ''}
            </div>
          ))}
        </div>
        <div class="vbody" ref={box} onScroll={(e) => setScroll(e.currentTarget.scrollTop)}>
          <div style={{ height: `${state.rows.length * ROW_H}px`, position: 'relative' }}>
            {state.rows.slice(first, last).map((row, i) => (
              <div key={row._row} role="row" data-row={row._row}
                   class={`vrow${String(row._row) === String(r.sample) ? ' selected' : ''}`}
                   style={{ gridTemplateColumns: template, top: `${(first + i) * ROW_H}px`, height: `${ROW_H}px` }}
                   onClick={() => navigate({ sample: row._row })}>
                {cols.map((c) => (
                  <div key={c} role="cell" data-col={c} class={c === 'text' || c === 'text_pair' ? 'text' : ''} title={typeof row[c] === 'string' ? row[c] : undefined}>
                    {cell(c, row[c])}
                  </div>
                ))}
              </div>
            ))}
          </div>
          {!state.loading && state.rows.length === 0 && !state.error && <p class="empty">No samples match the filter.</p>}
        </div>
      </div>
      <div class="muted small" data-testid="table-status">
        {state.rows.length.toLocaleString()} rows loaded{state.done ? ' (all)' : ''}{state.loading ? ' · loading…' : ''}
      </div>
    </div>
  );
}
