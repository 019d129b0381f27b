"""The read side: one layer for ``dq.metrics``, edits, export and the console.

- :mod:`.filters`: the filter model and its compiler to parameterised SQL (core fields, and the
  fields the run's task adds through ``Task.filter_fields`` / ``Task.filter_clauses``);
- :mod:`.views`: open a run's split (:func:`.views.open_split`) and its results as DuckDB views
  with a filter compiled over them (:func:`.views.open_view`, :func:`.views.select`);
- :mod:`.summary`: summaries, alerts, metrics by category, the confusion matrix;
- :mod:`.similar`: nearest samples across splits; :mod:`.lasso`: the map's lasso;
- :mod:`.edits`: the undoable edit list; :mod:`.export`: edited frames and exports;
  :mod:`.plot`: ``display_distribution``.

What differs by task type (extra tables such as NER's spans, filter fields, edit actions and how
they apply, the confusion matrix, the summary under a filter, the exported schema) is asked of
the run's task (:class:`dataquality.tasks.Task`, read side); nothing here names a task type.
"""
