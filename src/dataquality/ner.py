"""Public NER helpers (``dataquality.ner.log_hf_ner`` and friends).

They live with the ``text_ner`` task in :mod:`dataquality.tasks.text_ner`; this module keeps the
short import path users write.
"""

from .tasks.text_ner import *  # noqa: F401,F403
from .tasks.text_ner import __all__  # noqa: F401
