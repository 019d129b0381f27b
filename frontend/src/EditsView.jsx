// The edits cart: edits made on the samples the global filter selects (the actions the run's task
// offers, capabilities.edit_actions, each with the inputs it needs), undo / redo, and the export
// of the filtered (and edited) split as CSV, Parquet or JSONL in the logged schema.
import { useState } from 'preact/hooks';
import { get, post, qs, runPath } from './api.js';
import { caps, editsVersion, filter, filterKey, humanize, notify, route, splitInfo } from './state.js';
import { splitArgs } from './FilterBar.jsx';
import { ErrorBox, fmt, useLoad } from './util.jsx';

export function EditsView() {
  const r = route.value;
  const s = splitInfo.value;
  const f = filter.value;
  const { edit_actions: actions, label_choices: labelChoices } = caps.value;
  const { path, inference_name } = splitArgs();
  const edits = useLoad(() => get(`${runPath(r.project, r.run)}/edits`), [r.project, r.run, editsVersion.value]);
  const count = useLoad(() => get(`${path}/count`, { inference_name, filter: f }), [path, inference_name, filterKey.value]);
  const [chosen, setAction] = useState('');
  const current = actions.find((a) => a.name === chosen) || actions[0];
  const action = current?.name;
  const needs = current?.needs || null;
  const [form, setForm] = useState({ new_label: '', search_string: '', text_replacement: '', use_regex: false, shift_start: 0, shift_end: 0, note: '' });
  const [busy, setBusy] = useState(false);
  const [fmtSel, setFmt] = useState('csv');
  const [edited, setEdited] = useState(true);
  const submit = () => {
    setBusy(true);
    // only the inputs the action needs travel with it
    const body = { edit_action: action, filter: f, note: form.note || undefined };
    if (needs === 'label') body.new_label = form.new_label || undefined;
    if (needs === 'text') Object.assign(body, { search_string: form.search_string || undefined, text_replacement: form.text_replacement, use_regex: form.use_regex });
    if (needs === 'shift') Object.assign(body, { shift_start: form.shift_start, shift_end: form.shift_end });
    post(`${path}/edits`, body, { inference_name })
      .then((e) => { editsVersion.value += 1; notify(`Edit #${e.edit_id}: ${e.action} on ${e.n_samples} sample${e.n_samples === 1 ? '' : 's'}.`); },
        (err) => notify(err.message, 'error'))
      .finally(() => setBusy(false));
  };
  const undo = (id) => post(`${runPath(r.project, r.run)}/edits/undo`, { edit_id: id }).then(() => { editsVersion.value += 1; notify(`Edit #${id} undone.`); }, (e) => notify(e.message, 'error'));
  const redo = (id) => post(`${runPath(r.project, r.run)}/edits/${id}/redo`, {}).then(() => { editsVersion.value += 1; notify(`Edit #${id} re-applied.`); }, (e) => notify(e.message, 'error'));
  const exportUrl = `/api${path}/export${qs({ inference_name, filter: Object.keys(f).length ? f : undefined, format: fmtSel, edited: edited ? 'true' : 'false' })}`;
  return (
    <div class="editsview" data-testid="edits-view">
      <div class="panels two">
        <section class="panel">
          <h3>New edit on the filtered samples</h3>
          <p class="muted small">{count.data ? `${count.data.count.toLocaleString()} of ${count.data.total.toLocaleString()} samples of ${s.key} match the filter.` : ''} The edit records the filter and the ids it selects now.</p>
          {s.split === 'inference' && <p class="muted small">Inference samples have no labels: edits of labels apply to labelled splits.</p>}
          {actions.length === 0 && <p class="muted">This run's task offers no edits.</p>}
          {actions.length > 0 && <div class="form">
            <label>action
              <select value={action} data-testid="edit-action" title={current?.doc} onChange={(e) => setAction(e.target.value)}>
                {actions.map((a) => <option key={a.name} value={a.name} title={a.doc}>{humanize(a.name)}</option>)}
              </select>
            </label>
            {current?.doc && <p class="muted small" data-testid="edit-doc">{current.doc}</p>}
            {needs === 'label' && (
              <label>new label
                <select value={form.new_label} data-testid="edit-label" onChange={(e) => setForm({ ...form, new_label: e.target.value })}>
                  <option value="">choose…</option>
                  {labelChoices.map((l) => <option key={l} value={l}>{l}</option>)}
                </select>
              </label>
            )}
            {needs === 'text' && (
              <>
                <label>find <input value={form.search_string} data-testid="edit-search" onInput={(e) => setForm({ ...form, search_string: e.target.value })} /></label>
                <label>replace with <input value={form.text_replacement} data-testid="edit-replacement" onInput={(e) => setForm({ ...form, text_replacement: e.target.value })} /></label>
                <label class="inline"><input type="checkbox" checked={form.use_regex} onChange={(e) => setForm({ ...form, use_regex: e.target.checked })} /> regular expression</label>
              </>
            )}
            {needs === 'shift' && (
              <>
                <label>shift start by <input type="number" value={form.shift_start} onInput={(e) => setForm({ ...form, shift_start: Number(e.target.value) || 0 })} /></label>
                <label>shift end by <input type="number" value={form.shift_end} onInput={(e) => setForm({ ...form, shift_end: Number(e.target.value) || 0 })} /></label>
              </>
            )}
            <label>note <input value={form.note} onInput={(e) => setForm({ ...form, note: e.target.value })} /></label>
            <button data-testid="apply-edit" disabled={busy} onClick={submit}>Add edit</button>
          </div>}
        </section>
        <section class="panel">
          <h3>Export</h3>
          <p class="muted small">The filtered samples of {s.key}, in the schema they were logged with{edited ? ', with the active edits applied' : ''}.</p>
          <div class="form">
            <label>format
              <select value={fmtSel} data-testid="export-format" onChange={(e) => setFmt(e.target.value)}>
                <option value="csv">CSV</option><option value="parquet">Parquet</option><option value="jsonl">JSON lines</option>
              </select>
            </label>
            <label class="inline"><input type="checkbox" checked={edited} onChange={(e) => setEdited(e.target.checked)} /> apply edits</label>
            <a class="button" href={exportUrl} download data-testid="export">Download</a>
          </div>
        </section>
      </div>
      <section class="panel">
        <h3>Edits of this run</h3>
        <ErrorBox error={edits.error} />
        {edits.data && edits.data.edits.length === 0 && <p class="muted">No edits yet. Select samples with the filter, the map or the table, then add an edit.</p>}
        {edits.data && edits.data.edits.length > 0 && (
          <table class="grid small" data-testid="edits-table">
            <thead><tr><th>#</th><th>split</th><th>action</th><th>details</th><th>samples</th><th>filter</th><th>when</th><th /></tr></thead>
            <tbody>
              {[...edits.data.edits].reverse().map((e) => (
                <tr key={e.edit_id} class={e.undone ? 'undone' : ''} data-edit={e.edit_id}>
                  <td>{e.edit_id}</td><td>{e.split}</td><td>{e.action}</td>
                  <td>{[e.new_label && `→ ${e.new_label}`, e.search_string && `“${e.search_string}” → “${e.text_replacement ?? ''}”`,
                    (e.shift_start || e.shift_end) && `shift ${e.shift_start}/${e.shift_end}`, e.note].filter(Boolean).join(' · ')}</td>
                  <td>{fmt(e.n_samples)}</td>
                  <td class="wrap mono">{JSON.stringify(e.filter)}</td>
                  <td class="muted">{fmt(e.created_at)}</td>
                  <td>{e.undone
                    ? <button class="link" data-testid={`redo-${e.edit_id}`} onClick={() => redo(e.edit_id)}>redo</button>
                    : <button class="link" data-testid={`undo-${e.edit_id}`} onClick={() => undo(e.edit_id)}>undo</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
