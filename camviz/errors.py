"""The one exception family of camviz.

Every error a user can fix is a :class:`CamvizError`. Its message is one line
that names the bad value, the valid choices (or close matches) and the fix; the
CLI prints it as is and exits 1 (``CAMVIZ_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CamvizError(Exception):
    """A problem with the user's input that the user can fix."""


class UnknownNameError(CamvizError, KeyError):
    """A name (model, layer, method, data set, class) that is not known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(CamvizError):
    """A checkpoint file that is missing, corrupt or does not fit."""


class ModelUnavailableError(CamvizError):
    """Weights that are not on this machine and cannot be downloaded."""


class DataError(CamvizError):
    """A data set or image folder that cannot be used."""


class ImageError(CamvizError):
    """An image file that cannot be read safely."""


class MethodNotApplicable(CamvizError):
    """A CAM method that cannot explain this model at this layer (e.g. CAM without a
    GAP -> linear head). ``explain(..., skip_inapplicable=True)`` leaves such a method out
    and says why in ``Explanation.skipped`` instead of raising."""


class NonFiniteError(CamvizError):
    """NaN or infinite values where numbers must be finite: an input, or a model's logits
    (weights of a diverged run); refused instead of yielding 'nan' probabilities."""


class ConfigError(CamvizError):
    """A bad option value (learning rate, batch size, epochs, ...)."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choices, or ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


MAX_LISTED = 16  # longer choice lists are left to the hint (11 ImageNet models + a few checkpoints fit)


def unknown(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the standard "unknown <kind> 'name'" error with close matches and a hint."""
    choices = list(choices)
    msg = f"unknown {kind} '{name}'{did_you_mean(name, choices)}"
    if len(choices) <= MAX_LISTED:
        msg += f" (valid: {', '.join(choices)})"
    if hint:
        msg += f"; {hint}"
    return UnknownNameError(msg)
