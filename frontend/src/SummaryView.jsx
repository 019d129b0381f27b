// Summary of a split under the global filter: metrics, the sections the run's task declares
// (capabilities.summary_sections: per-class charts, the clickable confusion matrix, per-entity
// metrics, error counts), the DEP histogram, and the alerts and clusters that set the filter when
// clicked.
import { get } from './api.js';
import { caps, choiceFilter, editsVersion, filter, filterKey, labelFilter, labelPairFilter, navigate, setFilter, splitInfo } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { Bars, Histogram } from './charts.jsx';
import { PerTask } from './PerTask.jsx';
import { ERROR_COLORS, ErrorBox, catColor, fmt, pct, useLoad } from './util.jsx';

export function applyAlertFilter(f) {
  navigate({ filter: { ...(f || {}) }, sample: '', view: 'table' });
}

export function Alerts({ alerts }) {
  if (!alerts || !alerts.length) return <p class="muted">No alerts.</p>;
  return (
    <ul class="alerts" data-testid="alerts">
      {alerts.map((a, i) => (
        <li key={i} class={`alert ${a.severity || 'info'}`}>
          <button class="link" data-kind={a.kind} onClick={() => applyAlertFilter(a.filter)} disabled={!a.filter}
                  title={a.filter ? `filter: ${JSON.stringify(a.filter)}` : ''}>
            <strong>{a.kind.replace(/_/g, ' ')}</strong>
          </button>{' '}
          {a.count != null && <span class="badge">{a.count.toLocaleString()}</span>} {a.message}
        </li>
      ))}
    </ul>
  );
}

