// An inference set against training: the set-level drift verdict, the predicted class mix and the
// confidence against the reference split, and the drifted and on-the-boundary samples.
import { get, splitPath } from './api.js';
import { editsVersion, navigate, route, runInfo, setFilter, splitInfo } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { Histogram, PairedBars } from './charts.jsx';
import { Alerts } from './SummaryView.jsx';
import { ErrorBox, fmt, pct, useLoad } from './util.jsx';

export function InferenceView() {
  const r = route.value;
  const s = splitInfo.value;
  const labels = runInfo.value?.labels || [];
  const { path, inference_name } = splitArgs();
  const sum = useLoad(() => get(`${path}/summary`, { inference_name }), [path, inference_name, editsVersion.value]);
  const d = sum.data;
  const ref = d?.drift?.confidence_shift?.reference_split || d?.drift?.reference_split || 'training';
  const lo = labels.length > 1 ? 1 / labels.length : 0;
  const confInf = useLoad(() => get(`${path}/histogram`, { inference_name, column: 'confidence', bins: 20, lo, hi: 1 }), [path, inference_name]);
  const confRef = useLoad(() => (d ? get(`${splitPath(r.project, r.run, ref)}/histogram`, { column: 'confidence', bins: 20, lo, hi: 1 }) : null), [ref, !!d]);
  const have = new Set(s.columns.map((c) => c.name));
  const cols = (...c) => c.filter((x) => have.has(x)).join(',');
  const drifted = useLoad(() => (have.has('is_drifted') && have.has('drift_score')
    // drift_score is a percentile and reaches 1 for everything beyond the reference: the distance orders those
    ? get(`${path}/samples`, { inference_name, filter: { is_drifted: true }, sort: have.has('knn_distance') ? 'knn_distance' : 'drift_score', order: 'desc', limit: 10, columns: cols('text', 'pred', 'confidence', 'drift_score', 'knn_distance') })
    : null), [path, inference_name]);
  const otb = useLoad(() => (have.has('is_on_the_boundary')
    ? get(`${path}/samples`, { inference_name, filter: { is_otb: true }, sort: 'confidence', order: 'asc', limit: 10, columns: cols('text', 'pred', 'confidence') })
    : null), [path, inference_name]);
  if (s.split !== 'inference') return <p class="empty">Choose an inference set above.</p>;
  const drift = d?.drift;
  const cs = drift?.class_shift;
  const conf = drift?.confidence_shift;
  return (
    <div class="inference" data-testid="inference-view">
      <ErrorBox error={sum.error} />
      {d && (
        <section class="cards">
          <div class="card"><div class="card-value">{d.n_samples?.toLocaleString()}</div><div class="card-label">samples</div></div>
          {drift?.rate != null && <div class="card"><div class="card-value">{pct(drift.rate)}</div><div class="card-label">drifted (expected {pct(drift.expected_rate, 0)})</div></div>}
          {drift?.mmd && (
            <div class={`card ${drift.mmd.drifted ? 'bad' : 'good'}`} data-testid="set-drift">
              <div class="card-value">{drift.mmd.drifted ? 'drifted' : 'no drift'}</div>
              <div class="card-label">MMD² {fmt(drift.mmd.mmd2, 4)}, p = {fmt(drift.mmd.p_value, 4)} vs {drift.mmd.reference_split || 'training'}</div>
            </div>
          )}
          {d.is_on_the_boundary && <div class="card"><div class="card-value">{pct(d.is_on_the_boundary.rate)}</div><div class="card-label">on the class boundary</div></div>}
          {d.mean_confidence != null && <div class="card"><div class="card-value">{fmt(d.mean_confidence)}</div><div class="card-label">mean confidence{conf?.train_mean != null ? ` (training ${fmt(conf.train_mean)})` : ''}</div></div>}
        </section>
      )}
      <div class="panels">
        {cs && (
          <section class="panel">
            <h3>{cs.unit ? 'Predicted entity types' : 'Predicted classes'}: {cs.reference_split || 'training'} vs this set</h3>
            <p class="muted small">χ² = {fmt(cs.chi2, 2)}, p = {fmt(cs.p_value, 4)} against {cs.reference_split} predictions · total variation {fmt(cs.total_variation)}</p>
            <PairedBars testid="class-shift" labels={Object.keys(cs.share || {}).length ? Object.keys(cs.share) : labels} a={cs.train_share || {}} b={cs.share || {}} aName={cs.reference_split || 'training'} bName={inference_name} format={(v) => pct(v)} />
          </section>
        )}
        {confInf.data?.edges?.length > 0 && (
          <section class="panel">
            <h3>Confidence: {ref} vs this set</h3>
            {conf && <p class="muted small">KS = {fmt(conf.ks)}, p = {fmt(conf.p_value, 4)} · median {fmt(conf.train_median)} → {fmt(conf.median)}</p>}
            <Histogram testid="confidence-shift" edges={confInf.data.edges}
                       series={[...(confRef.data?.edges?.length ? [{ name: ref, counts: confRef.data.counts, color: '#9ca3af' }] : []),
                         { name: inference_name, counts: confInf.data.counts, color: '#f28e2b' }]}
                       onBin={(a, b) => setFilter({ confidence_min: Math.round(a * 1000) / 1000, confidence_max: Math.round(b * 1000) / 1000 })} />
            <div class="legend inline"><span><i style={{ background: '#9ca3af' }} />{ref}</span><span><i style={{ background: '#f28e2b' }} />{inference_name}</span></div>
          </section>
        )}
        {d && (
          <section class="panel">
            <h3>Alerts</h3>
            <Alerts alerts={d.alerts} />
          </section>
        )}
        <SampleList title={have.has('knn_distance') ? 'Most drifted (distance to training)' : 'Most drifted'} testid="drifted-list" data={drifted.data} score={have.has('knn_distance') ? 'knn_distance' : 'drift_score'}
                    onAll={() => navigate({ view: 'table', filter: { is_drifted: true }, sample: '' })} />
        <SampleList title="On the class boundary" testid="otb-list" data={otb.data} score="confidence"
                    onAll={() => navigate({ view: 'table', filter: { is_otb: true }, sample: '' })} />
      </div>
    </div>
  );
}

function SampleList({ title, data, score, onAll, testid }) {
  if (!data) return null;
  return (
    <section class="panel" data-testid={testid}>
      <h3>{title} <button class="link" onClick={onAll}>show all in the table</button></h3>
      {data.rows.length === 0 && <p class="muted">None.</p>}
      <ul class="samples">
        {data.rows.map((x) => (
          <li key={x._row} class="clickable" onClick={() => navigate({ sample: x._row })}>
            <span class="badge">{fmt(x[score])}</span> {x.pred != null && <span class="muted">{x.pred}</span>} {String(x.text).slice(0, 160)}
          </li>
        ))}
      </ul>
    </section>
  );
}
