"""The local web console: a FastAPI app over the run store (``dq serve``, ``dq.show()``).

Needs the ``console`` extra (``pip install 'dataquality[console]'``). Nothing here is imported by
``import dataquality``.

- :func:`dataquality.server.app.create_app` builds the app (JSON and Arrow API under ``/api``,
  OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``).
- :func:`dataquality.server.runner.serve` serves it in the foreground (``dq serve``);
  :func:`dataquality.server.runner.start_background` on a thread (``dq.show()``).
- :mod:`dataquality.server.queries` holds the console's SQL: keyset pages, counts, matching rows,
  histograms, the Arrow map payload; over the views of :mod:`dataquality.read.views`, the one way
  the package opens a split (the summary and confusion matrix come from
  :mod:`dataquality.read.summary`, which asks the run's task).
- :mod:`dataquality.server.site` serves the built front end and the offline API docs.
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    """See :func:`dataquality.server.app.create_app`."""
    from .runner import require_console

    require_console()
    from .app import create_app as _create

    return _create(*args, **kwargs)


def serve(*args, **kwargs):
    """See :func:`dataquality.server.runner.serve`."""
    from .runner import serve as _serve

    return _serve(*args, **kwargs)


__all__ = ["create_app", "serve"]
