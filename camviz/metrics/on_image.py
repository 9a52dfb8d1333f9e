"""Faithfulness of the maps of one image, for the app: should this map be trusted?

For one :class:`~camviz.explainer.ImageExplanation` at one layer: the deletion and
insertion curves (with their AUCs) of every map shown and of a random map (the floor a map
must beat), and the cascading-randomisation sanity check of each method at that layer
(Adebayo et al., NeurIPS 2018: a map that barely changes once the explained layer's weights
are re-drawn does not depend on what the model learnt). The same metrics as
``camviz evaluate-cam``, on one image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image

from camviz.cam import explain
from camviz.explainer import ImageExplanation
from camviz.handle import LoadedModel, preprocess
from camviz.metrics import faithfulness as faith
from camviz.metrics import sanity as sanity_check
from camviz.metrics.reference import reference_maps

RANDOM = "random"


@dataclass
class ImageFaithfulness:
    """Curves and AUCs per map (each method, and ``random``); sanity per method."""

    layer: str
    target: str
    steps: int
    curves: dict[str, dict[str, list[float]]]    # who -> {"deletion": [...], "insertion": [...]}
    auc: dict[str, dict[str, float]]             # who -> {"deletion": a, "insertion": b}
    sanity: dict[str, float] = field(default_factory=dict)   # method -> Spearman rho
    sanity_step: str | None = None               # the randomised block the rho is taken at
    threshold: float = sanity_check.SANITY_THRESHOLD

    def flagged(self, method: str) -> bool:
        return self.sanity.get(method, -1.0) > self.threshold


def image_faithfulness(loaded: LoadedModel, r: ImageExplanation, layer: str | None = None, *,
                       steps: int = 20, seed: int = 0, check_sanity: bool = True,
                       ) -> ImageFaithfulness:
    """Deletion (to the training-mean colour) and insertion (into a blur) curves of the first
    explained class's maps at ``layer`` (default: the first), a seeded random map's, and each
    method's sanity correlation."""
    layer = layer or r.layers[0]
    model = loaded.model
    x = preprocess([Image.fromarray(r.model_input)], loaded)
    y = torch.tensor([r.targets[0]], device=x.device)
    size = x.shape[-2:]
    maps = {m: torch.from_numpy(r.maps[(layer, m)][:1]).to(x.device) for m in r.methods}
    maps[RANDOM] = reference_maps(RANDOM, 1, size[0], size[1], seed=seed, device=x.device)
    curves, auc = {}, {}
    for who, m in maps.items():
        dele = faith.deletion_curve(model, x, m, y, steps=steps, baseline="zeros")
        ins = faith.insertion_curve(model, x, m, y, steps=steps, baseline="blur")
        curves[who] = {"deletion": dele[0].tolist(), "insertion": ins[0].tolist()}
        auc[who] = {"deletion": float(faith.curve_auc(dele)[0]),
                    "insertion": float(faith.curve_auc(ins)[0])}
    out = ImageFaithfulness(layer, r.target_names[0], steps, curves, auc)
    if check_sanity:
        steps_ = sanity_check.randomization_steps(model, loaded.classifier)
        k = sanity_check.flag_step(model, steps_, layer)
        for i, randomized in sanity_check.cascading_randomization(model, steps_, seed=seed):
            if i < k:
                continue
            fc = loaded.classifier if "cam" in r.methods else None
            again = explain(randomized, x, layer=layer, methods=tuple(r.methods), targets=y,
                            classifier=fc, skip_inapplicable=True)
            out.sanity = {m: float(sanity_check.spearman(maps[m], again.maps[m])[0])
                          for m in r.methods if m in again.maps}
            out.sanity_step = steps_[k].name
            break
    return out
