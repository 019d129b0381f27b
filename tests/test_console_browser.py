"""The console in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright,
against ``dq serve`` over real finished runs (the Rotten Tomatoes + MiniLM demo with two inference
sets, and the WNUT-16 NER demo), plus a 100k-point split for the map.

Every request the page makes to a host other than loopback is blocked and recorded; each test
ends by asserting there were none. Screenshots go to ``test-artifacts/console/``.

Without Chromium or Playwright these tests skip, unless ``DQ_REQUIRE_BROWSER=1`` (set by
``.ci/run``), where they fail.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

import dataquality as dq

STATIC = Path(dq.__file__).parent / "server" / "static"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")
# XML namespace names: identifiers the DOM compares as strings, never requested.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml", "http://www.w3.org/1998/Math/MathML",
              "http://www.w3.org/1999/xlink", "http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/"}
DEMO = ("demo", "rotten-tomatoes-minilm")
NER = ("demo", "wnut16-minilm-ner")
BIG = ("bench", "console-1m")


def _chromium() -> str | None:
    for c in (os.environ.get("DQ_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if c and Path(c).exists():
            return c
    return None


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the `playwright` Python package")
    if _chromium() is None:
        missing.append("Chromium (Debian: apt install chromium)")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        if os.environ.get("DQ_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


# -- the built assets --------------------------------------------------------------------------------


def test_built_front_end_is_in_the_package_and_references_no_external_url():
    assert (STATIC / "index.html").exists(), "the package build did not build the console (see hatch_build.py)"
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert any(p.suffix == ".js" for p in files) and any(p.suffix == ".css" for p in files)
    bad = {}
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        for u in re.findall(r"https?://[^\s\"'`)<>\\]+", text):
            if not LOOPBACK.match(u) and u not in NAMESPACES:
                bad.setdefault(p.name, set()).add(u)
        # no <link>/<script> to another origin, no CSS @import or url() of one
        assert not re.search(r"""(src|href)\s*=\s*["']//""", text), p
    assert not bad, f"external URLs in the built console: {bad}"


