"""Benchmark: console API latency on a synthetic 1M-row run, through the app on a real uvicorn
server on loopback (or FastAPI's TestClient with ``--client testclient``).

The run is written straight into the store layout (``run.json``, ``results/summary.json``,
``results/training/samples.parquet`` with the columns ``finish()`` writes: id, text, gold, pred,
confidence, two meta columns, the DEP/AUM/flags signals, x, y, cluster_id), with parquet written as
``finish()`` writes it (pyarrow defaults, unless ``--row-group-size``). Then, each repeated
``--repeats`` times after one warm-up call, median and p95 in ms of:

- ``first_page``: ``/samples?limit=50`` (DEP descending); ``cold_first_page_ms`` is the very first
  call, which also loads the split into the server's memory (:class:`TableCache`);
- ``keyset_deep_page``: the page after row 50·``--deep-page`` (page 1000 by default) from its keyset
  cursor; baseline in the same run: the same page with ``OFFSET`` straight in DuckDB (no HTTP);
- ``filtered_count``: ``/count`` with a class + DEP-range filter;
- ``confusion``: ``/confusion`` unfiltered and with a DEP filter;
- ``ids_highlight``: ``/ids`` (Arrow) for a class's misclassified rows and for a whole cluster;
- ``text_search``: ``/samples`` first page and ``/count`` with a ``text`` substring filter;
- the map payload: bytes for 1M points (Arrow IPC) and its first (uncached) and cached times.

Goals (issue 6): first page, keyset next page, filtered count, confusion matrix and ids for a map
highlight ≤ 100 ms median each; text search ≤ 300 ms.

Usage::

    .venv/bin/python bench/console_api.py                  # 1M rows, ≈ 2 min
    .venv/bin/python bench/console_api.py --n 100000 --repeats 5 --out result.json
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # the bench folder last: never shadow an installed module

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _common import emit, machine_info, pct  # noqa: E402

GOAL_MS = 100.0
GOAL_TEXT_MS = 300.0
PROJECT, RUN = "bench", "console-1m"
N_LABELS = 10
N_CLUSTERS = 40


def write_run(root: Path, n: int, *, seed: int = 0, row_group_size: int | None = None) -> dict:
    """A finished-looking run of ``n`` training samples in the store layout; returns facts used
    to build the queries."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataquality.core import layout as S
    from dataquality.core import store

    rng = np.random.default_rng(seed)
    labels = [f"class_{i}" for i in range(N_LABELS)]
    vocab = np.array([f"w{i}" for i in range(5000)] + ["refund", "delivery", "broken", "excellent"], dtype=object)
    t0 = time.perf_counter()
    words = rng.zipf(1.3, size=(n, 12)) % len(vocab)
    texts = [" ".join(row) for row in vocab[words].tolist()]
    gold = rng.integers(0, N_LABELS, n)
    correct = rng.random(n) < 0.8
    pred = np.where(correct, gold, rng.integers(0, N_LABELS, n))
    aum = np.clip(rng.normal(0.4, 0.35, n), -1, 1).astype(np.float32)
    dep = ((1 - aum) / 2).astype(np.float32)
    cluster = rng.integers(-1, N_CLUSTERS, n).astype(np.int32)
    centres = rng.normal(size=(N_CLUSTERS + 1, 2)) * 10
    xy = (centres[cluster + 1] + rng.normal(size=(n, 2))).astype(np.float32)
    lab = np.array(labels, dtype=object)
    table = pa.table({
        S.ID: pa.array(np.arange(n, dtype=np.int64)),
        S.TEXT: pa.array(texts, pa.string()),
        S.GOLD: pa.array(lab[gold], pa.string()),
        S.PRED: pa.array(lab[pred], pa.string()),
        S.CONFIDENCE: pa.array(rng.uniform(0.2, 1.0, n).astype(np.float32)),
        "source": pa.array(np.array(["web", "app", "mail"], dtype=object)[rng.integers(0, 3, n)], pa.string()),
        "length": pa.array(rng.integers(1, 500, n)),
        "is_misclassified": pa.array(gold != pred),
        "aum": pa.array(aum),
        "data_error_potential": pa.array(dep),
        "likely_mislabeled": pa.array(dep > np.quantile(dep, 0.95)),
        "is_on_the_boundary": pa.array(rng.random(n) < 0.05),
        "x": pa.array(xy[:, 0]),
        "y": pa.array(xy[:, 1]),
        "cluster_id": pa.array(cluster),
    })
    paths = store.run_paths(PROJECT, RUN, root)
    d = paths.results("training")
    d.mkdir(parents=True, exist_ok=True)
    kw = {} if row_group_size is None else {"row_group_size": row_group_size}
    pq.write_table(table, d / S.SAMPLES_FILE, **kw)
    cm = np.zeros((N_LABELS, N_LABELS), np.int64)
    np.add.at(cm, (gold, pred), 1)
    store.write_json(paths.summary, {"project_name": PROJECT, "run_name": RUN, "labels": labels, "splits": {
        "training": {"split": "training", "inference_name": None, "n_samples": n, "epochs": [0, 1, 2],
                     "signals": {"summary": {"accuracy": float(correct.mean()), "confusion_matrix": cm.tolist(),
                                             "alerts": [], "clusters": []},
                                 "data_error_potential": {"easy_threshold": 0.3, "hard_threshold": 0.45}}}}})
    store.write_json(paths.manifest, {"project_name": PROJECT, "run_name": RUN, "task_type": "text_classification",
                                      "labels": labels, "status": "finished", "format_version": 1,
                                      "results": {"training": {"n_samples": n}}})
    return {"seconds": time.perf_counter() - t0, "labels": labels, "dir": d,
            "bytes": (d / S.SAMPLES_FILE).stat().st_size,
            "row_groups": pq.ParquetFile(d / S.SAMPLES_FILE).num_row_groups}


