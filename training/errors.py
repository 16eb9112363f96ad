"""The training package's errors: each one is a message for a person, shown without a traceback."""


class TrainingError(Exception):
    """Base class: fer-train prints the message and exits with status 2."""


class DataError(TrainingError, ValueError):
    """The dataset file is unreadable or a row is invalid; the message names the row and the fault."""


class RunExistsError(TrainingError):
    """The run directory already holds a run (pass --resume) or holds nothing to resume."""


class ExportError(TrainingError):
    """The exported ONNX model does not reproduce the Keras model, or conversion failed."""
