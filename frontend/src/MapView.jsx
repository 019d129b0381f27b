// The embedding map: a WebGL scatter (regl-scatterplot) of the split's 2-D layout, loaded as Arrow.
// Colour by what the run's task offers (capabilities.color_by: gold / pred / DEP / cluster); points the global filter leaves out stay in grey. Pan and
// zoom with the mouse; the lasso (toolbar, or Shift-drag) sets the filter: a new selection, or
// added to (Ctrl/⌘) or subtracted from (Alt) the current one. Hover shows a sample; a click opens it.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import createScatterplot from 'regl-scatterplot';
import { get, getArrow } from './api.js';
import { caps, editsVersion, filter, filterKey, navigate, route, runInfo, setFilter, splitInfo } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { ErrorBox, GREY, catColor, depColor, fmt } from './util.jsx';

const mapCache = new Map();
const COLOR_TITLES = { gold: 'gold', pred: 'pred', dep: 'DEP', cluster: 'cluster' };
const DEP_BINS = 20;

async function loadMap(path, inference_name, key) {
  if (mapCache.has(key)) return mapCache.get(key);
  const t = await getArrow(`${path}/map`, { inference_name });
  const x = t.getChild('x').toArray();
  const y = t.getChild('y').toArray();
  const n = t.numRows;
  let x0 = Infinity; let x1 = -Infinity; let y0 = Infinity; let y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i] < x0) x0 = x[i];
    if (x[i] > x1) x1 = x[i];
    if (y[i] < y0) y0 = y[i];
    if (y[i] > y1) y1 = y[i];
  }
  // one scale for both axes (the layout keeps its shape), into [-0.95, 0.95]
  const cx = (x0 + x1) / 2; const cy = (y0 + y1) / 2;
  const half = (Math.max(x1 - x0, y1 - y0) / 2 || 1) / 0.95;
  const nx = new Float32Array(n); const ny = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    nx[i] = (x[i] - cx) / half;
    ny[i] = (y[i] - cy) / half;
  }
  const m = {
    n, nx, ny, cx, cy, half,
    gold: t.getChild('gold').toArray(), pred: t.getChild('pred').toArray(),
    dep: t.getChild('dep').toArray(), cluster: t.getChild('cluster').toArray(),
  };
  if (mapCache.size > 4) mapCache.delete(mapCache.keys().next().value);
  mapCache.set(key, m);
  return m;
}

/** Category per point and the palette for a colour mode; the last palette entry is the grey of
 * points outside the filter. */
function encode(m, mode, labels, mask) {
  const cat = new Float32Array(m.n);
  let colors; let legend;
  if (mode === 'dep') {
    colors = Array.from({ length: DEP_BINS }, (_, i) => depColor((i + 0.5) / DEP_BINS));
    for (let i = 0; i < m.n; i++) {
      const d = m.dep[i];
      cat[i] = Number.isFinite(d) ? Math.min(DEP_BINS - 1, Math.floor(d * DEP_BINS)) : 0;
    }
    legend = [['DEP 0 (easy)', colors[0]], ['0.5', colors[DEP_BINS / 2]], ['1 (hard)', colors[DEP_BINS - 1]]];
  } else if (mode === 'cluster') {
    let k = 0;
    for (let i = 0; i < m.n; i++) k = Math.max(k, m.cluster[i] + 1);
    colors = [catColor(-1), ...Array.from({ length: k }, (_, i) => catColor(i))];
    for (let i = 0; i < m.n; i++) cat[i] = m.cluster[i] + 1;
    legend = [['noise', colors[0]], ...Array.from({ length: Math.min(k, 20) }, (_, i) => [`cluster ${i}`, colors[i + 1]])];
  } else {
    const codes = mode === 'pred' ? m.pred : m.gold;
    colors = [catColor(-1), ...labels.map((_, i) => catColor(i))];
    for (let i = 0; i < m.n; i++) cat[i] = codes[i] + 1;
    legend = labels.map((l, i) => [l, colors[i + 1]]).slice(0, 30);
  }
  const grey = colors.length;
  if (mask) for (let i = 0; i < m.n; i++) if (!mask[i]) cat[i] = grey;
  return { cat, colors: [...colors, GREY], legend };
}

