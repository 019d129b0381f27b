// Small shared helpers: formatting, the palette, debouncing, loading data into signals.
import { useEffect, useState } from 'preact/hooks';

export function fmt(v, digits = 3) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '—';
    if (Number.isInteger(v)) return v.toLocaleString();
    return v.toFixed(digits);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map((x) => fmt(x, digits)).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export const pct = (v, digits = 1) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(digits)}%`);

// Tableau-10 and a continuation: categorical colours for labels and clusters.
export const PALETTE = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];
export const GREY = '#d4d4d8';

export const ERROR_COLORS = { none: '#59a14f', wrong_tag: '#e15759', span_shift: '#f28e2b', missed_label: '#b07aa1', ghost_span: '#4e79a7' };

export const catColor = (i) => (i < 0 ? '#9ca3af' : PALETTE[i % PALETTE.length]);

/** DEP (0..1) to a colour from green (easy) through amber to red (hard). */
export function depColor(t) {
  const stops = [
    [0, [44, 160, 44]],
    [0.5, [237, 201, 72]],
    [1, [214, 39, 40]],
  ];
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  let i = 0;
  while (i < stops.length - 2 && x > stops[i + 1][0]) i++;
  const [a, ca] = stops[i];
  const [b, cb] = stops[i + 1];
  const u = (x - a) / (b - a);
  const c = ca.map((v, k) => Math.round(v + u * (cb[k] - v)));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** Load data for a component: { data, error, loading }, reloaded when `deps` change; stale
 * responses are dropped. */
export function useLoad(loader, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  useEffect(() => {
    let alive = true;
    setState((s) => ({ data: s.data, error: null, loading: true }));
    Promise.resolve()
      .then(loader)
      .then(
        (data) => alive && setState({ data, error: null, loading: false }),
        (error) => alive && setState({ data: null, error, loading: false }),
      );
    return () => {
      alive = false;
    };
  }, deps);
  return state;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <strong>{error.kind || 'Error'}</strong> {error.message}
    </div>
  );
}
