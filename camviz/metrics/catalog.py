"""The metrics `camviz evaluate-cam` reports: one registry, read by the CLI, docs and tests."""

from __future__ import annotations

from dataclasses import dataclass

from camviz.registry import Registry


@dataclass(frozen=True)
class MetricSpec:
    """A reported metric: its family (what has to be computed for it) and its direction."""

    name: str
    family: str                # "localization" (needs masks) | "faithfulness" | "sanity"
    title: str                 # column header
    higher_is_better: bool
    paper: str

    @property
    def needs_masks(self) -> bool:
        return self.family == "localization"


METRICS: Registry[MetricSpec] = Registry(
    "metric", hint="`camviz evaluate-cam --help` describes them")

for _spec in (
    MetricSpec("pointing_game", "localization", "point", True, "Zhang et al., ECCV 2016"),
    MetricSpec("energy_pointing_game", "localization", "energy", True, "Wang et al., CVPR-W 2020"),
    MetricSpec("iou", "localization", "IoU", True, "Zhou et al., CVPR 2016"),
    MetricSpec("deletion_auc", "faithfulness", "del", False, "Petsiuk et al., BMVC 2018"),
    MetricSpec("insertion_auc", "faithfulness", "ins", True, "Petsiuk et al., BMVC 2018"),
    MetricSpec("average_drop", "faithfulness", "drop", False, "Chattopadhyay et al., WACV 2018"),
    MetricSpec("increase_in_confidence", "faithfulness", "incr", True,
               "Chattopadhyay et al., WACV 2018"),
    MetricSpec("sanity_spearman", "sanity", "sanity", False, "Adebayo et al., NeurIPS 2018"),
):
    METRICS.register(_spec.name, _spec)
