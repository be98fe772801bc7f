"""The paper's evaluation: metrics on arrays, the pair protocol, reports (the surface samples it
scores are :mod:`catlas.surface`'s)."""

from catlas.evaluate.drift import ErrorSplit, split_pair_error
from catlas.evaluate.gt import load_gt, load_gt_faces
from catlas.evaluate.gt_atlas import evaluate_gt_atlas, gt_atlas_points
from catlas.evaluate.nearest import evaluate_nearest, nearest_vertex_map
from catlas.evaluate.protocol import EvalResult, EvalSettings, evaluate, sample_frame_pairs

__all__ = ["ErrorSplit", "EvalResult", "EvalSettings", "evaluate",
           "evaluate_gt_atlas", "evaluate_nearest", "gt_atlas_points", "load_gt",
           "load_gt_faces", "nearest_vertex_map", "sample_frame_pairs", "split_pair_error"]
