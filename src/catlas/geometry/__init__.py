"""Differential geometry of the patches and UV-domain sampling."""

from catlas.geometry.metric import area_element, det_metric, first_fundamental_form
from catlas.geometry.uv import (
    even_uv,
    grid_faces,
    grid_uv,
    patch_tiles,
    random_uv,
    to_texture_uv,
)

__all__ = [
    "area_element",
    "det_metric",
    "first_fundamental_form",
    "even_uv",
    "grid_faces",
    "grid_uv",
    "patch_tiles",
    "random_uv",
    "to_texture_uv",
]
