"""The paper's evaluation: metrics on arrays, evaluation-time sampling, the pair protocol, reports."""

from catlas.evaluate.drift import ErrorSplit, split_pair_error
from catlas.evaluate.gt import load_gt, load_gt_faces
from catlas.evaluate.gt_atlas import evaluate_gt_atlas, gt_atlas_points
from catlas.evaluate.nearest import evaluate_nearest, nearest_vertex_map
from catlas.evaluate.protocol import EvalResult, EvalSettings, evaluate, sample_frame_pairs
from catlas.evaluate.sampling import SurfaceSamples, collapsed_patches, kept_patches

__all__ = ["ErrorSplit", "EvalResult", "EvalSettings", "SurfaceSamples", "collapsed_patches", "evaluate",
           "evaluate_gt_atlas", "evaluate_nearest", "gt_atlas_points", "kept_patches", "load_gt",
           "load_gt_faces", "nearest_vertex_map", "sample_frame_pairs", "split_pair_error"]
