"""Score-CAM: channel weights from the score of the image masked by each channel."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from camviz.cam.methods import LayerInputs, register_method, weighted_map
from camviz.errors import CamvizError


def scorecam_masks(activations: Tensor, size: tuple[int, int]) -> Tensor:
    """Score-CAM masks ``H_k = s(Up(A_k))`` (Wang et al., CVPR-W 2020): each channel
    upsampled bilinearly to the input size and min-max scaled to [0, 1] (a constant
    channel gives an all-zero mask). (B, h, w) -> (B, H, W).
    """
    up = F.interpolate(activations[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    flat = up.flatten(1)
    lo, hi = flat.amin(dim=1), flat.amax(dim=1)
    span = (hi - lo).view(-1, 1, 1)
    return torch.where(span > 0, (up - lo.view(-1, 1, 1)) / span.clamp_min(1e-30),
                       torch.zeros_like(up))


def scorecam_weights(scores: Tensor) -> Tensor:
    """Score-CAM channel weights (Wang et al., CVPR-W 2020): ``w_k^c = softmax_k(Y^c(X ∘ H_k))``.

    The paper's increase of confidence ``Y^c(X ∘ H_k) - Y^c(X_b)`` differs from the score by
    a constant per map, which the softmax over channels removes. (N, K, C) -> (N, K, C).
    """
    return scores.softmax(dim=-1)


@register_method("scorecam", title="Score-CAM", paper="Wang et al., CVPR Workshops 2020",
                 needs_gradients=False, top_channels=None, batch_size=32)
def scorecam(x: LayerInputs) -> Tensor:
    """One masked forward per (image, channel); ``top_channels=T`` scores only the T
    channels of highest mean activation of each image (the others get weight 0)."""
    acts = x.activations
    n, c, h, w = acts.shape
    top, batch_size = x.options["top_channels"], int(x.options["batch_size"])
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise CamvizError(f"scorecam top_channels must be a positive int or None, got {top!r}")
    if batch_size < 1:
        raise CamvizError(f"scorecam batch_size must be >= 1, got {batch_size}")
    t = c if top is None else min(top, c)
    if t < c:
        chans = acts.mean(dim=(2, 3)).topk(t, dim=1).indices           # (N, T)
    else:
        chans = torch.arange(c, device=acts.device).expand(n, c)
    images = x.probe.images
    rows = torch.arange(n, device=acts.device).repeat_interleave(t)
    flat = chans.reshape(-1)
    scores = []
    for s in range(0, n * t, batch_size):
        r, k = rows[s:s + batch_size], flat[s:s + batch_size]
        masks = scorecam_masks(acts[r, k], tuple(images.shape[-2:]))
        scores.append(x.probe.scores(images[r] * masks[:, None], r))
    scores = torch.cat(scores).view(n, t, -1).transpose(1, 2)            # (N, K, T)
    picked = acts.gather(1, chans[:, :, None, None].expand(n, t, h, w))  # (N, T, h, w)
    return weighted_map(scorecam_weights(scores), picked)
