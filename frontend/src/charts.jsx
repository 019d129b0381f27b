// Small SVG charts: horizontal bars and histograms. No chart library: these are a few rectangles.
import { fmt } from './util.jsx';

/** Horizontal bars: items = [{ label, value, color?, title?, onClick? }], value in [0, max]. */
export function Bars({ items, max, format = (v) => fmt(v), testid }) {
  const top = max ?? Math.max(1e-9, ...items.map((d) => d.value || 0));
  return (
    <div class="bars" data-testid={testid}>
      {items.map((d) => (
        <div class={`bar${d.onClick ? ' clickable' : ''}`} key={d.label} title={d.title || `${d.label}: ${format(d.value)}`}
             onClick={d.onClick}>
          <span class="bar-label">{d.label}</span>
          <span class="bar-track">
            <span class="bar-fill" style={{ width: `${Math.max(0, Math.min(100, (100 * (d.value || 0)) / top))}%`, background: d.color || '#4e79a7' }} />
          </span>
          <span class="bar-value">{format(d.value)}</span>
        </div>
      ))}
    </div>
  );
}

/** Paired bars: for each label two values (e.g. training vs inference share). */
export function PairedBars({ labels, a, b, aName, bName, format = (v) => fmt(v), testid }) {
  const top = Math.max(1e-9, ...labels.map((l) => Math.max(a[l] || 0, b[l] || 0)));
  return (
    <div class="bars paired" data-testid={testid}>
      <div class="legend inline"><span><i style={{ background: '#9ca3af' }} />{aName}</span><span><i style={{ background: '#f28e2b' }} />{bName}</span></div>
      {labels.map((l) => (
        <div class="bar" key={l}>
          <span class="bar-label">{l}</span>
          <span class="bar-track two">
            <span class="bar-fill" style={{ width: `${(100 * (a[l] || 0)) / top}%`, background: '#9ca3af' }} title={`${aName}: ${format(a[l] || 0)}`} />
            <span class="bar-fill" style={{ width: `${(100 * (b[l] || 0)) / top}%`, background: '#f28e2b' }} title={`${bName}: ${format(b[l] || 0)}`} />
          </span>
          <span class="bar-value">{format(a[l] || 0)} → {format(b[l] || 0)}</span>
        </div>
      ))}
    </div>
  );
}

/** A histogram of one or two series over shared bin edges (counts normalised to shares). */
export function Histogram({ edges, series, height = 120, testid, onBin }) {
  const W = 360;
  const nb = edges.length - 1;
  const shares = series.map((s) => {
    const tot = s.counts.reduce((x, y) => x + y, 0) || 1;
    return s.counts.map((c) => c / tot);
  });
  const top = Math.max(1e-9, ...shares.flat());
  const bw = W / nb;
  return (
    <svg class="hist" viewBox={`0 0 ${W} ${height + 18}`} width="100%" data-testid={testid} role="img">
      {series.map((s, k) => shares[k].map((v, i) => (
        <rect key={`${k}-${i}`} x={i * bw + (series.length > 1 ? (k * bw) / series.length : 0) + 0.5}
              width={bw / series.length - 1} y={height - (height * v) / top} height={(height * v) / top}
              fill={s.color} opacity="0.85" class={onBin ? 'clickable' : ''}
              onClick={onBin ? () => onBin(edges[i], edges[i + 1]) : undefined}>
          <title>{`${s.name}: [${fmt(edges[i])}, ${fmt(edges[i + 1])}): ${s.counts[i]} (${(100 * v).toFixed(1)}%)`}</title>
        </rect>
      )))}
      <text x="0" y={height + 14} class="axis">{fmt(edges[0], 2)}</text>
      <text x={W} y={height + 14} class="axis" text-anchor="end">{fmt(edges[nb], 2)}</text>
    </svg>
  );
}
