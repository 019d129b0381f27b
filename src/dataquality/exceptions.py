"""The exceptions ``dataquality`` raises.

Every error is a :class:`DataQualityError` and also subclasses the built-in exception a caller
would catch for that kind of mistake (``ValueError``, ``TypeError``, ``RuntimeError``), so
existing ``except ValueError`` handlers keep working.

Hierarchy::

    DataQualityError
    ├── ConfigurationError(ValueError)   bad task type, project/run name, labels, settings
    ├── SplitError(ValueError)           missing or unknown split, epoch, inference name
    ├── SchemaError(ValueError)          a batch or dataset has the wrong shape, columns or values
    │   ├── ShapeError                   array shapes that do not agree
    │   ├── NonFiniteError               NaN or inf in embeddings, logits or probabilities
    │   ├── DuplicateIdError             an id logged twice in one split (and epoch)
    │   ├── UnknownIdError               model outputs for ids never logged as inputs
    │   └── LabelError                   unknown labels, labels where none belong, missing labels
    ├── InputTypeError(TypeError)        an argument of the wrong type (e.g. ids mixing str and int)
    ├── RunStateError(RuntimeError)      no active run, run already finished, conflicting sessions
    ├── WriterError(RuntimeError)        the background writer failed; raised on the next call
    └── RunNotFoundError(LookupError)    dq.metrics asked for a project, run or split that is not there
"""

from __future__ import annotations


class DataQualityError(Exception):
    """Base class of every error raised by ``dataquality``."""


class ConfigurationError(DataQualityError, ValueError):
    """A setting is invalid: task type, project or run name, label list, tagging schema."""


class SplitError(DataQualityError, ValueError):
    """The split, epoch or inference name is missing, unknown or inconsistent."""


class SchemaError(DataQualityError, ValueError):
    """Logged data does not have the expected columns, shapes or values."""


class ShapeError(SchemaError):
    """Array shapes disagree with each other or with the run (ids vs embs vs logits vs labels)."""


class NonFiniteError(SchemaError):
    """Embeddings, logits or probabilities contain NaN or infinity."""


class DuplicateIdError(SchemaError):
    """An id was logged more than once for the same split (and epoch)."""


class UnknownIdError(SchemaError):
    """Model outputs were logged for ids that were never logged as inputs."""


class LabelError(SchemaError):
    """Labels are unknown, missing where required, or present where none belong."""


class InputTypeError(DataQualityError, TypeError):
    """An argument has the wrong type (for example ids that mix strings and integers)."""


class RunStateError(DataQualityError, RuntimeError):
    """The call does not fit the state of the run (no active run, already finished, ...)."""


class WriterError(DataQualityError, RuntimeError):
    """The background writer failed. Raised on the next ``dq`` call and by ``finish()``."""


class RunNotFoundError(DataQualityError, LookupError):
    """The requested project, run, split or result does not exist in the store."""


__all__ = [
    "ConfigurationError",
    "DataQualityError",
    "DuplicateIdError",
    "InputTypeError",
    "LabelError",
    "NonFiniteError",
    "RunNotFoundError",
    "RunStateError",
    "SchemaError",
    "ShapeError",
    "SplitError",
    "UnknownIdError",
    "WriterError",
]
