// Per-task metrics of a run whose samples have several tasks (capabilities.subtasks): F1,
// precision and recall of each task, its likely mislabeled and hard samples; clicking a task
// points the global filter (and with it the table, map and charts) at that task.
import { setFilter } from './state.js';
import { fmt } from './util.jsx';

export function PerTask({ summary, tasks, current }) {
  const metrics = summary?.metrics || {};
  const perTask = metrics.per_task || {};
  const info = summary?.per_task || {};
  const positive = (t, m) => m?.per_class?.[t] || m?.macro || {};
  return (
    <section class="panel" data-testid="per-task">
      <h3>Per task</h3>
      {metrics.micro && (
        <p class="small">micro F1 {fmt(metrics.micro.f1)} · macro F1 {fmt(metrics.macro?.f1)}
          {metrics.exact_match != null ? ` · exact match ${fmt(metrics.exact_match)}` : ''}</p>
      )}
      <table class="grid small">
        <thead><tr><th>task</th><th>F1</th><th>precision</th><th>recall</th><th>likely mislabeled</th><th>hard</th></tr></thead>
        <tbody>
          {tasks.map((t) => {
            const m = positive(t, perTask[t]);
            const x = info[t] || {};
            return (
              <tr key={t} class={`clickable${current === t ? ' active' : ''}`} data-task={t}
                  onClick={() => setFilter({ task: current === t ? undefined : t })}>
                <td>{t}</td><td>{fmt(m.f1)}</td><td>{fmt(m.precision)}</td><td>{fmt(m.recall)}</td>
                <td>{x.likely_mislabeled ?? ''}</td><td>{x.n_hard ?? ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p class="muted small">click a task to show its labels in the table, map and charts</p>
    </section>
  );
}
