"""Is the map right? Localisation, faithfulness and sanity metrics for CAM methods.

:func:`evaluate_cam` scores methods and layers of a model on a data set; the metric
functions themselves are pure tensor functions in :mod:`~camviz.metrics.localization`,
:mod:`~camviz.metrics.faithfulness` and :mod:`~camviz.metrics.sanity`.
"""

from camviz.metrics.cam_scores import GROUND_TRUTH, CamEvaluation, EvalSettings, evaluate_cam
from camviz.metrics.catalog import METRICS, MetricSpec
from camviz.metrics.faithfulness import (
    BASELINES,
    average_drop,
    confidence_change,
    curve_auc,
    deletion_curve,
    increase_in_confidence,
    insertion_curve,
)
from camviz.metrics.localization import energy_pointing_game, mask_iou, pointing_game
from camviz.metrics.reference import REFERENCE_MAPS, center_maps, random_maps, reference_maps
from camviz.metrics.sanity import (
    cascading_randomization,
    flag_step,
    randomization_steps,
    spearman,
)

__all__ = [
    "BASELINES", "GROUND_TRUTH", "METRICS", "REFERENCE_MAPS", "CamEvaluation", "EvalSettings",
    "MetricSpec", "average_drop", "cascading_randomization", "center_maps", "confidence_change",
    "curve_auc", "deletion_curve", "energy_pointing_game", "evaluate_cam", "flag_step",
    "increase_in_confidence", "insertion_curve", "mask_iou", "pointing_game", "random_maps",
    "randomization_steps", "reference_maps", "spearman",
]
