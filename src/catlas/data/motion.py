"""Does a sequence move as a whole? (The hint ``catlas fit`` prints for global motion.)

catlas normalises every frame with frame 0's centre and size, so an object that walks off or
turns around leaves the network to fit that motion on top of the deformation.
:func:`global_motion` measures two things on the frames' stored clouds:

* travel: the largest distance of a frame's centroid from frame 0's, in body lengths (the longest
  side of frame 0's bounding box);
* turn: the largest angle between a principal axis of frame 0 and the nearest eigenspace of a
  frame's covariance (frame 0's axes count only when their variance differs from the other two
  by a factor of at least :data:`AXIS_SEPARATION`, else they are not well defined; in a frame,
  axes whose variances are closer than that make one eigenspace, a plane). Signs and the order of
  the axes are ignored, because deformation alone can swap two axes (the humanoid's swinging
  limbs swap its front-back and side axes), so a turn about one principal axis by a degrees reads
  min(a, 90 - a): a steady turn is seen on its way through 45 degrees, a sudden quarter turn is
  not.

:func:`global_motion_warning` turns them into one line when travel exceeds :data:`TRAVEL_LIMIT`
or turn exceeds :data:`TURN_LIMIT_DEG`. Measured (4,000 surface points per frame): the clean
creature, humanoid (seeds 0-5), sheet and cat_walk travel at most 0.15 body lengths (the sheet;
the others 0.025) and turn at most 21 degrees (humanoid; the others 6); their ``catlas degrade
--kind motion`` copies travel 1.0-1.2 and, but for the humanoid (a nearly round cross-section,
so a turn about its up axis hardly shows), turn 44-50 degrees. A 30 % ``holes`` cut moves the
centroid by 0.17-0.35 body lengths, so such sequences draw the hint too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAVEL_LIMIT = 0.25
"""Body lengths a frame's centroid may move from frame 0's before the hint."""
TURN_LIMIT_DEG = 30.0
"""Degrees a well-defined principal axis may turn from frame 0's before the hint."""
AXIS_SEPARATION = 2.0
"""Ratio of variances that makes a principal axis well defined (see the module docstring)."""


def remedy(travels: bool, turns: bool, center_frames: bool = False, align_frames: bool = False) -> str:
    """The setting the hint names for what was found: ``data.align_frames=true`` against a turn
    (each frame centred and turned back to frame 0's orientation; it removes the travel too),
    ``data.center_frames=true`` against travel alone (docs/results.md: the measurements); one
    already on is not named again."""
    against = " and ".join(w for w, found in (("the travel", travels), ("the turn", turns)) if found)
    if align_frames or (center_frames and not turns):
        return "the settings for it are on already"
    if turns:
        return (f"consider data.align_frames=true (each frame centred and turned back to frame 0's "
                f"orientation) against {against}")
    return f"consider data.center_frames=true (per-frame centring) against {against}"


@dataclass
class GlobalMotion:
    """What :func:`global_motion` measured."""

    travel: float
    """Largest centroid distance from frame 0's, in body lengths."""
    travel_frame: int
    turn_deg: float
    """Largest angle of a well-defined principal axis of frame 0 from the nearest eigenspace of a
    frame, degrees (0 to 45 for a turn about one principal axis; at most about 55)."""
    turn_frame: int


