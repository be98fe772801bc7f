"""Training losses: Chamfer, metric consistency, DSR regularisers, surface motion, self-supervised
correspondence."""

from catlas.losses.chamfer import chamfer_distance, chamfer_distance_reference, nearest_neighbors
from catlas.losses.dsr import dsr_loss, dsr_terms
from catlas.losses.metric_consistency import cross_pair_metric_consistency, metric_consistency
from catlas.losses.ssc import random_rigid_copies, self_supervised_correspondence
from catlas.losses.surface_motion import surface_motion

__all__ = [
    "chamfer_distance",
    "cross_pair_metric_consistency",
    "chamfer_distance_reference",
    "nearest_neighbors",
    "dsr_loss",
    "dsr_terms",
    "metric_consistency",
    "random_rigid_copies",
    "self_supervised_correspondence",
    "surface_motion",
]
