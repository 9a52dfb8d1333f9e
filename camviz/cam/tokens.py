"""Layer outputs that are not (N, C, h, w): transformer tokens and channels-last maps.

A CAM method needs a map ``A`` of shape (N, C, h, w). Vision transformers give (N, L, D):
``P`` prefix tokens (CLS, distillation, register tokens) followed by ``h*w`` patch tokens in
row-major order; Swin-style models give channels-last (N, h, w, C). A :class:`Layout` turns
such an output into (N, C, h, w) by pure rearrangement (drop the prefix, reshape, permute).
Because the rearrangement is linear, the gradient at the map is the same rearrangement of
the gradient at the raw output, so the engine differentiates the raw output once and applies
the layout to both (as pytorch-grad-cam applies ``reshape_transform`` to both).

The grid comes from the input's (H, W) and the model's patch size when it has one
(``model.patch_size``, ``model.patch_embed.patch_size`` or ``model.config.patch_size``, else
the first convolution with ``kernel_size == stride > 1``): ``h = H / p``, ``w = W / p``
(rounded either way, for padding models) and ``P = L - h*w``. Otherwise, or when that does
not fit (later Swin stages have a coarser grid), the smallest ``P`` for which ``L - P``
factors into a grid tiling the input at one integer stride is taken (failing that, one
covering it with each side rounded either way).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from camviz.errors import CamvizError

MAX_PREFIX = 16  # CLS + distillation + up to 14 register tokens
Reshape = Callable[[Tensor], Tensor]
RESHAPE_HINT = ("pass reshape=fn turning the (N, ...) layer output into (N, C, h, w), as "
                "pytorch-grad-cam's reshape_transform")


@dataclass(frozen=True)
class Layout:
    """How a layer's raw output maps to (N, C, h, w); applies to any leading batch size.

    ``kind`` is ``"nchw"`` (as is), ``"nhwc"`` (channels last), ``"tokens"`` (``prefix``
    tokens dropped, the rest an ``h`` x ``w`` grid) or ``"custom"`` (the user's ``reshape``).
    """

    kind: str
    prefix: int = 0
    h: int = 0
    w: int = 0
    reshape: Reshape | None = None

    def __call__(self, t: Tensor) -> Tensor:
        if self.kind == "nchw":
            return t
        if self.kind == "nhwc":
            return t.permute(0, 3, 1, 2)
        if self.kind == "tokens":
            n, _, d = t.shape
            return t[:, self.prefix:].reshape(n, self.h, self.w, d).permute(0, 3, 1, 2)
        out = self.reshape(t)
        if not isinstance(out, Tensor) or out.dim() != 4:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise CamvizError(f"reshape returned {got} for an input of shape {tuple(t.shape)}; "
                              f"it must return (N, C, h, w)")
        return out

    def describe(self) -> str:
        if self.kind == "tokens":
            return f"{self.prefix} prefix token(s) dropped, {self.h}x{self.w} patch grid"
        return {"nchw": "(N, C, h, w)", "nhwc": "channels last (N, h, w, C)",
                "custom": "reshape= callable"}[self.kind]


NCHW = Layout("nchw")


def _fits(h: int, w: int, height: int, width: int) -> bool:
    """Whether an h x w grid covers an H x W image at one stride (each side rounded either way)."""
    if h < 1 or w < 1 or h > height or w > width:
        return False
    lo = max(height / (h + 1), width / (w + 1))
    hi = min(height / (h - 1) if h > 1 else math.inf, width / (w - 1) if w > 1 else math.inf)
    return lo < hi


def _exact(h: int, w: int, height: int, width: int) -> bool:
    """Whether an h x w grid tiles an H x W image at one integer stride."""
    return height % h == 0 and width % w == 0 and height // h == width // w


def patch_size(model: nn.Module) -> int | None:
    """The model's patch size: a ``patch_size`` attribute, else the first patchifying conv."""
    for owner in (model, getattr(model, "patch_embed", None), getattr(model, "config", None)):
        p = getattr(owner, "patch_size", None) if owner is not None else None
        if isinstance(p, int) and p > 1:
            return p
        if isinstance(p, (tuple, list)) and len(p) == 2 and p[0] == p[1] and int(p[0]) > 1:
            return int(p[0])
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == m.stride and m.stride[0] == m.stride[1] > 1:
            return int(m.stride[0])
    return None


class LayoutFinder:
    """Decides the :class:`Layout` of layer outputs for images of size ``image_size``."""

    def __init__(self, model: nn.Module, image_size: tuple[int, int],
                 reshape: Reshape | None = None) -> None:
        if reshape is not None and not callable(reshape):
            raise CamvizError(f"reshape must be a callable, got {type(reshape).__name__}; "
                              f"{RESHAPE_HINT}")
        self.height, self.width = (int(s) for s in image_size)
        self.reshape = reshape
        self.patch = patch_size(model) if reshape is None else None
        self._by_length: dict[int, Layout | None] = {}  # every block of a ViT asks again

    def find(self, output: object) -> Layout | None:
        """The layout of ``output``, or None if it is not a spatial map of the image."""
        if not isinstance(output, Tensor) or not output.is_floating_point():
            return None
        if self.reshape is not None:
            return Layout("custom", reshape=self.reshape) if output.dim() >= 3 else None
        if output.dim() == 4:
            _, a, b, c = output.shape
            if (a * b > 1 and _fits(a, b, self.height, self.width)
                    and not _fits(b, c, self.height, self.width)):
                return Layout("nhwc")
            return NCHW if b * c > 1 else None  # NCHW wins every tie: CNNs are unchanged
        if output.dim() == 3:
            length = int(output.shape[1])
            if length not in self._by_length:
                self._by_length[length] = self._tokens(length)
            return self._by_length[length]
        return None

    def _tokens(self, length: int) -> Layout | None:
        if self.patch:
            for h in {self.height // self.patch, -(-self.height // self.patch)}:
                for w in {self.width // self.patch, -(-self.width // self.patch)}:
                    if h * w > 1 and 0 <= length - h * w <= MAX_PREFIX:
                        return Layout("tokens", length - h * w, h, w)
        height, width = self.height, self.width
        for fits in (_exact, _fits):  # a grid that tiles the image exactly beats a rounded one
            for prefix in range(min(MAX_PREFIX, length - 2) + 1):
                grids = [(h, (length - prefix) // h) for h in range(1, length - prefix + 1)
                         if (length - prefix) % h == 0]
                fitting = [(h, w) for h, w in grids if h * w > 1 and fits(h, w, height, width)]
                if fitting:
                    ratio = height / width
                    h, w = min(fitting, key=lambda g: abs(math.log(g[0] / g[1] / ratio)))
                    return Layout("tokens", prefix, h, w)
        return None

    def require(self, name: str, output: object) -> Layout:
        """:meth:`find`, or a one-line error naming the layer, its output and the fix."""
        layout = self.find(output)
        if layout is None:
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise CamvizError(
                f"layer '{name}' has no spatial output for a {self.height}x{self.width} input "
                f"(got {shape}); CAM methods need (N, C, h, w), channels-last (N, h, w, C) or "
                f"transformer tokens (N, L, D) on a patch grid: pick such a layer ("
                f"`camviz layers --model <model>` lists them) or {RESHAPE_HINT}")
        return layout
