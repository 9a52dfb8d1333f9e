"""Scoped access to a model's layer outputs: hooks exist only inside a ``with``.

:func:`capture` records, for one forward of the calling thread, the output ``A`` of each
chosen layer as a tensor that requires grad, and hands the rest of the network a *copy*
of it. A later in-place op (``out += identity`` in a ResNet block, ``F.relu(x, inplace=True)``
after DenseNet's ``features``) therefore changes only the copy, while ``d score / d A``
still flows through the copy back to ``A``. :func:`frozen` puts the model in eval mode with
parameters not requiring grad, so a backward from the scores stops at the first captured
layer and never writes ``.grad``.

Both are safe when several threads share one model: hooks act only for the thread that
registered them, hook handles are allocated under a lock, and the frozen state is
reference-counted so that the last thread to leave restores what the first one saw.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from camviz.cam.tokens import NCHW, Layout, LayoutFinder
from camviz.errors import CamvizError, unknown

LayerSpec = str | nn.Module
LAYERS_HINT = "run `camviz layers --model <model>` to list them"

# torch allocates hook ids with an unlocked `next_id += 1`; two threads registering at the
# same moment could get the same id and later remove each other's hook.
_HOOK_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------
# frozen: eval mode and no parameter gradients, restored exactly
# ---------------------------------------------------------------------------------------

@dataclass
class _Saved:
    users: int
    training: list[nn.Module]            # modules that were in training mode
    requires_grad: list[nn.Parameter]    # parameters that required grad


_FREEZE_LOCK = threading.Lock()
_FROZEN: weakref.WeakKeyDictionary[nn.Module, _Saved] = weakref.WeakKeyDictionary()


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Run the body with ``model`` in eval mode and no parameter requiring grad.

    On exit every module's ``training`` flag and every parameter's ``requires_grad`` are
    restored exactly. Concurrent users of one model share a reference count: the first
    saves the state, the last restores it (a per-call save would let thread B record the
    state thread A had just changed).
    """
    with _FREEZE_LOCK:
        saved = _FROZEN.get(model)
        if saved is None:
            saved = _Saved(users=0,
                           training=[m for m in model.modules() if m.training],
                           requires_grad=[p for p in model.parameters() if p.requires_grad])
            _FROZEN[model] = saved
            for m in saved.training:
                m.training = False
            for p in saved.requires_grad:
                p.requires_grad_(False)
        saved.users += 1
    try:
        yield model
    finally:
        with _FREEZE_LOCK:
            saved.users -= 1
            if saved.users == 0:
                for m in saved.training:
                    m.training = True
                for p in saved.requires_grad:
                    p.requires_grad_(True)
                del _FROZEN[model]


# ---------------------------------------------------------------------------------------
# layer names
# ---------------------------------------------------------------------------------------