def test_front_end_sources_name_no_task():
    """The console draws from the run's capabilities (GET /api/runs/{p}/{r}): no task type or
    alias is named in its sources, and nothing branches on one."""
    from dataquality.tasks import TASK_ALIASES

    src = Path(__file__).resolve().parents[1] / "frontend" / "src"
    if not src.is_dir():
        pytest.skip("the front end's sources are not in this checkout")
    words = sorted(set(TASK_ALIASES) | set(TASK_ALIASES.values()))
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b|isNer|task_type\s*===?", re.IGNORECASE)
    bad = {p.name: sorted({m.group(0) for m in pattern.finditer(p.read_text(encoding="utf-8"))})
           for p in src.rglob("*") if p.is_file()}
    assert not {k: v for k, v in bad.items() if v}, bad


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def console_root(tmp_path_factory) -> Path:
    _need_browser()
    bench = str(Path(__file__).resolve().parents[1] / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from console_api import write_run  # the synthetic run of bench/console_api.py
    from dataquality.demo.runs import DemoConfig, NerDemoConfig, run_demo, run_ner_demo

    root = tmp_path_factory.mktemp("console")
    run_demo(DemoConfig(n_train=600, n_validation=200, n_test=100, n_inference=150, epochs=3), root=root, verbose=False)
    run_ner_demo(NerDemoConfig(n_train=300, n_validation=80, n_inference=60, epochs=3), root=root, verbose=False)
    write_run(root, 100_000)
    return root


@pytest.fixture(scope="module")
def server(console_root):
    proc = subprocess.Popen([sys.executable, "-m", "dataquality", "serve", str(console_root), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)/", line or "")
        if m:
            url = m.group(1)
            break
        if proc.poll() is not None:
            break
    if url is None:
        proc.kill()
        pytest.fail(f"dq serve did not start: {proc.stdout.read()}")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic",
            # software WebGL for the map
            "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        yield b
        b.close()


class Page:
    """A page on the console with the bookkeeping every test checks at its end."""

    def __init__(self, browser, base: str, name: str):
        self.base, self.name = base, name
        self.ctx = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.external: list[str] = []
        self.errors: list[str] = []

        def route(r):
            if LOOPBACK.match(r.request.url) or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort()

        self.ctx.route("**/*", route)
        self.page = self.ctx.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def goto(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def filter(self) -> dict:
        q = parse_qs(urlparse(self.page.url).query)
        return json.loads(q["filter"][0]) if "filter" in q else {}

    def count(self) -> int:
        """The filter bar's count, once it is the count of the filter now in the URL."""
        loc = self.page.get_by_test_id("filter-count")
        loc.wait_for()
        self.page.wait_for_function(
            """() => { const el = document.querySelector('[data-testid=filter-count]');
                       const want = JSON.stringify(JSON.parse(new URLSearchParams(location.search).get('filter') || '{}'));
                       return el.dataset.key === want && / of /.test(el.textContent); }""", timeout=30_000)
        return int(loc.inner_text().split(" of ")[0].replace(",", ""))

    def shot(self, label: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{label}.png"))

    def close(self):
        self.ctx.close()
        assert not self.external, f"the page requested non-loopback URLs: {self.external}"
        assert not [e for e in self.errors if "GL Driver" not in e], f"page errors: {self.errors}"


@pytest.fixture
def page(browser, server, request):
    p = Page(browser, server, request.node.name.replace("[", "-").replace("]", ""))
    yield p
    p.close()


def run_url(run, **params) -> str:
    from urllib.parse import urlencode

    q = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in params.items()}
    return f"/runs/{run[0]}/{run[1]}" + (f"?{urlencode(q)}" if q else "")


def gdf(root, split="training", inference_name="", run=DEMO, **kw) -> pd.DataFrame:
    return dq.metrics.get_dataframe(run[0], run[1], split, inference_name, root=root, **kw)


# -- views ---------------------------------------------------------------------------------------------


def test_runs_list_to_sample_table_sorted_by_dep(page, console_root):
    pg = page.goto("/")
    runs = pg.get_by_test_id("runs")
    runs.wait_for()
    assert "rotten-tomatoes-minilm" in runs.inner_text() and "wnut16-minilm-ner" in runs.inner_text()
    pg.get_by_role("link", name="rotten-tomatoes-minilm").click()
    pg.locator("[data-testid=sample-table] .vbody [role=row]").first.wait_for()
    df = gdf(console_root).sort_values("data_error_potential", ascending=False)
    first = pg.locator("[data-testid=sample-table] .vbody [role=row]").first
    assert first.locator("[data-col=id]").inner_text().replace(",", "") == str(df["id"].iloc[0])
    assert page.count() == len(df)
    # toggling a column off removes it
    pg.get_by_test_id("column-toggles").locator("summary").click()
    pg.get_by_test_id("column-toggles").get_by_label("movie_name").uncheck()
    assert pg.locator("[data-testid=sample-table] [role=columnheader][data-col=movie_name]").count() == 0
    # sorting by a header: confidence ascending after two clicks
    pg.locator("[role=columnheader][data-col=confidence]").click()
    pg.locator("[role=columnheader][data-col=confidence]").click()
    pg.wait_for_timeout(800)
    low = df.sort_values(["confidence", "id"]).iloc[0]
    assert float(first.locator("[data-col=confidence]").inner_text()) == pytest.approx(low["confidence"], abs=1e-3)
    page.shot("table")


def test_filter_lives_in_the_url_and_is_shared(page, console_root):
    f = {"gold": ["fresh"], "dep_min": 0.4}
    pg = page.goto(run_url(DEMO, split="training", filter=f))
    want = len(gdf(console_root, filter=f))
    assert 0 < want < len(gdf(console_root))
    assert page.count() == want
    assert "gold ∈ {fresh}" in pg.get_by_test_id("chips").inner_text()
    # a flag toggle adds to the URL filter; reload keeps it; the map and summary see the same filter
    pg.get_by_test_id("flag-misclassified_only").check()
    pg.wait_for_timeout(500)
    assert page.filter() == {**f, "misclassified_only": True}
    want2 = len(gdf(console_root, filter={**f, "misclassified_only": True}))
    assert page.count() == want2
    pg.reload()
    assert page.count() == want2
    pg.locator("[data-view=summary]").click()
    pg.get_by_test_id("metric-cards").wait_for()
    assert pg.get_by_test_id("metric-cards").inner_text().split("\n")[0].replace(",", "") == str(want2)
    # text search
    pg.get_by_test_id("clear-filter").click()
    pg.get_by_test_id("search").fill("funny")
    pg.wait_for_timeout(1000)
    assert page.filter() == {"text": "funny"}
    assert page.count() == int(gdf(console_root)["text"].str.lower().str.contains("funny").sum())


def test_confusion_cell_click_filters_gold_and_pred(page, console_root):
    pg = page.goto(run_url(DEMO, split="validation", view="summary"))
    cell = pg.locator("[data-testid=confusion] td[data-gold=rotten][data-pred=fresh]")
    cell.wait_for()
    df = gdf(console_root, "validation")
    n = int(((df["gold"] == "rotten") & (df["pred"] == "fresh")).sum())
    assert cell.inner_text().replace(",", "") == str(n)
    page.shot("summary")
    cell.click()
    pg.wait_for_timeout(500)
    assert page.filter() == {"gold": ["rotten"], "pred": ["fresh"]}
    assert page.count() == n


def test_alert_and_cluster_clicks_set_the_filter(page, console_root):
    pg = page.goto(run_url(DEMO, split="training", view="summary"))
    alerts = dq.metrics.get_alerts(*DEMO, "training", root=console_root)
    a = next(x for x in alerts if x.get("filter"))
    pg.locator(f"[data-testid=alerts] button[data-kind={a['kind']}]").first.click()
    pg.wait_for_timeout(500)
    assert page.filter() == a["filter"]
    assert page.count() == a["count"]
    pg.locator("[data-view=summary]").click()
    row = pg.locator("[data-testid=clusters] tr[data-cluster]").first
    row.wait_for()
    cid = int(row.get_attribute("data-cluster"))
    row.click()
    pg.wait_for_timeout(500)
    assert page.filter() == {"cluster_id": [cid]}
    assert page.count() == int((gdf(console_root)["cluster_id"] == cid).sum())


def _wait_drawn(pg, prefix=""):
    pg.wait_for_function(f"() => (document.querySelector('[data-testid=map]')?.dataset.drawn || '').startsWith('{prefix}')",
                         timeout=60_000)


def _drag_polygon(pg, pts, n_ops: int):
    """Draw a lasso through ``pts`` (fractions of the map's box) and wait until the URL's filter
    holds ``n_ops`` lasso polygons."""
    box = pg.get_by_test_id("map").bounding_box()
    xy = [(box["x"] + box["width"] * u, box["y"] + box["height"] * v) for u, v in pts]
    pg.mouse.move(*xy[0])
    pg.mouse.down()
    for (x0, y0), (x1, y1) in zip(xy, xy[1:] + xy[:1]):
        for t in np.linspace(0, 1, 9)[1:]:  # small steps, paced, so the lasso records every corner
            pg.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            pg.wait_for_timeout(20)
    pg.mouse.up()
    pg.wait_for_function(
        """(n) => { const q = new URLSearchParams(location.search).get('filter');
                    if (!q) return false; const l = JSON.parse(q).lasso;
                    return !!l && (Array.isArray(l) ? l.length : 1) === n; }""", arg=n_ops, timeout=30_000)


def test_map_colours_and_lasso_add_subtract(page, console_root):
    pg = page.goto(run_url(DEMO, split="training", view="map", color="dep"))
    _wait_drawn(pg, "dep:")
    page.shot("map-dep")
    pg.get_by_test_id("tool-lasso").click()
    _drag_polygon(pg, [(0.2, 0.2), (0.55, 0.2), (0.55, 0.8), (0.2, 0.8)], 1)
    f = page.filter()
    assert "lasso" in f, f
    n1 = page.count()
    assert n1 == len(gdf(console_root, filter=f)) and 0 < n1 < 600
    # add a second region (the toolbar's mode; Ctrl-drag does the same)
    pg.get_by_test_id("lasso-op").select_option("add")
    _drag_polygon(pg, [(0.6, 0.2), (0.85, 0.2), (0.85, 0.8), (0.6, 0.8)], 2)
    f2 = page.filter()
    assert isinstance(f2["lasso"], list) and [p["op"] for p in f2["lasso"]] == ["add", "add"]
    n2 = page.count()
    assert n2 == len(gdf(console_root, filter=f2)) and n2 > n1
    # subtract a band across both
    pg.get_by_test_id("lasso-op").select_option("subtract")
    _drag_polygon(pg, [(0.1, 0.45), (0.9, 0.45), (0.9, 0.55), (0.1, 0.55)], 3)
    f3 = page.filter()
    assert [p["op"] for p in f3["lasso"]] == ["add", "add", "subtract"]
    n3 = page.count()
    assert n3 == len(gdf(console_root, filter=f3)) and n3 < n2
    _wait_drawn(pg, "dep:")
    page.shot("map-lasso")
    # the table shows the same selection
    pg.locator("[data-view=table]").click()
    first = pg.locator("[data-testid=sample-table] .vbody [role=row]").first
    first.wait_for()
    assert page.count() == n3
    inside = set(gdf(console_root, filter=f3)["id"].astype(str))
    ids = pg.locator("[data-testid=sample-table] .vbody [role=row] [data-col=id]").all_inner_texts()
    assert ids and {i.replace(",", "") for i in ids} <= inside


def test_show_similar_from_a_row_with_scores(page, console_root):
    pg = page.goto(run_url(DEMO, split="training"))
    row = pg.locator("[data-testid=sample-table] .vbody [role=row]").nth(3)
    row.wait_for()
    sid = row.locator("[data-col=id]").inner_text().replace(",", "")
    row.click()
    pg.get_by_test_id("sample-panel").wait_for()
    pg.get_by_test_id("show-similar").click()
    table = pg.get_by_test_id("similar").locator("table")
    table.wait_for()
    cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
    want = dq.metrics.get_similar(*DEMO, "training", ids=[int(sid)], k=10, root=console_root,
                                  splits=["training", "validation", "test", "inference/plots", "inference/headlines"])
    assert float(cells[0]) == pytest.approx(float(want["similarity"].iloc[0]), abs=1e-3)
    assert table.locator("tbody tr").count() == len(want)
    page.shot("similar")
    # filter the split to the neighbours
    pg.get_by_test_id("filter-similar").click()
    pg.wait_for_timeout(500)
    assert page.filter() == {"similar_to": {"ids": [int(sid)], "k": 10}}
    assert page.count() == len(gdf(console_root, filter={"similar_to": {"ids": [int(sid)], "k": 10}}))


def _download(pg, testid="export") -> tuple[str, bytes]:
    with pg.expect_download() as d:
        pg.get_by_test_id(testid).click()
    dl = d.value
    path = dl.path()
    return dl.suggested_filename, Path(path).read_bytes()


def test_edit_with_undo_and_export(page, console_root):
    df = gdf(console_root, "test")
    target = df.iloc[0]
    new = "fresh" if target["gold"] == "rotten" else "rotten"
    pg = page.goto(run_url(DEMO, split="test", filter={"ids": [int(target["id"])]}))
    pg.locator("[data-testid=sample-table] .vbody [role=row]").first.click()
    pg.get_by_test_id("relabel-select").select_option(new)
    pg.get_by_test_id("relabel").click()
    pg.get_by_test_id("toast").wait_for()
    # the edits view lists it; the edited export carries the new label
    pg.locator("[data-view=edits]").click()
    pg.get_by_test_id("edits-table").wait_for()
    edits = dq.metrics.get_edits(*DEMO, root=console_root)
    eid = int(edits["edit_id"].max())
    assert pg.locator(f"[data-testid=edits-table] tr[data-edit='{eid}']").inner_text().count(new) >= 1
    page.shot("edits")
    name, body = _download(pg)
    assert name.endswith(".csv")
    got = pd.read_csv(io.BytesIO(body))
    assert got["id"].tolist() == [int(target["id"])] and got["label"].tolist() == [new] if "label" in got else got["gold"].tolist() == [new]
    # undo: marked undone, and the export has the logged label again
    pg.get_by_test_id(f"undo-{eid}").click()
    pg.get_by_test_id(f"redo-{eid}").wait_for()
    assert bool(dq.metrics.get_edits(*DEMO, root=console_root).set_index("edit_id").loc[eid, "undone"])
    name, body = _download(pg)
    got = pd.read_csv(io.BytesIO(body))
    col = "label" if "label" in got else "gold"
    assert got[col].tolist() == [target["gold"]]
    # a filtered Parquet export of a whole class, checked row for row
    pg.get_by_test_id("clear-filter").click()
    pg.get_by_test_id("gold-select").select_option("fresh")
    pg.get_by_test_id("export-format").select_option("parquet")
    pg.wait_for_timeout(500)
    name, body = _download(pg)
    assert name.endswith(".parquet")
    got = pd.read_parquet(io.BytesIO(body))
    assert sorted(got["id"].tolist()) == sorted(df.loc[df["gold"] == "fresh", "id"].tolist())


def test_inference_view_compares_with_training(page, console_root):
    pg = page.goto(run_url(DEMO, split="inference", inference_name="headlines", view="inference"))
    pg.get_by_test_id("inference-view").wait_for()
    pg.get_by_test_id("class-shift").wait_for()
    pg.get_by_test_id("confidence-shift").wait_for()
    drift = dq.metrics.get_summary(*DEMO, root=console_root)["splits"]["inference/headlines"]["signals"]["drift"]
    verdict = pg.get_by_test_id("set-drift").inner_text()
    assert ("no drift" not in verdict) == bool(drift["mmd"]["drifted"])
    assert f"{drift['mmd']['p_value']:.4f}" in verdict and verdict.endswith("vs training")  # MMD is against training
    drifted = pg.get_by_test_id("drifted-list").locator("li")
    drifted.first.wait_for()
    inf = gdf(console_root, "inference", "headlines")
    assert drifted.count() == min(10, int(inf["is_drifted"].sum()))
    # ordered by the distance (drift_score, a percentile, is 1 for everything beyond the reference)
    top = inf[inf["is_drifted"]].sort_values("knn_distance", ascending=False).iloc[0]
    assert drifted.first.locator(".badge").inner_text() == f"{top['knn_distance']:.3f}"
    page.shot("inference")
    pg.get_by_test_id("drifted-list").get_by_role("button", name="show all in the table").click()
    pg.wait_for_timeout(500)
    assert page.filter() == {"is_drifted": True}
    assert page.count() == int(inf["is_drifted"].sum())


def test_ner_span_view_with_error_types(page, console_root):
    pg = page.goto(run_url(NER, split="training", view="spans"))
    pg.get_by_test_id("span-samples").locator("li").first.wait_for()
    assert pg.locator("[data-testid=span-samples] .span.gold").count() > 0
    spans = dq.metrics.get_spans(*NER, "training", root=console_root)
    kinds = spans.loc[spans["error_type"] != "none", "error_type"].value_counts()
    assert len(kinds), "the NER demo should make some span errors"
    kind = kinds.index[0]
    page.shot("spans")
    pg.get_by_test_id(f"error-{kind}").check()
    pg.wait_for_timeout(800)
    assert page.filter() == {"error_type": [kind]}
    want = spans.loc[spans["error_type"] == kind, "id"].nunique()
    assert page.count() == want
    assert pg.locator(f"[data-testid=span-samples] .span[data-error={kind}]").count() > 0
    table = pg.get_by_test_id("span-table").locator("tbody tr")
    assert table.count() > 0


def test_map_of_100k_points_loads_and_pans(page):
    pg = page.goto(run_url(BIG, split="training", view="map"))
    _wait_drawn(pg, "gold:")
    assert "100,000 points" in pg.get_by_test_id("map-status").inner_text()
    box = pg.get_by_test_id("map").bounding_box()
    before = int(pg.get_by_test_id("map").get_attribute("data-views") or 0)
    t0 = time.perf_counter()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] / 2 + 200, box["y"] + box["height"] / 2 + 80, steps=10)
    pg.mouse.up()
    pg.wait_for_function(f"() => Number(document.querySelector('[data-testid=map]').dataset.views || 0) > {before}", timeout=30_000)
    pg.mouse.wheel(0, -400)
    pg.wait_for_timeout(300)
    page.shot("map-100k")
    print(f"pan answered in {time.perf_counter() - t0:.2f} s")


@pytest.mark.parametrize("view", ["table", "spans", "inference", "summary", "map", "edits"])
def test_ner_inference_views_load_without_errors(page, console_root, view):
    """Every view of an NER inference set (no gold, no DEP flags) renders with no failed request."""
    pg = page.goto(run_url(NER, split="inference", inference_name="tweets", view=view))
    pg.get_by_test_id("filterbar").wait_for()
    n = len(gdf(console_root, "inference", "tweets", run=NER))
    assert page.count() == n
    pg.wait_for_timeout(1500)  # let every request of the view answer
    if view == "inference":
        assert pg.get_by_test_id("confidence-shift").count() == 1
    if view == "spans":
        assert pg.get_by_test_id("span-samples").locator("li").count() > 0


def test_ner_drift_flags_on_a_shifted_inference_set(page, console_root):
    """The NER demo's headlines: the sample drift flag and the drifted-span flag filter the table to
    the rows dq.metrics gives for the same filter, and the inference view shows the sample drift rate."""
    pg = page.goto(run_url(NER, split="inference", inference_name="headlines"))
    pg.get_by_test_id("filterbar").wait_for()
    for key in ("is_drifted", "has_drifted_span"):
        pg.get_by_test_id(f"flag-{key}").check()
        pg.wait_for_timeout(500)
        assert page.filter() == {key: True}
        want = len(gdf(console_root, "inference", "headlines", run=NER, filter={key: True}))
        assert 0 < want < len(gdf(console_root, "inference", "headlines", run=NER))
        assert page.count() == want
        pg.get_by_test_id(f"flag-{key}").uncheck()
        pg.wait_for_timeout(300)
    pg.locator("[data-view=inference]").click()
    pg.get_by_test_id("confidence-shift").wait_for()
    drift = dq.metrics.get_summary(*NER, root=console_root)["splits"]["inference/headlines"]["signals"]["drift"]
    assert drift["unit"] == "sample" and drift["rate"] > 0.2  # headlines: far from tweets
    # the set-level verdict and the predicted entity types against the reference split
    assert pg.get_by_test_id("set-drift").inner_text().startswith("drifted" if drift["mmd"]["drifted"] else "no drift")
    bars = pg.get_by_test_id("class-shift").inner_text()
    assert all(t in bars for t in drift["class_shift"]["share"])
    assert f"{100 * drift['rate']:.1f}%" in pg.get_by_text("drifted (expected").locator("..").inner_text()
    page.shot("ner-headlines-drift")


def test_console_draws_what_the_capabilities_declare(page, console_root):
    """Tabs, colourings, filter fields, edit actions and the task selector come from the run's
    capabilities: here the API's answer is rewritten, and the console follows it."""
    pg = page.page

    def rewrite(route):
        body = route.fetch().json()
        body["capabilities"].update({
            "views": ["table", "map", "edits"],
            "color_by": ["cluster", "dep"],
            "filter_fields": [{"name": "text_regex", "kind": "text", "doc": "a regular expression", "choices": []}],
            "edit_actions": [{"name": "update_text", "needs": "text", "doc": "replace"}, {"name": "delete", "needs": None, "doc": ""}],
            "subtasks": ["first", "second"],
        })
        route.fulfill(json=body)

    pg.route(f"**/api/runs/{DEMO[0]}/{DEMO[1]}", rewrite)
    page.goto(run_url(DEMO, split="training", view="map"))
    _wait_drawn(pg, "cluster:")
    assert pg.locator("[data-testid=views] [data-view]").evaluate_all("els => els.map((e) => e.dataset.view)") == ["table", "map", "edits"]
    assert pg.locator(".mapview [data-color]").evaluate_all("els => els.map((e) => e.dataset.color)") == ["cluster", "dep"]
    # a text field of the task: an input that sets its filter key
    pg.get_by_test_id("text-regex-input").fill("^the")
    pg.wait_for_timeout(1000)
    assert page.filter() == {"text_regex": "^the"}
    assert page.count() == len(gdf(console_root, filter={"text_regex": "^the"}))
    # the edit actions, each with the inputs it needs; the sample panel offers only `delete`
    pg.locator("[data-view=edits]").click()
    assert pg.get_by_test_id("edit-action").locator("option").evaluate_all("els => els.map((e) => e.value)") == ["update_text", "delete"]
    assert pg.get_by_test_id("edit-search").count() == 1 and pg.get_by_test_id("edit-label").count() == 0
    pg.get_by_test_id("edit-action").select_option("delete")
    assert pg.get_by_test_id("edit-search").count() == 0
    page.goto(run_url(DEMO, split="training", sample="0"))
    pg.get_by_test_id("sample-panel").get_by_test_id("delete-sample").wait_for()
    assert pg.get_by_test_id("relabel-select").count() == 0
    # subtasks: a task selector that sets the filter's `task`
    assert pg.get_by_test_id("task-select").locator("option").all_inner_texts() == ["all tasks", "first", "second"]
    pg.get_by_test_id("task-select").select_option("second")
    pg.wait_for_timeout(500)
    assert page.filter() == {"task": "second"}
    # (this run's task has no `task` field, so the server refuses the filter: expected here)
    pg.wait_for_timeout(1000)
    page.errors[:] = [e for e in page.errors if "400" not in e and "422" not in e]


def test_ner_edits_offer_the_span_actions_with_their_inputs(page, console_root):
    """The NER run's edit actions (relabel, shift, delete spans) with the inputs each needs; a span
    relabel made in the console is recorded, then undone."""
    df = gdf(console_root, run=NER)
    sid = int(df.loc[df["n_gold_spans"] > 0, "id"].iloc[0])
    pg = page.goto(run_url(NER, split="training", view="edits", filter={"ids": [sid]}))
    action = pg.get_by_test_id("edit-action")
    action.wait_for()
    offered = action.locator("option").evaluate_all("els => els.map((e) => e.value)")
    assert offered[:3] == ["relabel_span", "shift_span", "delete_span"]  # then the sample actions NER offers too
    assert set(offered[3:]) == {"delete", "update_text", "select_for_label"}
    action.select_option("shift_span")
    assert pg.get_by_text("shift start by").count() == 1 and pg.get_by_test_id("edit-label").count() == 0
    action.select_option("relabel_span")
    types = pg.get_by_test_id("edit-label").locator("option").evaluate_all("els => els.map((e) => e.value).filter(Boolean)")
    assert "person" in types and not any(t.startswith(("B-", "I-")) for t in types)  # entity types, not tags
    pg.get_by_test_id("edit-label").select_option("person")
    pg.get_by_test_id("apply-edit").click()
    pg.get_by_test_id("edits-table").wait_for()
    edits = dq.metrics.get_edits(*NER, root=console_root)
    last = edits.iloc[-1]
    assert last["action"] == "relabel_span" and last["new_label"] == "person"
    eid = int(last["edit_id"])
    pg.get_by_test_id(f"undo-{eid}").click()
    pg.get_by_test_id(f"redo-{eid}").wait_for()
    assert bool(dq.metrics.get_edits(*NER, root=console_root).set_index("edit_id").loc[eid, "undone"])
