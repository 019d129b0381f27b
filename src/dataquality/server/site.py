"""What the console serves besides its API: the built single-page app (``server/static``) and the
API docs page with Swagger UI's files from ``fastapi-offline`` (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

STATIC = Path(__file__).with_name("static")

PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>dataquality console</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>dataquality console</h1>
<p>The API is running. The built web front end is not part of this installation yet.</p>
<p>API documentation: <a href="/api/docs">/api/docs</a> &middot; schema: <a href="/api/openapi.json">/api/openapi.json</a>
&middot; runs: <a href="/api/runs">/api/runs</a></p>
</body></html>"""


def offline_docs_assets() -> Path | None:
    """Swagger UI's files from the ``fastapi-offline`` package (the ``console`` extra), so the API
    docs page works with no internet; None when it is not installed (FastAPI's page, which loads
    Swagger UI from a CDN, is served instead)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    d = Path(fastapi_offline.__file__).with_name("static")
    return d if (d / "swagger-ui-bundle.js").exists() else None


def mount_offline_docs(app: FastAPI) -> None:
    assets = offline_docs_assets()
    if assets is None:
        return
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/api/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title=f"{app.title} - docs",
                                   swagger_js_url="/api/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/api/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/api/docs-assets/favicon.png")


def mount_front_end(app: FastAPI) -> None:
    """Serve the built single-page app from ``server/static`` when it is there (any path outside
    ``/api`` that is not a file gets ``index.html``: the app routes on the client), else a page
    pointing at the API docs."""
    index = STATIC / "index.html"

    @app.get("/{path:path}", include_in_schema=False)
    def front_end(path: str):
        if path.startswith("api/") or path == "api":
            return JSONResponse({"error": "NotFound", "detail": f"No API route /{path}; see /api/docs."}, status_code=404)
        if index.exists():
            candidate = (STATIC / path).resolve()
            if path and candidate.is_file() and STATIC.resolve() in candidate.parents:
                return FileResponse(candidate)
            return FileResponse(index, media_type="text/html")
        return HTMLResponse(PLACEHOLDER)
