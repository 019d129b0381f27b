// The spans view (for tasks that declare it): samples (hardest first) with their gold and predicted
// spans highlighted by error type, and the span table of the filtered samples. Its toolbar sets the
// span text and error type filters.
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';
import { caps, columnNames, editsVersion, filter, filterKey, navigate, route, setFilter } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { ErrorLegend, SpanText } from './spans.jsx';
import { ERROR_COLORS, ErrorBox, debounce, fmt, useLoad } from './util.jsx';

export function SpansView() {
  const r = route.value;
  const f = filter.value;
  const { path, inference_name } = splitArgs();
  const deps = [path, inference_name, filterKey.value, editsVersion.value];
  const [limit, setLimit] = useState(50);
  const have = columnNames.value;
  const want = ['text', 'gold_spans', 'pred_spans', 'data_error_potential', 'drift_score', 'n_errors'].filter((c) => have.has(c));
  const score = have.has('data_error_potential') ? 'data_error_potential' : 'confidence';
  const samples = useLoad(() => get(`${path}/samples`, { inference_name, filter: f, limit, sort: score, order: score === 'confidence' ? 'asc' : 'desc', columns: [...want, score].join(',') }), [...deps, limit]);
  const spans = useLoad(() => get(`${path}/spans`, { inference_name, filter: f, limit: 500 }), deps);
  const [spanText, setSpanText] = useState(f.span_text || '');
  useEffect(() => setSpanText(f.span_text || ''), [f.span_text]);
  const [push] = useState(() => debounce((v) => setFilter({ span_text: v || undefined }, { replace: true }), 350));
  // the error types: the choices of the task's `error_type` filter field
  const errorField = caps.value.filter_fields.find((x) => x.name === 'error_type');
  const errorTypes = (errorField?.choices || Object.keys(ERROR_COLORS)).filter((k) => k !== 'none');
  return (
    <div class="spansview" data-testid="spans-view">
      <div class="toolbar">
        <input type="search" placeholder="Span text…" value={spanText} data-testid="span-search"
               onInput={(e) => { setSpanText(e.target.value); push(e.target.value); }} />
        <span>error type</span>
        {errorTypes.map((k) => (
          <label class="inline toggle" key={k}>
            <input type="checkbox" data-testid={`error-${k}`} checked={(f.error_type || []).includes(k)}
                   onChange={(e) => {
                     const cur = new Set(f.error_type || []);
                     if (e.target.checked) cur.add(k); else cur.delete(k);
                     setFilter({ error_type: [...cur] });
                   }} />
            <i class="swatch" style={{ background: ERROR_COLORS[k] }} />{k.replace(/_/g, ' ')}
          </label>
        ))}
        <span class="spacer" />
        <ErrorLegend />
      </div>
      <ErrorBox error={samples.error || spans.error} />
      <div class="panels two">
        <section class="panel">
          <h3>{score === 'data_error_potential' ? 'Samples, hardest first' : 'Samples, least confident first'}</h3>
          <ul class="span-samples" data-testid="span-samples">
            {(samples.data?.rows || []).map((x) => (
              <li key={x._row} class={`clickable${String(x._row) === String(r.sample) ? ' selected' : ''}`} data-row={x._row}
                  onClick={() => navigate({ sample: x._row })}>
                <span class="badge" title={score === 'data_error_potential' ? 'sample DEP' : 'confidence'}>{fmt(x[score])}</span>{' '}
                <SpanText text={x.text} gold={x.gold_spans || []} pred={x.pred_spans || []} />
              </li>
            ))}
          </ul>
          {samples.data?.next_cursor && <button class="link" onClick={() => setLimit((l) => Math.min(1000, l + 50))}>more</button>}
          {samples.data && samples.data.rows.length === 0 && <p class="empty">No samples match the filter.</p>}
        </section>
        <section class="panel">
          <h3>Spans{spans.data ? ` (${spans.data.n.toLocaleString()}${spans.data.truncated ? ', first 500' : ''})` : ''}</h3>
          <table class="grid small" data-testid="span-table">
            <thead><tr><th>sample</th><th>kind</th><th>text</th><th>label</th><th>matched</th><th>error</th><th>DEP</th></tr></thead>
            <tbody>
              {(spans.data?.rows || []).map((s, i) => (
                <tr key={i} class="clickable" onClick={() => setFilter({ ids: [s.id] })}>
                  <td>{fmt(s.id)}</td><td>{s.span_kind}</td><td>{s.span_text}</td><td>{s.label}</td><td>{s.matched_label ?? '—'}</td>
                  <td><span class="errtag" style={{ color: ERROR_COLORS[s.error_type] }}>{s.error_type}</span></td>
                  <td>{fmt(s.data_error_potential)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
    </div>
  );
}
