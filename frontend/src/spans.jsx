// A text with its gold spans (underlined) and predicted spans (highlighted, coloured by error
// type). Offsets are character offsets, end exclusive.
import { ERROR_COLORS } from './util.jsx';

export function SpanText({ text, gold = [], pred = [] }) {
  const t = String(text || '');
  const cuts = new Set([0, t.length]);
  for (const s of [...gold, ...pred]) { cuts.add(Math.max(0, Math.min(t.length, s.start))); cuts.add(Math.max(0, Math.min(t.length, s.end))); }
  const pts = [...cuts].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < pts.length - 1; i++) {
    const a = pts[i]; const b = pts[i + 1];
    const g = gold.find((s) => s.start <= a && s.end >= b);
    const p = pred.find((s) => s.start <= a && s.end >= b);
    const piece = t.slice(a, b);
    if (!g && !p) { out.push(piece); continue; }
    const title = [g ? `gold ${g.label}${g.error_type && g.error_type !== 'none' ? ` (${g.error_type})` : ''}` : '',
      p ? `pred ${p.label}${p.error_type && p.error_type !== 'none' ? ` (${p.error_type})` : ''}` : ''].filter(Boolean).join(' · ');
    const err = (p && p.error_type && p.error_type !== 'none' && p.error_type) || (g && g.error_type && g.error_type !== 'none' && g.error_type) || '';
    out.push(
      <span key={a} class={`span${g ? ' gold' : ''}${p ? ' pred' : ''}${err ? ` err ${err}` : ''}`} title={title} data-error={err || undefined}
            style={p ? { background: `${ERROR_COLORS[p.error_type || 'none'] || '#59a14f'}33` } : undefined}>
        {piece}
        {g && g.end === b && <sub class="tag gold">{g.label}</sub>}
        {p && p.end === b && <sub class="tag pred" style={{ color: ERROR_COLORS[p.error_type || 'none'] }}>{p.label}</sub>}
      </span>,
    );
  }
  return <span class="spantext">{out}</span>;
}

export function ErrorLegend() {
  return (
    <div class="legend inline">
      <span><u>gold</u> underlined</span>
      {Object.entries(ERROR_COLORS).map(([k, c]) => <span key={k}><i style={{ background: c }} />pred: {k.replace(/_/g, ' ')}</span>)}
    </div>
  );
}
