"""Public NER helpers: ``dataquality.ner.log_hf_ner``, ``prepare_hf_ner``, span alignment,
tagging schemas, error types and DEP.

They live with the ``text_ner`` task (:mod:`dataquality.tasks.text_ner`) and, for the one that
logs through ``dq``, in :mod:`dataquality.integrations.hf_ner`; this module keeps the short import
path users write.
"""

from .integrations.hf_ner import log_hf_ner  # noqa: F401
from .tasks.text_ner import *  # noqa: F401,F403
from .tasks.text_ner import __all__ as _task_names

__all__ = [*_task_names, "log_hf_ner"]