def _axes(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal variances (3,) ascending and axes (3, 3) as columns of the points ``p`` (N, 3)."""
    x = p - p.mean(axis=0)
    return np.linalg.eigh(x.T @ x / len(x))


def _separated(w: np.ndarray) -> np.ndarray:
    """(3,) bool: variances at least AXIS_SEPARATION x from both others (w ascending, >= 0)."""
    w = np.maximum(w, 1e-300)
    gaps = np.array([w[1] / w[0], w[2] / w[1]])
    return np.array([gaps[0], min(gaps), gaps[1]]) >= AXIS_SEPARATION


def _turn(axes0: np.ndarray, w: np.ndarray, e: np.ndarray) -> float:
    """Degrees: the largest angle of an axis of ``axes0`` (3, n) from the nearest eigenspace of a
    frame with variances ``w`` (3,) ascending and axes ``e`` (3, 3) (variances within
    AXIS_SEPARATION of each other make one eigenspace: a plane, or all of space)."""
    w = np.maximum(w, 1e-300)
    groups, cur = [], [0]
    for j in (1, 2):
        if w[j] / w[j - 1] < AXIS_SEPARATION:
            cur.append(j)
        else:
            groups.append(cur)
            cur = [j]
    groups.append(cur)
    # |projection| of each axis onto each eigenspace; the nearest eigenspace has the largest
    cos = np.stack([np.linalg.norm(e[:, g].T @ axes0, axis=0) for g in groups]).max(axis=0)
    return float(np.degrees(np.arccos(cos.clip(0.0, 1.0).min())))


def global_motion(points) -> GlobalMotion:
    """Travel and turn (module docstring) of ``points``: K frames (N_k, 3) in any one unit (an
    array (K, N, 3) or a list of arrays; point clouds or vertices)."""
    frames = [np.asarray(p, np.float64) for p in points]
    p0 = frames[0]
    size = float((p0.max(axis=0) - p0.min(axis=0)).max())
    c0 = p0.mean(axis=0)
    w0, e0 = _axes(p0)
    s0 = _separated(w0)
    travel, travel_k, turn, turn_k = 0.0, 0, 0.0, 0
    for k, p in enumerate(frames[1:], start=1):
        d = float(np.linalg.norm(p.mean(axis=0) - c0)) / max(size, 1e-300)
        if d > travel:
            travel, travel_k = d, k
        if s0.any():
            a = _turn(e0[:, s0], *_axes(p))
            if a > turn:
                turn, turn_k = a, k
    return GlobalMotion(travel, travel_k, turn, turn_k)


def global_motion_warning(points, where: str = "the input", center_frames: bool = False,
                          align_frames: bool = False) -> str | None:
    """One line when ``points`` (as for :func:`global_motion`) look like they need a remedy for
    global motion (travel > TRAVEL_LIMIT or turn > TURN_LIMIT_DEG), ending in :func:`remedy`
    given the fit's ``data.center_frames`` and ``data.align_frames``; None otherwise."""
    m = global_motion(points)
    found = []
    if m.travel > TRAVEL_LIMIT:
        found.append(f"its centroid travels {m.travel:.2f} body lengths (frame {m.travel_frame})")
    if m.turn_deg > TURN_LIMIT_DEG:
        found.append(f"it turns {m.turn_deg:.0f} degrees (frame {m.turn_frame})")
    if not found:
        return None
    return (f"{where} looks like it moves as a whole: {' and '.join(found)} from frame 0; "
            f"the atlas has to fit that motion too; "
            f"{remedy(m.travel > TRAVEL_LIMIT, m.turn_deg > TURN_LIMIT_DEG, center_frames, align_frames)}")


ALIGN_POINTS = 2000
"""Points per frame (evenly spread over the stored order) that the frame-to-frame ICP uses."""
ALIGN_KEEP = 0.7
"""Fraction of the nearest-point matches, the closest, that each ICP iteration fits the rotation
to: limbs that swing between frames make the farthest matches, and fitting them too turns the
whole body after them."""
ALIGN_ITERATIONS = 30


def frame_rotations(points) -> np.ndarray:
    """``(K, 3, 3)`` float64 rotations R_k that turn each frame back to frame 0's orientation
    (``data.align_frames``): frame k's points ``p`` (N_k, 3), centred on their own centroid, map to
    ``p @ R_k``; R_0 = I. Each R_k is a trimmed rigid ICP (rotation about the centroid only) of
    frame k onto frame k - 1 already turned back, started from R_{k-1}, so that each ICP only has
    to find one frame's turn; each iteration fits the rotation (trimesh's procrustes, no
    reflection, translation or scale) to the :data:`ALIGN_KEEP` closest nearest-point matches.
    A chain: a small error per frame adds up over the sequence.

    points: K frames (N_k, 3) in any one unit, each centred on its own centroid."""
    from scipy.spatial import cKDTree
    from trimesh.registration import procrustes

    frames = [np.asarray(p, np.float64) for p in points]
    subsets = [p[np.linspace(0, len(p) - 1, min(len(p), ALIGN_POINTS)).astype(np.int64)] for p in frames]
    rotations = np.tile(np.eye(3), (len(frames), 1, 1))
    for k in range(1, len(frames)):
        # trimesh.registration.icp fits every match; the trimmed fit is why this loop is ours
        tree = cKDTree(subsets[k - 1] @ rotations[k - 1])
        r = rotations[k - 1]
        for _ in range(ALIGN_ITERATIONS):
            dist, nearest = tree.query(subsets[k] @ r)
            keep = dist <= np.quantile(dist, ALIGN_KEEP)
            m = procrustes(subsets[k][keep], tree.data[nearest[keep]], reflection=False,
                           translation=False, scale=False, return_cost=False)
            new = m[:3, :3].T  # procrustes' matrix acts on columns: x -> M x
            done = np.abs(new - r).max() < 1e-7
            r = new
            if done:
                break
        rotations[k] = r
    return rotations