export function MapView() {
  const r = route.value;
  const s = splitInfo.value;
  const labels = runInfo.value?.labels || [];
  const { path, inference_name } = splitArgs();
  const canvas = useRef(null);
  const wrap = useRef(null);
  const plot = useRef(null);
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  const [mask, setMask] = useState({ key: null, mask: null, count: null });
  const [hover, setHover] = useState(null);
  const [tool, setTool] = useState('pan');
  const [op, setOp] = useState('new');
  const mods = useRef({ add: false, sub: false });
  const latest = useRef({});
  const drawing = useRef({ busy: false, next: null });
  // gold on labelled splits only, DEP where the split has it
  const modes = caps.value.color_by
    .filter((k) => COLOR_TITLES[k] && (k !== 'gold' || s.split !== 'inference')
      && (k !== 'dep' || s.columns.some((c) => c.name === 'data_error_potential')))
    .map((k) => [k, COLOR_TITLES[k]]);
  if (!modes.length) modes.push(['cluster', 'cluster']);
  const mode = modes.some(([k]) => k === r.color) ? r.color : modes[0][0];
  latest.current = { m, op, filter: filter.value, tool };

  useEffect(() => {
    if (!s.has_map) return;
    setM(null);
    setError(null);
    loadMap(path, inference_name, `${path}?${inference_name || ''}`).then(setM, setError);
  }, [path, inference_name]);

  // the rows the filter keeps (none: every row)
  useEffect(() => {
    const f = filter.value;
    if (!Object.keys(f).length) {
      setMask((prev) => (prev.mask === null && prev.key === filterKey.value ? prev : { key: filterKey.value, mask: null, count: null }));
      return undefined;
    }
    if (!m) return undefined;
    let alive = true;
    getArrow(`${path}/ids`, { inference_name, filter: f, format: 'arrow' }).then((t) => {
      if (!alive) return;
      const rows = t.getChild('row').toArray();
      const mk = new Uint8Array(m.n);
      for (let i = 0; i < rows.length; i++) mk[Number(rows[i])] = 1;
      setMask({ key: filterKey.value, mask: mk, count: rows.length });
    }, (e) => alive && setError(e));
    return () => { alive = false; };
  }, [m, path, inference_name, filterKey.value, editsVersion.value]);

  // create the scatterplot once per canvas
  useEffect(() => {
    if (!m || !canvas.current) return undefined;
    const { width, height } = wrap.current.getBoundingClientRect();
    const sp = createScatterplot({
      canvas: canvas.current, width, height, pointSize: m.n > 200000 ? 2 : m.n > 20000 ? 3 : 5,
      backgroundColor: '#ffffff', lassoColor: '#2563eb', lassoMinDelay: 10, lassoMinDist: 3,
      pointColorHover: '#111827', pointColorActive: '#111827', opacity: m.n > 100000 ? 0.7 : 0.9,
      deselectOnDblClick: false, deselectOnEscape: false, actionKeyMap: { lasso: 'shift' },
    });
    plot.current = sp;
    let lassoing = false;
    const onDown = (e) => { mods.current = { add: e.ctrlKey || e.metaKey, sub: e.altKey }; };
    canvas.current.addEventListener('pointerdown', onDown, true);
    sp.subscribe('lassoStart', () => { lassoing = true; });
    sp.subscribe('lassoEnd', ({ coordinates }) => {
      lassoing = false;
      sp.deselect({ preventEvent: true });
      const cur = latest.current;
      if (!coordinates || coordinates.length < 3 || !cur.m) return;
      const poly = { x: coordinates.map((c) => cur.m.cx + c[0] * cur.m.half), y: coordinates.map((c) => cur.m.cy + c[1] * cur.m.half) };
      const o = mods.current.sub ? 'subtract' : mods.current.add ? 'add' : cur.op;
      const prev = cur.filter.lasso ? (Array.isArray(cur.filter.lasso) ? cur.filter.lasso : [{ ...cur.filter.lasso, op: 'add' }]) : [];
      const round = (v) => Math.round(v * 1e4) / 1e4;
      const p = { x: poly.x.map(round), y: poly.y.map(round), op: o === 'subtract' ? 'subtract' : 'add' };
      const next = o === 'new' ? [p] : [...prev, p];
      setFilter({ lasso: next.length === 1 && next[0].op === 'add' ? { x: p.x, y: p.y } : next });
    });
    sp.subscribe('select', ({ points }) => {
      if (lassoing) return;
      if (points && points.length === 1) navigate({ sample: points[0] });
      sp.deselect({ preventEvent: true });
    });
    sp.subscribe('pointOver', (i) => setHover({ i }));
    sp.subscribe('pointOut', () => setHover(null));
    // a pan or zoom: counted on the element, not in component state (no re-render per frame)
    sp.subscribe('view', () => { if (wrap.current) wrap.current.dataset.views = String(Number(wrap.current.dataset.views || 0) + 1); });
    const ro = new ResizeObserver(() => {
      const b = wrap.current?.getBoundingClientRect();
      if (b && b.width > 0 && b.height > 0) sp.set({ width: b.width, height: b.height });
    });
    ro.observe(wrap.current);
    return () => {
      ro.disconnect();
      canvas.current?.removeEventListener('pointerdown', onDown, true);
      sp.destroy();
      plot.current = null;
    };
  }, [m]);

  // (re)draw when the colours or the filter change
  useEffect(() => {
    const sp = plot.current;
    if (!m || !sp) return;
    if (Object.keys(filter.value).length && mask.key !== filterKey.value) return; // wait for the ids
    const job = { sp, mode, mask };
    // regl-scatterplot takes one draw at a time: keep only the latest request while one runs
    if (drawing.current.busy) { drawing.current.next = job; return; }
    const run = ({ sp: p, mode: md, mask: mk }) => {
      drawing.current.busy = true;
      const { cat, colors } = encode(m, md, labels, mk.mask);
      p.set({ colorBy: 'valueA', pointColor: colors });
      p.draw({ x: m.nx, y: m.ny, valueA: cat }, { zDataType: 'categorical', preventFilterReset: true }).then(() => {
        if (wrap.current) wrap.current.dataset.drawn = `${md}:${mk.key}`;
      }, (e) => setError(e)).finally(() => {
        drawing.current.busy = false;
        const nxt = drawing.current.next;
        drawing.current.next = null;
        if (nxt && nxt.sp === plot.current) run(nxt);
      });
    };
    run(job);
  }, [m, mode, mask, labels.join('\u0001')]);

  // the mode is set on the plot at once (a drag right after the click already lassos) and again
  // whenever the plot is created
  const chooseTool = (t) => {
    setTool(t);
    plot.current?.set({ mouseMode: t === 'lasso' ? 'lasso' : 'panZoom' });
  };
  useEffect(() => {
    plot.current?.set({ mouseMode: tool === 'lasso' ? 'lasso' : 'panZoom' });
  }, [tool, m]);

  if (!s.has_map) {
    return <p class="empty">This split has no map of its samples: <code>dq.finish()</code> draws one where the task logs an embedding per sample.</p>;
  }
  const legend = useMemo(() => (m ? encode(m, mode, labels, null).legend : []), [m, mode, labels.join('\u0001')]);
  return (
    <div class="mapview">
      <div class="toolbar">
        <span>colour by</span>
        {modes.map(([k, label]) => (
          <button key={k} class={mode === k ? 'tab active' : 'tab'} data-color={k}
                  onClick={() => navigate({ color: k }, { replace: true })}>{label}</button>
        ))}
        <span class="sep" />
        <button class={tool === 'pan' ? 'tab active' : 'tab'} data-testid="tool-pan" onClick={() => chooseTool('pan')}>pan / zoom</button>
        <button class={tool === 'lasso' ? 'tab active' : 'tab'} data-testid="tool-lasso" onClick={() => chooseTool('lasso')}>lasso</button>
        <select value={op} data-testid="lasso-op" onChange={(e) => setOp(e.target.value)} title="What a lasso does to the selection (or hold Ctrl/⌘ to add, Alt to subtract)">
          <option value="new">new selection</option>
          <option value="add">add to selection</option>
          <option value="subtract">subtract from selection</option>
        </select>
        <button class="tab" onClick={() => plot.current?.reset()}>reset view</button>
        {filter.value.lasso && <button class="link" data-testid="clear-lasso" onClick={() => setFilter({ lasso: undefined })}>clear lasso</button>}
        <span class="spacer" />
        <span class="muted small" data-testid="map-status">
          {m ? `${m.n.toLocaleString()} points` : 'loading map…'}
          {mask.count !== null && mask.mask ? ` · ${mask.count.toLocaleString()} in the filter` : ''}
        </span>
      </div>
      <ErrorBox error={error} />
      <div class="mapwrap" ref={wrap} data-testid="map">
        <canvas ref={canvas} />
        {hover && m && <Hover i={hover.i} path={path} inference_name={inference_name} columns={s.columns} />}
        <div class="legend">
          {legend.map(([l, c]) => <span key={l}><i style={{ background: c }} />{l}</span>)}
          {mask.mask && <span><i style={{ background: GREY }} />outside the filter</span>}
        </div>
      </div>
    </div>
  );
}

function Hover({ i, path, inference_name, columns }) {
  const [row, setRow] = useState(null);
  useEffect(() => {
    let alive = true;
    const want = ['text', 'gold', 'pred', 'confidence', 'data_error_potential', 'drift_score'].filter((c) => columns.some((x) => x.name === c));
    get(`${path}/rows`, { inference_name, rows: [i], columns: want.join(',') }).then((d) => alive && setRow(d.rows[0]), () => {});
    return () => { alive = false; };
  }, [i]);
  if (!row) return null;
  return (
    <div class="hover" data-testid="map-hover">
      <div class="muted small">id {fmt(row.id)}{row.gold != null ? ` · gold ${row.gold}` : ''}{row.pred != null ? ` · pred ${row.pred}` : ''}
        {row.data_error_potential != null ? ` · DEP ${fmt(row.data_error_potential)}` : ''}{row.drift_score != null ? ` · drift ${fmt(row.drift_score)}` : ''}</div>
      <div>{String(row.text || '').slice(0, 280)}</div>
    </div>
  );
}
