"""Offscreen pictures of a run: textured reconstructions, input clouds, correspondences."""
