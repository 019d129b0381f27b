import { useEffect } from 'preact/hooks';
import { get, runPath } from './api.js';
import { capsOf, filter, navigate, route, runInfo, setFilter, splitInfo, toast } from './state.js';
import { ErrorBox, fmt, useLoad } from './util.jsx';
import { FilterBar } from './FilterBar.jsx';
import { TableView } from './TableView.jsx';
import { MapView } from './MapView.jsx';
import { SummaryView } from './SummaryView.jsx';
import { InferenceView } from './InferenceView.jsx';
import { SpansView } from './SpansView.jsx';
import { EditsView } from './EditsView.jsx';
import { SamplePanel } from './SamplePanel.jsx';

export function App() {
  const r = route.value;
  return (
    <div class="app">
      <header class="top">
        <a class="brand" href="/" onClick={(e) => { e.preventDefault(); navigate({ page: 'home' }); }}>
          dataquality
        </a>
        {r.page === 'run' && (
          <span class="crumbs" data-testid="crumbs">
            <span>{r.project}</span> / <strong>{r.run}</strong>
          </span>
        )}
        <span class="spacer" />
        <a class="muted" href="/api/docs" target="_blank" rel="noopener" title="The console's JSON/Arrow API (interactive docs)">API</a>
      </header>
      {r.page === 'run' ? <RunPage key={`${r.project}/${r.run}`} /> : <Home />}
      {toast.value && (
        <div class={`toast ${toast.value.kind}`} role="status" data-testid="toast">
          {toast.value.message}
        </div>
      )}
    </div>
  );
}

function Home() {
  const { data, error, loading } = useLoad(() => get('/runs'), []);
  return (
    <main class="home">
      <h1>Runs</h1>
      <ErrorBox error={error} />
      {loading && <p class="muted">Loading…</p>}
      {data && data.length === 0 && (
        <p>No runs in this store yet. Log one with <code>dq.init</code> … <code>dq.finish()</code>, or run <code>dq demo</code>.</p>
      )}
      {data && data.length > 0 && (
        <table class="grid runs" data-testid="runs">
          <thead>
            <tr><th>project</th><th>run</th><th>task</th><th>status</th><th>created</th></tr>
          </thead>
          <tbody>
            {data.map((x) => (
              <tr key={`${x.project_name}/${x.run_name}`}>
                <td>{x.project_name}</td>
                <td>
                  <a href={runPath(x.project_name, x.run_name)}
                     onClick={(e) => { e.preventDefault(); navigate({ page: 'run', project: x.project_name, run: x.run_name, split: '', inf: '', view: 'table', filter: {}, sample: '' }); }}>
                    {x.run_name}
                  </a>
                </td>
                <td>{x.task_type}</td>
                <td>{x.status}</td>
                <td class="muted">{fmt(x.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

const SPLIT_ORDER = { training: 0, validation: 1, test: 2, inference: 3 };
// The tabs a task may declare (capabilities.views), in words; "inference" only on inference sets.
const VIEW_TITLES = { table: 'Samples', map: 'Map', summary: 'Summary', inference: 'Inference vs training', spans: 'Spans', edits: 'Edits & export' };

function RunPage() {
  const r = route.value;
  const { data, error } = useLoad(() => get(runPath(r.project, r.run)), [r.project, r.run]);
  useEffect(() => {
    runInfo.value = data;
    if (data && data.splits.length) {
      const key = r.split === 'inference' ? `inference/${r.inf}` : r.split;
      if (!data.splits.some((s) => s.key === key)) {
        const first = [...data.splits].sort((a, b) => (SPLIT_ORDER[a.split] ?? 9) - (SPLIT_ORDER[b.split] ?? 9))[0];
        navigate({ split: first.split, inf: first.inference_name || '' }, { replace: true });
      }
    }
    return () => { runInfo.value = null; };
  }, [data]);
  if (error) return <main><ErrorBox error={error} /></main>;
  if (!data) return <main><p class="muted">Loading run…</p></main>;
  if (!data.splits.length) {
    return <main><p>This run has no finished results yet: call <code>dq.finish()</code>.</p></main>;
  }
  const s = splitInfo.value;
  const splits = [...data.splits].sort((a, b) => (SPLIT_ORDER[a.split] ?? 9) - (SPLIT_ORDER[b.split] ?? 9) || a.key.localeCompare(b.key));
  const caps = capsOf(data);
  const views = caps.views
    .filter((v) => VIEW_TITLES[v] && (v !== 'inference' || (s && s.split === 'inference')))
    .map((v) => [v, VIEW_TITLES[v]]);
  const view = views.some(([v]) => v === r.view) ? r.view : 'table'; // a tab the run does not offer: the table
  return (
    <div class="run">
      <nav class="splits" data-testid="splits">
        {splits.map((x) => (
          <button key={x.key} class={s && s.key === x.key ? 'tab active' : 'tab'}
                  onClick={() => navigate({ split: x.split, inf: x.inference_name || '', sample: '',
                                            view: r.view === 'inference' && x.split !== 'inference' ? 'table' : r.view })}>
            {x.inference_name ? `inference: ${x.inference_name}` : x.split}
            <span class="count">{x.n_samples.toLocaleString()}</span>
          </button>
        ))}
        <span class="spacer" />
        {caps.subtasks.length > 0 && <TaskSelect tasks={caps.subtasks} />}
        <span class="muted">{data.task_type}{data.tagging_schema ? ` (${data.tagging_schema})` : ''} · labels: {(data.labels || []).length}</span>
      </nav>
      <nav class="views" data-testid="views">
        {views.map(([v, label]) => (
          <button key={v} class={view === v ? 'tab active' : 'tab'} data-view={v} onClick={() => navigate({ view: v })}>
            {label}
          </button>
        ))}
      </nav>
      {s && <FilterBar />}
      <div class="body">
        <main class="main">
          {s && view === 'table' && <TableView />}
          {s && view === 'map' && <MapView />}
          {s && view === 'summary' && <SummaryView />}
          {s && view === 'inference' && <InferenceView />}
          {s && view === 'spans' && <SpansView />}
          {s && view === 'edits' && <EditsView />}
        </main>
        {s && r.sample !== '' && <SamplePanel />}
      </div>
    </div>
  );
}

/** Multi-label runs: the task the views show (the filter's `task` key, so it is in the URL). */
function TaskSelect({ tasks }) {
  const cur = filter.value.task || '';
  return (
    <label class="inline">task
      <select value={cur} data-testid="task-select" onChange={(e) => setFilter({ task: e.target.value || undefined })}>
        <option value="">all tasks</option>
        {tasks.map((t) => <option key={t} value={t}>{t}</option>)}
      </select>
    </label>
  );
}