class Client:
    """GET through a real uvicorn server on loopback (httpx) or the in-process TestClient."""

    def __init__(self, root: Path, kind: str) -> None:
        self.kind = kind
        if kind == "uvicorn":
            import httpx

            from dataquality.server import runner

            self.srv = runner.start_background(root, host="127.0.0.1", port=0)
            self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.srv.port}", timeout=120)
        else:
            from fastapi.testclient import TestClient

            from dataquality.server import create_app

            self.http = TestClient(create_app(root), base_url="http://127.0.0.1")

    def get(self, path: str, params: dict | None = None):
        r = self.http.get(path, params=params)
        if r.status_code != 200:
            raise RuntimeError(f"{path} {params}: {r.status_code} {r.text[:500]}")
        return r

    def close(self) -> None:
        self.http.close()
        if self.kind == "uvicorn":
            from dataquality.server import runner

            runner.stop_background()


def timed(fn, repeats: int) -> dict:
    fn()  # warm-up: page cache, parquet metadata
    ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(pct(ms, 95), 2),
            "min_ms": round(min(ms), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--deep-page", type=int, default=1000)
    ap.add_argument("--row-group-size", type=int, default=None, help="default: as finish() writes (pyarrow's)")
    ap.add_argument("--client", choices=["uvicorn", "testclient"], default="uvicorn")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import duckdb

    from dataquality.server.queries import encode_cursor

    with tempfile.TemporaryDirectory(prefix="dq-bench-console-") as tmp:
        root = Path(tmp) / "store"
        facts = write_run(root, args.n, row_group_size=args.row_group_size)
        d = facts["dir"]
        base = f"/api/runs/{PROJECT}/{RUN}/splits/training"
        c = Client(root, args.client)
        limit = args.page_size
        res: dict = {"n": args.n, "client": args.client, "page_size": limit,
                     "samples_parquet_mib": round(facts["bytes"] / 2**20, 1), "row_groups": facts["row_groups"],
                     "write_run_seconds": round(facts["seconds"], 1), "repeats": args.repeats}
        try:
            # the keyset cursor of the deep page, as the server encodes it, from the same order in DuckDB
            con = duckdb.connect()
            path = str(d / "samples.parquet")
            deep = max(1, min(args.deep_page, args.n // limit - 1))  # small --n: the last full page
            res["deep_page"] = deep
            skip = limit * deep
            order = ("ORDER BY coalesce(CAST(data_error_potential AS DOUBLE), '-infinity'::DOUBLE) DESC, "
                     "file_row_number DESC")
            key_row = con.execute(f"SELECT CAST(data_error_potential AS DOUBLE), file_row_number FROM "
                                  f"read_parquet(?, file_row_number=true) {order} LIMIT 1 OFFSET ?",
                                  [path, skip - 1]).fetchall()[0]
            deep_cursor = encode_cursor("data_error_potential", True, key_row[0], key_row[1])
            want_rows = [r for (r,) in con.execute(f"SELECT file_row_number FROM read_parquet(?, file_row_number=true) "
                                                   f"{order} LIMIT ? OFFSET ?", [path, limit, skip]).fetchall()]
            # the very first page: loads the split into the server's memory (later pages fetch rows from it)
            t = time.perf_counter()
            c.get(base + "/samples", {"limit": limit})
            res["cold_first_page_ms"] = round((time.perf_counter() - t) * 1000, 1)
            # check: walking pages by cursor agrees with OFFSET (the first pages), and the deep page too
            cur, walked = None, []
            for _ in range(5):
                body = c.get(base + "/samples", {"limit": limit, **({"cursor": cur} if cur else {})}).json()
                walked += [r["_row"] for r in body["rows"]]
                cur = body["next_cursor"]
            first = [r for (r,) in con.execute(f"SELECT file_row_number FROM read_parquet(?, file_row_number=true) "
                                               f"{order} LIMIT ?", [path, 5 * limit]).fetchall()]
            got_deep = [r["_row"] for r in c.get(base + "/samples", {"limit": limit, "cursor": deep_cursor}).json()["rows"]]
            res["check_keyset_equals_offset"] = walked == first and got_deep == want_rows

            f_count = json.dumps({"gold": ["class_3"], "dep_min": 0.5})
            f_dep = json.dumps({"dep_min": 0.45})
            f_hi = json.dumps({"gold": ["class_2"], "misclassified_only": True})
            f_cluster = json.dumps({"cluster_id": [7]})
            f_text = json.dumps({"text": "refund"})
            q = {
                "first_page": (base + "/samples", {"limit": limit}),
                "keyset_deep_page": (base + "/samples", {"limit": limit, "cursor": deep_cursor}),
                "filtered_count": (base + "/count", {"filter": f_count}),
                "confusion": (base + "/confusion", {}),
                "confusion_filtered": (base + "/confusion", {"filter": f_dep}),
                "ids_highlight_class_errors": (base + "/ids", {"filter": f_hi}),
                "ids_highlight_cluster": (base + "/ids", {"filter": f_cluster}),
                "text_search_page": (base + "/samples", {"limit": limit, "filter": f_text}),
                "text_search_count": (base + "/count", {"filter": f_text}),
            }
            lat = {name: timed(lambda p=p, prm=prm: c.get(p, prm), args.repeats) for name, (p, prm) in q.items()}
            lat["ids_highlight_class_errors"]["n_ids"] = c.get(base + "/count", {"filter": f_hi}).json()["count"]
            lat["ids_highlight_cluster"]["n_ids"] = c.get(base + "/count", {"filter": f_cluster}).json()["count"]
            lat["text_search_count"]["n_matches"] = c.get(base + "/count", {"filter": f_text}).json()["count"]
            # baseline in the same run: the deep page by OFFSET straight in DuckDB (no HTTP at all)
            lat["baseline_offset_deep_page_duckdb"] = timed(
                lambda: con.execute(f"SELECT * FROM read_parquet(?, file_row_number=true) {order} LIMIT ? OFFSET ?",
                                    [path, limit, skip]).fetchall(), args.repeats)
            lat["keyset_deep_page"]["vs_offset_duckdb"] = round(
                lat["keyset_deep_page"]["median_ms"] / lat["baseline_offset_deep_page_duckdb"]["median_ms"], 2)
            res["latency"] = lat
            # the map payload: Arrow IPC for every point
            c.http.get("/api/health")
            t = time.perf_counter()
            body = c.get(base + "/map").content
            first_ms = (time.perf_counter() - t) * 1000
            cached = timed(lambda: c.get(base + "/map"), max(3, args.repeats // 3))
            import pyarrow as pa

            tbl = pa.ipc.open_stream(body).read_all()
            assert tbl.num_rows == args.n
            res["map"] = {"bytes": len(body), "mib": round(len(body) / 2**20, 2),
                          "bytes_per_point": round(len(body) / args.n, 2), "columns": tbl.column_names,
                          "first_ms": round(first_ms, 1), "cached_median_ms": cached["median_ms"],
                          "json_equivalent_mib_estimate": round(len(json.dumps(tbl.slice(0, 10000).to_pylist())) * args.n
                                                                / 10000 / 2**20, 1)}
        finally:
            c.close()
        goals = {k: GOAL_MS for k in ("first_page", "keyset_deep_page", "filtered_count", "confusion",
                                      "confusion_filtered", "ids_highlight_class_errors", "ids_highlight_cluster")}
        goals.update({"text_search_page": GOAL_TEXT_MS, "text_search_count": GOAL_TEXT_MS})
        res["goals_ms"] = goals
        res["goals_met"] = {k: res["latency"][k]["median_ms"] <= g for k, g in goals.items()}
        res["all_goals_met"] = all(res["goals_met"].values()) and res["check_keyset_equals_offset"]
        res["machine"] = machine_info()
        emit(res, args.out)


if __name__ == "__main__":
    main()
