"""Data layer: reading frames, surface sampling, normalised sequences, built-in examples."""

from catlas.data.io import Frame, list_frames, read_array_sequence, read_frame
from catlas.data.sampling import points_from_provenance, sample_surface
from catlas.data.sequence import Sequence, load_sequence
from catlas.data.synthetic import make_bending_sheet, make_humanoid, make_walking_creature, write_example

__all__ = [
    "Frame", "Sequence", "list_frames", "load_sequence", "make_bending_sheet", "make_humanoid",
    "make_walking_creature", "points_from_provenance", "read_array_sequence", "read_frame",
    "sample_surface", "write_example",
]
