"""Benchmark: the console's embedding map in headless Chromium (software WebGL, SwiftShader).

For synthetic runs of 100k and 1M points (``console_api.write_run``), served by ``dq serve`` on
loopback, the page opens the map view and we time, per size (median of ``--repeats`` page loads):

- ``payload_cold_ms`` / ``payload_ms``: fetching the map's Arrow stream alone (``GET .../map``,
  Python ``urllib``): the first request (the server builds the stream) and the median of the
  later ones (served from its cache, as the page's own requests are): the baseline a load pays;
- ``first_draw_ms``: from navigation to the points drawn (the map sets ``data-drawn``), with the
  stream already cached by the server;
- ``pan_ms``: from the first pointer move of a drag to the view's change event, in the page's
  own clock (``performance.now()``);
- ``filter_redraw_ms``: from setting a filter (one class) to the map redrawn with the rest in grey;

and report page errors (must be none) and the payload size. The issue asks that 100k points load
and answer a pan without error; the 1M figures show where the map stands beyond that.

Usage::

    .venv/bin/python bench/console_map.py                   # 100k and 1M
    .venv/bin/python bench/console_map.py --sizes 100000 --repeats 2 --out result.json
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # the bench folder last: never shadow an installed module

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine_info  # noqa: E402
from console_api import PROJECT, RUN, write_run  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--use-gl=angle", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader"]


def serve(root: Path):
    proc = subprocess.Popen([sys.executable, "-m", "dataquality", "serve", str(root), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while True:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/", line or "")
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise RuntimeError("dq serve did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--out")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    result = {"benchmark": "console_map", "machine": machine_info(), "sizes": {}}
    for n in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="dq-bench-map-") as tmp:
            root = Path(tmp)
            write_run(root, n)
            proc, base = serve(root)
            try:
                map_api = f"{base}/api/runs/{PROJECT}/{RUN}/splits/training/map"
                payload, size = [], 0
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    size = len(urllib.request.urlopen(map_api).read())
                    payload.append((time.perf_counter() - t0) * 1000)
                first, pan, redraw, errors = [], [], [], []
                with sync_playwright() as p:
                    b = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                    for _ in range(args.repeats):
                        ctx = b.new_context(viewport={"width": 1400, "height": 900})
                        pg = ctx.new_page()
                        pg.on("pageerror", lambda e: errors.append(str(e)))
                        t0 = time.perf_counter()
                        pg.goto(f"{base}/runs/{PROJECT}/{RUN}?split=training&view=map")
                        pg.wait_for_function("() => !!document.querySelector('[data-testid=map]')?.dataset.drawn", timeout=300_000)
                        first.append((time.perf_counter() - t0) * 1000)
                        box = pg.get_by_test_id("map").bounding_box()
                        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                        # in the page's clock: the first pointer move of the drag to the view's change
                        pg.evaluate("""() => { const el = document.querySelector('[data-testid=map]');
                            window.__t = {};
                            el.addEventListener('pointermove', () => { if (window.__t.down && !window.__t.move) window.__t.move = performance.now(); }, true);
                            el.addEventListener('pointerdown', () => { window.__t.down = performance.now(); }, true);
                            window.__t.views = Number(el.dataset.views || 0);
                            new MutationObserver(() => { if (Number(el.dataset.views || 0) > window.__t.views && !window.__t.view) window.__t.view = performance.now(); })
                              .observe(el, { attributes: true }); }""")
                        pg.mouse.move(cx, cy)
                        pg.mouse.down()
                        pg.mouse.move(cx + 150, cy + 60, steps=5)
                        pg.mouse.up()
                        pg.wait_for_function("() => !!(window.__t && window.__t.view)", timeout=300_000)
                        t = pg.evaluate("() => window.__t")
                        pan.append(t["view"] - t["move"])
                        t0 = time.perf_counter()
                        pg.get_by_test_id("gold-select").select_option("class_1")
                        pg.wait_for_function("() => /class_1/.test(decodeURIComponent(location.search)) && "
                                             "document.querySelector('[data-testid=map]').dataset.drawn.includes('class_1')",
                                             timeout=300_000)
                        redraw.append((time.perf_counter() - t0) * 1000)
                        ctx.close()
                    b.close()
            finally:
                proc.terminate()
                proc.wait(10)
        med = lambda xs: round(statistics.median(xs), 1)  # noqa: E731
        result["sizes"][str(n)] = {
            "payload_bytes": size, "payload_mib": round(size / 2**20, 2),
            "payload_cold_ms": round(payload[0], 1), "payload_ms": med(payload[1:] or payload),
            "first_draw_ms": med(first), "pan_ms": med(pan), "filter_redraw_ms": med(redraw),
            "first_draw_over_cold_payload": round(statistics.median(first) / payload[0], 2),
            "page_errors": errors[:5], "runs": {"first_draw_ms": [round(x) for x in first], "pan_ms": [round(x) for x in pan]},
        }
        print(json.dumps({n: result["sizes"][str(n)]}), file=sys.stderr, flush=True)
    result["goal"] = "100k points load and answer a pan without error; the map payload is binary (Arrow)"
    result["met"] = all(not v["page_errors"] for v in result["sizes"].values())
    emit(result, args.out)


if __name__ == "__main__":
    main()
