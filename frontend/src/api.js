// The console's calls to its own API (/api on the same origin; the access token, when the console
// needs one, travels as the HttpOnly cookie the server set). Errors become ApiError with the
// server's typed message.
import { tableFromIPC } from 'apache-arrow';

export class ApiError extends Error {
  constructor(status, kind, detail) {
    super(detail || `${status} ${kind}`);
    this.status = status;
    this.kind = kind;
  }
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function check(res) {
  if (res.ok) return res;
  let kind = res.statusText;
  let detail = '';
  try {
    const body = await res.json();
    kind = body.error || kind;
    detail = body.detail || '';
  } catch (e) {
    /* not JSON */
  }
  throw new ApiError(res.status, kind, detail);
}

export async function get(path, params) {
  const res = await check(await fetch(`/api${path}${qs(params)}`, { credentials: 'same-origin' }));
  return res.json();
}

export async function post(path, body, params) {
  const res = await check(
    await fetch(`/api${path}${qs(params)}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    }),
  );
  return res.json();
}

export async function getArrow(path, params) {
  const res = await check(await fetch(`/api${path}${qs(params)}`, { credentials: 'same-origin' }));
  return tableFromIPC(new Uint8Array(await res.arrayBuffer()));
}

export const enc = encodeURIComponent;
export const runPath = (project, run) => `/runs/${enc(project)}/${enc(run)}`;
export const splitPath = (project, run, split) => `${runPath(project, run)}/splits/${enc(split)}`;