export function SummaryView() {
  const s = splitInfo.value;
  const { path, inference_name } = splitArgs();
  const deps = [path, inference_name, filterKey.value, editsVersion.value];
  const sum = useLoad(() => get(`${path}/summary`, { inference_name, filter: filter.value }), deps);
  const sections = new Set(caps.value.summary_sections);
  const labelled = s.split !== 'inference'; // inference sets have no gold labels
  const conf = useLoad(() => (sections.has('confusion') && labelled ? get(`${path}/confusion`, { inference_name, filter: filter.value }) : null), deps);
  // a run with several tasks has per-class metrics per task: once the filter names one
  const needsTask = caps.value.subtasks.length > 0 && !filter.value.task;
  const perClass = useLoad(() => (sections.has('per_class') && !needsTask ? get(`${path}/metrics`, { inference_name, filter: filter.value, category: labelled ? 'gold' : 'pred' }) : null), deps);
  const click = (f) => (f ? () => setFilter(f) : undefined);
  const hasDep = s.columns.some((c) => c.name === 'data_error_potential');
  const hist = useLoad(() => (hasDep ? get(`${path}/histogram`, { inference_name, filter: filter.value, column: 'data_error_potential', bins: 20 }) : null), deps);
  const d = sum.data;
  return (
    <div class="summary">
      <ErrorBox error={sum.error || conf.error || perClass.error || hist.error} />
      {d && (
        <section class="cards" data-testid="metric-cards">
          <Card label="samples" value={(d.n_filtered ?? d.n_samples)?.toLocaleString()} />
          {d.accuracy != null && <Card label="accuracy" value={pct(d.accuracy)} />}
          {d.macro && <Card label="macro F1" value={fmt(d.macro.f1)} />}
          {d.weighted && <Card label="weighted F1" value={fmt(d.weighted.f1)} />}
          {d.entity_metrics?.micro && <Card label="span micro F1" value={fmt(d.entity_metrics.micro.f1)} />}
          {d.data_error_potential && <Card label="mean DEP" value={fmt(d.data_error_potential.mean)} />}
          {d.data_error_potential?.n_hard != null && <Card label="hard samples" value={d.data_error_potential.n_hard.toLocaleString()} />}
          {d.likely_mislabeled && <Card label="likely mislabeled" value={d.likely_mislabeled.count?.toLocaleString()} />}
          {d.mean_confidence != null && <Card label="mean confidence" value={fmt(d.mean_confidence)} />}
          {d.drift && <Card label="drifted" value={pct(d.drift.rate)} />}
        </section>
      )}
      <div class="panels">
        {sections.has('per_task') && d && <PerTask summary={d} tasks={caps.value.subtasks} current={filter.value.task} />}
        {conf.data && (
          <section class="panel">
            <h3>Confusion matrix{conf.data.level === 'sample' ? '' : ` (${conf.data.level === 'span' ? 'spans' : conf.data.level})`}</h3>
            <p class="muted small">rows: gold · columns: predicted · click a cell to filter</p>
            <Confusion data={conf.data} />
          </section>
        )}
        {perClass.data && (
          <section class="panel">
            <h3>Per class ({perClass.data.category})</h3>
            {perClass.data.rows.length > 0 && perClass.data.rows[0].f1 !== undefined && (
              <Bars testid="per-class-f1" max={1} format={(v) => fmt(v)}
                    items={perClass.data.rows.map((x, i) => ({ label: x[perClass.data.category], value: x.f1, color: catColor(i),
                      title: `${x[perClass.data.category]}: F1 ${fmt(x.f1)}, precision ${fmt(x.precision)}, recall ${fmt(x.recall)}, ${x.count} samples`,
                      onClick: click(labelFilter(x[perClass.data.category], perClass.data.category)) }))} />
            )}
            <h4>samples</h4>
            <Bars testid="per-class-count" items={perClass.data.rows.map((x, i) => ({ label: x[perClass.data.category], value: x.count, color: catColor(i),
              onClick: click(labelFilter(x[perClass.data.category], perClass.data.category)) }))} />
            {perClass.data.rows[0]?.mean_dep !== undefined && (
              <>
                <h4>mean DEP</h4>
                <Bars max={1} items={perClass.data.rows.map((x) => ({ label: x[perClass.data.category], value: x.mean_dep, color: '#e15759' }))} />
              </>
            )}
          </section>
        )}
        {sections.has('entity_metrics') && d?.entity_metrics?.per_type && (
          <section class="panel">
            <h3>Per entity type (strict span F1)</h3>
            <Bars testid="per-class-f1" max={1} items={Object.entries(d.entity_metrics.per_type).map(([l, x], i) => ({ label: l, value: x.f1, color: catColor(i),
              title: `${l}: F1 ${fmt(x.f1)}, precision ${fmt(x.precision)}, recall ${fmt(x.recall)}, support ${x.support}`, onClick: click(labelFilter(l)) }))} />
          </section>
        )}
        {sections.has('error_counts') && d?.error_counts && (
          <section class="panel">
            <h3>Span errors</h3>
            <Bars testid="error-counts" items={Object.entries(d.error_counts).map(([k, v]) => ({ label: k.replace(/_/g, ' '), value: v, color: ERROR_COLORS[k],
              onClick: click(choiceFilter(k)) }))} />
          </section>
        )}
        {hist.data && hist.data.edges && (
          <section class="panel">
            <h3>Data Error Potential</h3>
            <p class="muted small">click a bar to filter to its range</p>
            <Histogram testid="dep-histogram" edges={hist.data.edges} series={[{ name: 'DEP', counts: hist.data.counts, color: '#e15759' }]}
                       onBin={(a, b) => setFilter({ dep_min: Math.round(a * 1000) / 1000, dep_max: Math.round(b * 1000) / 1000 })} />
            {d?.data_error_potential && (
              <p class="small">easy below {fmt(d.data_error_potential.easy_threshold)}, hard above {fmt(d.data_error_potential.hard_threshold)}{' '}
                <button class="link" onClick={() => setFilter({ dep_min: Math.round(d.data_error_potential.hard_threshold * 1000) / 1000 })}>show the hard ones</button></p>
            )}
          </section>
        )}
        {d && (
          <section class="panel">
            <h3>Alerts{(d.split_wide || []).includes('alerts') ? ' (whole split)' : ''}</h3>
            <Alerts alerts={d.alerts} />
          </section>
        )}
        {d && d.clusters && d.clusters.length > 0 && (
          <section class="panel">
            <h3>Clusters{(d.split_wide || []).includes('clusters') ? ' (whole split)' : ''}</h3>
            <table class="grid small" data-testid="clusters">
              <thead><tr><th>cluster</th><th>size</th><th>top words</th><th>mean DEP</th><th>F1</th></tr></thead>
              <tbody>
                {d.clusters.map((c) => (
                  <tr key={c.cluster_id} class="clickable" data-cluster={c.cluster_id} onClick={() => applyAlertFilter(c.filter || { cluster_id: [c.cluster_id] })}>
                    <td>{c.cluster_id < 0 ? 'noise' : c.cluster_id}</td><td>{c.size}</td><td>{(c.words || []).join(', ')}</td>
                    <td>{fmt(c.mean_dep)}</td><td>{fmt(c.f1)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
        {d && d.top_misclassified_pairs && d.top_misclassified_pairs.length > 0 && (
          <section class="panel">
            <h3>Most confused pairs</h3>
            <Bars items={d.top_misclassified_pairs.slice(0, 10).map((p) => ({ label: `${p.gold} → ${p.pred}`, value: p.count, color: '#e15759', onClick: () => applyAlertFilter(p.filter) }))} />
          </section>
        )}
      </div>
    </div>
  );
}

function Card({ label, value }) {
  return <div class="card"><div class="card-value">{value}</div><div class="card-label">{label}</div></div>;
}

function Confusion({ data }) {
  const { labels, matrix } = data;
  const max = Math.max(1, ...matrix.flat());
  return (
    <div class="confusion-wrap">
      <table class="confusion" data-testid="confusion">
        <thead>
          <tr><th />{labels.map((l) => <th key={l} class="rot">{l}</th>)}</tr>
        </thead>
        <tbody>
          {matrix.map((row, i) => (
            <tr key={labels[i]}>
              <th>{labels[i]}</th>
              {row.map((v, j) => (
                <td key={j} data-gold={labels[i]} data-pred={labels[j]} class={v ? 'clickable' : ''}
                    style={{ background: `rgba(${i === j ? '78,121,167' : '225,87,89'}, ${(0.08 + 0.92 * v / max).toFixed(3)})`, color: v / max > 0.5 ? '#fff' : '#111' }}
                    title={`gold ${labels[i]}, predicted ${labels[j]}: ${v}`}
                    onClick={() => { const f = v && labelPairFilter(labels[i], labels[j]); if (f) setFilter(f); }}>
                  {v.toLocaleString()}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
