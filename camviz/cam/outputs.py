"""The logits inside whatever a model's forward returns.

torchvision models return a logits tensor; Hugging Face models a ``ModelOutput`` (a dict
that also has attributes, ``.logits``); others a tuple ``(logits, features)`` or a dict.
:func:`select_logits` finds the (N, classes) tensor so that no wrapper is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from camviz.errors import CamvizError, NonFiniteError

Output = int | str | None  # what `output=` accepts: a position, a key/attribute, or automatic
OUTPUT_HINT = "pass output=<index or key> to choose the (N, classes) logits"


def check_output(output: object) -> Output:
    if output is None or isinstance(output, str) or (
            isinstance(output, int) and not isinstance(output, bool)):
        return output
    raise CamvizError(f"output must be an int (position in a tuple), a str (key or attribute, "
                      f"e.g. 'logits') or None, got {output!r}")


def select_logits(result: object, output: Output = None) -> Tensor:
    """The (N, classes) logits in ``result``: the tensor itself, ``result[output]`` or
    ``getattr(result, output)``; by default the first element of a tuple/list and the
    ``logits`` key or attribute of a dict or output object."""
    picked, where = _pick(result, output)
    if not isinstance(picked, Tensor) or picked.dim() != 2:
        got = tuple(picked.shape) if isinstance(picked, Tensor) else type(picked).__name__
        raise CamvizError(f"the model's output{where} is {got}, not (N, classes) logits; "
                          f"{OUTPUT_HINT}")
    check_finite_logits(picked)
    return picked


def check_finite_logits(logits: Tensor) -> None:
    """The one NaN guard: every logit camviz reads passes here, so NaN weights (a diverged
    run's checkpoint) or NaN inputs are refused instead of becoming 'nan' probabilities,
    a class 0 "explained" with all-zero maps, and bare NaN in a JSON manifest."""
    bad = ~torch.isfinite(logits.detach())
    try:
        found = bool(bad.any())
    except RuntimeError:   # inside a torch.func transform (vmap/jacrev): no data-dependent check
        return
    if found:
        rows = bad.any(dim=1).nonzero()[:, 0].tolist()
        shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
        raise NonFiniteError(
            f"the model's logits are NaN or infinite for {len(rows)} of {logits.shape[0]} "
            f"image(s) (index {shown}): its weights or the input hold NaN/inf; use a checkpoint "
            "saved before training diverged (or retrain with a lower --lr), or fix the input")


def _pick(result: object, output: Output) -> tuple[object, str]:
    if isinstance(result, Tensor):
        if output not in (None, 0):
            raise CamvizError(f"output={output!r} was given but the model returns one tensor; "
                              f"drop output=")
        return result, ""
    if isinstance(result, Mapping):
        key = "logits" if output is None else output
        if key not in result:
            raise CamvizError(f"the model returns a {type(result).__name__} without key {key!r} "
                              f"(keys: {', '.join(map(repr, result))}); {OUTPUT_HINT}")
        return result[key], f"[{key!r}]"
    if isinstance(result, Sequence) and not isinstance(result, str):
        index = 0 if output is None else output
        if not isinstance(index, int) or not -len(result) <= index < len(result):
            raise CamvizError(f"output={output!r} does not index the model's "
                              f"{type(result).__name__} of {len(result)} elements; {OUTPUT_HINT}")
        return result[index], f"[{index}]"
    name = "logits" if output is None else output
    if isinstance(name, str) and hasattr(result, name):
        return getattr(result, name), f".{name}"
    raise CamvizError(f"the model returns a {type(result).__name__} with no {name!r}; "
                      f"{OUTPUT_HINT}")
