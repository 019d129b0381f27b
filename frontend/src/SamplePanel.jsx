// One sample: its text (drawn as the run's task says: plain, or with its spans), labels, signals
// and meta; "show similar" (with scores, across splits) and quick edits of the sample (relabel,
// relabel as the prediction, delete: those of them the task offers) that go to the run's edits cart.
import { useEffect, useState } from 'preact/hooks';
import { get, post } from './api.js';
import { caps, editsVersion, navigate, notify, route, runInfo, setFilter, splitInfo } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { SpanText } from './spans.jsx';
import { ErrorBox, fmt, useLoad } from './util.jsx';

const SHOWN = ['gold', 'pred', 'confidence', 'data_error_potential', 'likely_mislabeled', 'is_misclassified', 'is_on_the_boundary',
  'certainty_ratio', 'aum', 'confidence_mean', 'variability', 'drift_score', 'is_drifted', 'knn_distance', 'span_drift_score', 'has_drifted_span', 'cluster_id'];

// The whole-sample edits the panel offers as buttons, when the task offers them.
const QUICK_EDITS = ['relabel', 'relabel_as_pred', 'delete'];

export function SamplePanel() {
  const r = route.value;
  const s = splitInfo.value;
  const info = runInfo.value;
  const row = Number(r.sample);
  const { path, inference_name } = splitArgs();
  const rec = useLoad(() => get(`${path}/rows`, { inference_name, rows: [row] }).then((d) => d.rows[0]), [path, inference_name, row]);
  const [similar, setSimilar] = useState(null);
  const [k, setK] = useState(10);
  const [label, setLabel] = useState('');
  useEffect(() => { setSimilar(null); }, [path, inference_name, row]);
  const x = rec.data;
  const c = caps.value;
  const quick = new Set(c.edit_actions.map((a) => a.name).filter((a) => QUICK_EDITS.includes(a)));
  const searchable = info.splits.filter((t) => t.has_embeddings).map((t) => t.key);
  const showSimilar = () => {
    setSimilar({ loading: true });
    get(`${path}/similar`, { inference_name, row, k, splits: searchable.join(',') }).then(
      (d) => setSimilar({ rows: d.rows }), (error) => setSimilar({ error }));
  };
  const edit = (body) => {
    post(`${path}/edits`, { ...body, filter: { ids: [x.id] } }, { inference_name }).then((e) => {
      editsVersion.value += 1;
      notify(`Edit #${e.edit_id} recorded: ${e.action} on ${e.n_samples} sample${e.n_samples === 1 ? '' : 's'} (undo in “Edits & export”).`);
    }, (err) => notify(err.message, 'error'));
  };
  return (
    <aside class="sidepanel" data-testid="sample-panel">
      <div class="panel-head">
        <strong>Sample {x ? fmt(x.id) : ''}</strong>
        <span class="muted small"> row {row}</span>
        <span class="spacer" />
        <button class="link" aria-label="close" onClick={() => navigate({ sample: '' })}>×</button>
      </div>
      <ErrorBox error={rec.error} />
      {x && (
        <>
          <div class="sample-text" data-testid="sample-text">
            {c.sample_view === 'spans' ? <SpanText text={x.text} gold={x.gold_spans || []} pred={x.pred_spans || []} /> : x.text}
          </div>
          {x.text_pair != null && <div class="sample-text pair"><span class="muted small">text_pair</span><br />{x.text_pair}</div>}
          <table class="kv">
            <tbody>
              {SHOWN.filter((c) => c in x).map((c) => <tr key={c}><th>{c === 'data_error_potential' ? 'DEP' : c}</th><td>{fmt(x[c])}</td></tr>)}
              {s.columns.filter((c) => c.meta).map((c) => <tr key={c.name}><th>{c.name}</th><td>{fmt(x[c.name])}</td></tr>)}
            </tbody>
          </table>
          <div class="actions">
            {s.has_embeddings && (
              <>
                <button data-testid="show-similar" onClick={showSimilar}>Show similar</button>
                <label class="inline">k <input type="number" min="1" max="1000" value={k} onChange={(e) => setK(Math.max(1, Math.min(1000, Number(e.target.value) || 10)))} /></label>
                <button class="link" data-testid="filter-similar" onClick={() => setFilter({ similar_to: { ids: [x.id], k } })}>filter this split to the {k} most similar</button>
              </>
            )}
          </div>
          {quick.size > 0 && s.split !== 'inference' && (
            <div class="actions" data-testid="sample-edits">
              {quick.has('relabel') && (
                <>
                  <select value={label} data-testid="relabel-select" onChange={(e) => setLabel(e.target.value)}>
                    <option value="">relabel as…</option>
                    {c.label_choices.filter((l) => l !== x.gold).map((l) => <option key={l} value={l}>{l}</option>)}
                  </select>
                  <button disabled={!label} data-testid="relabel" onClick={() => edit({ edit_action: 'relabel', new_label: label })}>Relabel</button>
                </>
              )}
              {quick.has('relabel_as_pred') && x.pred != null && x.pred !== x.gold && <button data-testid="relabel-as-pred" onClick={() => edit({ edit_action: 'relabel_as_pred' })}>Relabel as pred ({x.pred})</button>}
              {quick.has('delete') && <button class="danger" data-testid="delete-sample" onClick={() => edit({ edit_action: 'delete' })}>Remove</button>}
            </div>
          )}
          {similar && (
            <div class="similar" data-testid="similar">
              <ErrorBox error={similar.error} />
              {similar.loading && <p class="muted">Searching…</p>}
              {similar.rows && (
                <table class="grid small">
                  <thead><tr><th>similarity</th><th>split</th><th>text</th><th>gold</th><th>pred</th></tr></thead>
                  <tbody>
                    {similar.rows.map((y, i) => (
                      <tr key={i}>
                        <td>{fmt(y.similarity)}</td><td>{y.split}</td><td class="wrap">{String(y.text ?? '').slice(0, 200)}</td><td>{y.gold ?? '—'}</td><td>{y.pred ?? '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          )}
        </>
      )}
    </aside>
  );
}