def resolve_layers(model: nn.Module, layers: LayerSpec | Sequence[LayerSpec]) -> dict[str, nn.Module]:
    """Map layer names or modules to ``{name: module}``, in the order given.

    A misspelt name raises :class:`~camviz.errors.UnknownNameError` with close matches.
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    named = dict(model.named_modules())
    del named[""]  # the model itself outputs logits, never a spatial map
    by_id = {id(m): n for n, m in named.items()}
    out: dict[str, nn.Module] = {}
    for spec in layers:
        if isinstance(spec, str):
            if spec not in named:
                raise unknown("layer", spec, named, LAYERS_HINT)
            out[spec] = named[spec]
        elif isinstance(spec, nn.Module):
            name = by_id.get(id(spec))
            if name is None:
                raise CamvizError(
                    f"layer {type(spec).__name__} is not a submodule of the model; "
                    f"pass one of its submodules or a name ({LAYERS_HINT})")
            out[name] = spec
        else:
            raise CamvizError(
                f"layer must be a name or an nn.Module, got {type(spec).__name__}")
    if not out:
        raise CamvizError(f"no layer given; pass a layer name ({LAYERS_HINT})")
    return out


def is_spatial(t: object) -> bool:
    """A 4-D (N, C, h, w) tensor with more than one spatial position."""
    return isinstance(t, Tensor) and t.dim() == 4 and t.shape[2] * t.shape[3] > 1


def is_attention(module: nn.Module) -> bool:
    """A token-mixing attention module (torch's, timm's, Hugging Face's, torchvision Swin's)."""
    return isinstance(module, nn.MultiheadAttention) or type(module).__name__.endswith("Attention")


def _shares_storage(output: Tensor, inputs: tuple) -> bool:
    ptr = output.untyped_storage().data_ptr()
    return any(isinstance(i, Tensor) and i.untyped_storage().data_ptr() == ptr for i in inputs)


# ---------------------------------------------------------------------------------------
# capture
# ---------------------------------------------------------------------------------------

@dataclass
class Capture:
    """Layer outputs recorded by :func:`capture` during the forward of the owning thread.

    ``activations[name]`` is the layer's output ``A`` (requires grad; the network downstream
    was computed from a copy of it, so ``torch.autograd.grad(score, A)`` is the gradient at
    that layer and later in-place ops left ``A`` intact). With ``layers=None`` the single
    entry is the last module whose output was a spatial 4-D tensor. ``layouts[name]`` turns
    the raw output (and its gradient) into (N, C, h, w) (:mod:`camviz.cam.tokens`).
    """

    activations: dict[str, Tensor] = field(default_factory=dict)
    layouts: dict[str, Layout] = field(default_factory=dict)  # raw output -> (N, C, h, w)
    attention_input: str | None = None  # default mode: the candidate fed to the last attention
    handed: dict[str, tuple[Tensor, int]] = field(default_factory=dict)  # copy given on, version

    def modified_in_place(self) -> list[str]:
        """Layers whose output the model changed in place after the hook (the copy we handed
        on was modified; the captured output was not)."""
        return [n for n, (t, v) in self.handed.items() if n in self.activations and t._version != v]

    @property
    def layers(self) -> list[str]:
        return list(self.activations)


def _keep(output: Tensor, inputs: tuple) -> Tensor:
    """The tensor to remember for a layer output: grad-connected, not aliased to its input."""
    kept = output
    if _shares_storage(output, inputs):  # an in-place module: the caller still holds it
        kept = output.clone()
    if not kept.requires_grad:  # first captured layer: start the graph here
        kept = kept.detach().requires_grad_(True)
    return kept


@contextmanager
def capture(model: nn.Module, layers: LayerSpec | Sequence[LayerSpec] | None = None,
            finder: LayoutFinder | None = None) -> Iterator[Capture]:
    """Record layer outputs during forwards run inside the ``with`` by this thread.

    ``layers`` are names or submodules; ``None`` selects the last module whose output is a
    spatial 4-D tensor, found during the same forward. A chosen layer whose output is not a
    spatial (N, C, h, w) tensor raises :class:`~camviz.errors.CamvizError` from the forward.
    With a ``finder`` (built from the input's size), transformer tokens (N, L, D) and
    channels-last (N, h, w, C) outputs count as spatial too; in default mode the producer of
    the last attention module's input is also noted (``attention_input``), since the patch
    tokens of a class-token model stop reaching the logits after the last attention.
    Every hook is removed on exit, also when the body raises. For the graph to start at
    the captured layer (and not at the parameters) use it inside :func:`frozen`.
    """
    cap = Capture()
    owner = threading.get_ident()
    handles = []

    def named_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object):
            if threading.get_ident() != owner:
                return None
            if finder is not None:
                cap.layouts[name] = finder.require(name, output)
            elif not is_spatial(output):
                shape = (tuple(output.shape) if isinstance(output, Tensor)
                         else type(output).__name__)
                raise CamvizError(
                    f"layer '{name}' has no spatial output (got {shape}); CAM methods need a "
                    f"layer whose output is (N, C, h, w) with h*w > 1, such as the last "
                    f"convolutional block ({LAYERS_HINT})")
            else:
                cap.layouts[name] = NCHW
            kept = _keep(output, inputs)
            cap.activations[name] = kept  # a module called twice keeps its last call
            returned = kept.clone()  # downstream (and its in-place ops) works on the copy
            cap.handed[name] = (returned, returned._version)
            return returned
        return hook

    # Default layer: every spatial output starts a fresh graph (detach + copy), so only the
    # latest candidate's graph reaches the logits and earlier ones are freed as we go.
    last: dict[str, object] = {}

    def default_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object):
            if threading.get_ident() != owner:
                return None
            layout = (NCHW if is_spatial(output) else None) if finder is None else finder.find(output)
            if layout is None:
                return None
            cap.layouts = {name: layout}
            if output is last.get("returned") and output._version == last["version"]:
                # A container handing on its last child's output untouched: same values.
                kept = last["kept"]
                cap.activations = {name: kept}
                cap.handed = {name: (output, last["version"])}
                last["name"] = name
                return None
            kept = _keep(output.detach(), inputs)
            returned = kept.clone()
            last.update(kept=kept, returned=returned, version=returned._version, name=name)
            cap.activations = {name: kept}
            cap.handed = {name: (returned, returned._version)}
            return returned
        return hook

    def attention_hook(module: nn.Module, args: tuple):
        if threading.get_ident() == owner and args and args[0] is last.get("returned"):
            cap.attention_input = last["name"]

    if layers is None:
        targets = {n: m for n, m in model.named_modules() if n}
        make = default_hook
    else:
        targets = resolve_layers(model, layers)
        make = named_hook
    try:
        with _HOOK_LOCK:
            for name, module in targets.items():
                handles.append(module.register_forward_hook(make(name)))
            if layers is None and finder is not None:
                handles += [m.register_forward_pre_hook(attention_hook)
                            for m in model.modules() if is_attention(m)]
        yield cap
    finally:
        with _HOOK_LOCK:
            for h in handles:
                h.remove()


@contextmanager
def replace_output(module: nn.Module, value: dict[str, Tensor]) -> Iterator[None]:
    """Inside the ``with``, ``module`` returns ``value["output"]`` (for this thread only).

    Used to evaluate the network above a layer as a function of that layer's output.
    """
    owner = threading.get_ident()

    def hook(mod: nn.Module, inputs: tuple, output: object):
        return value["output"] if threading.get_ident() == owner else None

    with _HOOK_LOCK:
        handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        with _HOOK_LOCK:
            handle.remove()


@contextmanager
def module_outputs(model: nn.Module, fn: Callable[[str, nn.Module, tuple, object], None], *,
                   leaves_only: bool = False) -> Iterator[None]:
    """Inside the ``with``, ``fn(name, module, inputs, output)`` is called after the forward
    of each named module (only the leaves with ``leaves_only``), for the calling thread's
    forwards only; the hooks are removed on exit, also after an exception. The one path for
    reading every layer's output (shapes, layer tables, operation counts)."""
    owner = threading.get_ident()
    handles = []

    def make(name: str):
        def hook(module, inputs, output):
            if threading.get_ident() == owner:
                fn(name, module, inputs, output)
        return hook

    try:
        with _HOOK_LOCK:
            for name, module in model.named_modules():
                if name and not (leaves_only and next(module.children(), None) is not None):
                    handles.append(module.register_forward_hook(make(name)))
        yield
    finally:
        with _HOOK_LOCK:
            for h in handles:
                h.remove()


def layer_shapes(model: nn.Module, images: Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape of every module whose output is a spatial 4-D tensor, in forward order.

    Runs one forward without gradients (in eval mode, restored afterwards); useful to list
    the layers a CAM can be computed on.
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str, _module: nn.Module, _inputs: tuple, output: object) -> None:
        if is_spatial(output):
            shapes.setdefault(name, tuple(output.shape))

    with frozen(model), module_outputs(model, record), torch.no_grad():
        model(images)
    return shapes
