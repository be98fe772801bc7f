"""The project's built-in examples: deforming surfaces with known correspondences (no downloads).

* :func:`make_walking_creature` - a quadruped (body, 4 two-segment legs, neck, head, tail) walking
  in place; legs swing about hip and knee joints with linear blend skinning, the tail sways by an
  isometric arc bend. Separate closed components, shared connectivity, about 1 unit long.
* :func:`make_humanoid` - a humanoid (torso, head, two two-segment arms, two two-segment legs)
  marching in place with large articulation: hips +-45 degrees with knee bend, arms +-65 degrees
  opposite to the legs with elbow bend, shoulders twisting +-18 degrees about y, a slight bob.
  Limbs pass each other, so the nearest-vertex map fails there (unlike on the creature).
  Separate closed components, shared connectivity, about 1 unit tall.
* :func:`make_bending_sheet` - an open rectangular sheet rolling isometrically into an arc.

Axes as in cat_walk: x right, y up, -z forward. Units are arbitrary ("about 1 = body length",
for the humanoid body height).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catlas.data.io import natural_key
from catlas.errors import CatlasError

# ---------------------------------------------------------------------------- mesh building


def _revolve(z: np.ndarray, r: np.ndarray, n_around: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed surface of revolution about +z: profile (z, r) with r > 0 inside, poles at z[0]
    and z[-1] (their r ignored). Returns local vertices (V,3) [x, y, z] and outward faces (F,3)."""
    m = len(z) - 2  # rings
    th = 2 * np.pi * np.arange(n_around) / n_around
    rings = np.stack([np.outer(r[1:-1], np.cos(th)), np.outer(r[1:-1], np.sin(th)),
                      np.repeat(z[1:-1, None], n_around, 1)], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0, 0, z[0]]], rings, [[0, 0, z[-1]]]]).astype(np.float64)
    top = len(verts) - 1
    ring = lambda i: 1 + i * n_around + np.arange(n_around)  # noqa: E731
    faces = []
    a = ring(0)
    faces.append(np.stack([np.zeros(n_around, int), np.roll(a, -1), a], 1))
    for i in range(m - 1):
        a, b = ring(i), ring(i + 1)
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        faces += [np.stack([a, a1, b1], 1), np.stack([a, b1, b], 1)]
    a = ring(m - 1)
    faces.append(np.stack([a, np.roll(a, -1), np.full(n_around, top)], 1))
    return verts, np.concatenate(faces).astype(np.int64)


def _ellipsoid_profile(n_rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere profile (z, r) from the south to the north pole."""
    phi = np.linspace(-np.pi / 2, np.pi / 2, n_rings + 2)
    return np.sin(phi), np.cos(phi)


def _capsule_profile(length: float, radius: float, n_cap: int, n_body: int) -> tuple[np.ndarray, np.ndarray]:
    """Capsule along z from -radius to length + radius (axis segment [0, length])."""
    phi = np.linspace(-np.pi / 2, 0, n_cap + 1)
    z0, r0 = radius * np.sin(phi), radius * np.cos(phi)
    zb = np.linspace(0, length, n_body + 2)[1:-1]
    z = np.concatenate([z0, zb, length - z0[::-1]])
    r = np.concatenate([r0, np.full(len(zb), radius), r0[::-1]])
    return z, r


def _frame(d: np.ndarray) -> np.ndarray:
    """Rows e1, e2, d: a right-handed orthonormal frame whose third axis is ``d``."""
    d = d / np.linalg.norm(d)
    helper = np.array([1.0, 0, 0]) if abs(d[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(helper, d)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(d, e1), d])


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix (3,3) about unit ``axis`` by ``angle`` radians (Rodrigues)."""
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _blend(x: np.ndarray, w: np.ndarray, pivot: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Linear blend skinning with one joint: (1-w) x + w (R (x - pivot) + pivot)."""
    moved = (x - pivot) @ rot.T + pivot
    return x + w[:, None] * (moved - x)


class _Part:
    """A closed component: rest vertices, faces (local indices), axial coordinate along its axis."""

    def __init__(self, z, r, n_around, origin, direction, scale_xy=(1.0, 1.0)):
        local, self.faces = _revolve(z, r, n_around)
        local[:, :2] *= scale_xy
        self.axial = local[:, 2].copy()
        self.frame = _frame(np.asarray(direction, float))
        self.origin = np.asarray(origin, float)
        self.rest = local @ self.frame + self.origin


def _joined_faces(parts: dict[str, _Part]) -> tuple[np.ndarray, int]:
    """Faces (F, 3) of all parts in one vertex array (parts in dict order) and its vertex count."""
    faces, off = [], 0
    for p in parts.values():
        faces.append(p.faces + off)
        off += len(p.rest)
    return np.concatenate(faces), off


# ---------------------------------------------------------------------------- creature

_BODY_Y = 0.40
_HIP_Y = 0.34
_LEG_LEN = 0.36  # hip -> foot tip
_KNEE = 0.17     # distance hip -> knee along the leg


def _creature_parts() -> dict[str, _Part]:
    parts: dict[str, _Part] = {}
    z, r = _ellipsoid_profile(20)
    parts["body"] = _Part(0.30 * z, r, 28, (0, _BODY_Y, 0), (0, 0, 1), (0.12, 0.11))
    for name, x, zz in (("lf", 0.07, -0.19), ("rf", -0.07, -0.19),
                        ("lh", 0.07, 0.19), ("rh", -0.07, 0.19)):
        # leg axis points down; axial 0 is 0.06 above the hip (inside the body)
        zc, rc = _capsule_profile(_LEG_LEN + 0.06 - 0.03, 0.03, 4, 18)
        parts[name] = _Part(zc, rc, 12, (x, _HIP_Y + 0.06, zz), (0, -1, 0))
    zc, rc = _capsule_profile(0.16, 0.04, 3, 6)
    parts["neck"] = _Part(zc, rc, 12, (0, _BODY_Y + 0.02, -0.22), (0, 0.8, -0.6))
    z, r = _ellipsoid_profile(12)
    parts["head"] = _Part(0.10 * z, r, 16, (0, _BODY_Y + 0.16, -0.38), (0, -0.2, -1), (0.06, 0.055))
    zc, rc = _capsule_profile(0.30, 0.018, 3, 20)
    parts["tail"] = _Part(zc, rc, 10, (0, _BODY_Y + 0.03, 0.24), (0, 0.35, 1))
    return parts


def make_walking_creature(n_frames: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A quadruped walking in place for one gait cycle (frames sample it without repeating frame 0).

    Returns vertices (K, V, 3) float32 (same vertex order every frame, V about 2,000, length about
    1 unit) and faces (F, 3) int64. ``seed`` sets small per-sequence variations (phase, amplitudes).
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    rng = np.random.default_rng(seed)
    phase0 = rng.uniform(0, 2 * np.pi)
    swing = np.deg2rad(rng.uniform(22, 28))
    sway = rng.uniform(2.0, 3.0)  # tail curvature amplitude, 1/unit
    parts = _creature_parts()
    faces, off = _joined_faces(parts)

    x_axis = np.array([1.0, 0, 0])
    leg_phase = {"lf": 0.0, "rh": 0.0, "rf": np.pi, "lh": np.pi}  # trot: diagonal pairs
    frames = np.empty((n_frames, off, 3), np.float32)
    for k in range(n_frames):
        t = phase0 + 2 * np.pi * k / n_frames
        out = []
        for name, p in parts.items():
            x = p.rest.copy()
            if name in leg_phase:
                ph = t + leg_phase[name]
                hip = p.origin + np.array([0, -0.06, 0])
                knee = hip + np.array([0, -_KNEE, 0])
                a = p.axial - 0.06  # distance below the hip
                knee_angle = -0.6 * swing * (1 + np.cos(ph))  # knee folds backwards in swing
                x = _blend(x, _smoothstep((a - _KNEE + 0.03) / 0.06), knee, _rot(x_axis, knee_angle))
                x = _blend(x, _smoothstep((a + 0.03) / 0.08), hip, _rot(x_axis, swing * np.sin(ph)))
            elif name in ("neck", "head"):
                pivot = parts["neck"].origin
                w = np.ones(len(x)) if name == "head" else _smoothstep(p.axial / 0.12)
                x = _blend(x, w, pivot, _rot(x_axis, 0.12 * np.sin(2 * t)))
            elif name == "tail":
                x = _bend_tail(p, sway * np.sin(t))
            out.append(x)
        x = np.concatenate(out)
        bob = np.array([0, 0.012 * np.cos(2 * t), 0])
        roll = _rot(np.array([0, 0, 1.0]), 0.03 * np.sin(t))
        centre = np.array([0, _BODY_Y, 0])
        frames[k] = (x - centre) @ roll.T + centre + bob
    return frames, faces


def _bend_tail(p: _Part, curvature: float) -> np.ndarray:
    """Bend the tail's axis into a circular arc (isometric for the axis) sideways (towards +x)."""
    u = np.clip(p.axial, 0.0, None)  # arc length along the axis; the base (u <= 0) stays
    d = p.frame[2]
    e1 = np.array([1.0, 0, 0]) - d[0] * d
    e1 /= np.linalg.norm(e1)
    local = p.rest - p.origin
    offs = local - np.outer(local @ d, d)  # cross-section offset
    ang = curvature * u
    if abs(curvature) < 1e-9:
        along, side = u, np.zeros_like(u)
    else:
        along, side = np.sin(ang) / curvature, (1 - np.cos(ang)) / curvature
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    oe, od = offs @ e1, p.axial - u  # od: the part below the base (cap) stays straight
    # rotate the cross-section offset's e1 component with the tangent
    offs_rot = offs - np.outer(oe, e1) + (oe[:, None] * (c * e1 - s * d))
    tangent = c * d + s * e1
    return p.origin + along[:, None] * d + side[:, None] * e1 + offs_rot + od[:, None] * tangent


# ---------------------------------------------------------------------------- humanoid

_H_HIP_Y = 0.50     # hip joints; legs reach from here to the ground (y = 0)
_H_THIGH = 0.25     # hip -> knee
_H_LEG_LEN = 0.50   # hip -> foot tip
_H_LEG_X = 0.075    # hips at x = +-_H_LEG_X (the legs almost touch)
_H_LEG_R = 0.05
_H_SHOULDER = (0.185, 0.80)  # (x, y) of the shoulder joints
_H_UPPER_ARM = 0.19  # shoulder -> elbow
_H_ARM_LEN = 0.40    # shoulder -> hand tip
_H_ARM_R = 0.032
_H_TORSO_Y, _H_TORSO_H = 0.655, 0.235  # centre and half-height of the torso


def _humanoid_parts() -> dict[str, _Part]:
    parts: dict[str, _Part] = {}
    # torso: a boxy ellipsoid (r = cos^0.4 flattens the shoulders), 0.30 wide, 0.18 deep, y 0.42-0.89
    z, r = _ellipsoid_profile(22)
    parts["torso"] = _Part(_H_TORSO_H * z, np.abs(r) ** 0.4, 28, (0, _H_TORSO_Y, 0), (0, 1, 0),
                           (0.15, 0.09))
    z, r = _ellipsoid_profile(12)
    parts["head"] = _Part(0.075 * z, r, 18, (0, 0.925, -0.005), (0, 1, 0), (0.062, 0.07))
    sx, sy = _H_SHOULDER
    for name, side in (("rarm", 1.0), ("larm", -1.0)):
        # arm axis points down; axial 0 is 0.04 above the shoulder
        zc, rc = _capsule_profile(_H_ARM_LEN + 0.04 - _H_ARM_R, _H_ARM_R, 4, 24)
        parts[name] = _Part(zc, rc, 12, (side * sx, sy + 0.04, 0), (0, -1, 0))
    for name, side in (("rleg", 1.0), ("lleg", -1.0)):
        # leg axis points down; axial 0 is 0.06 above the hip (inside the torso)
        zc, rc = _capsule_profile(_H_LEG_LEN + 0.06 - _H_LEG_R, _H_LEG_R, 4, 26)
        parts[name] = _Part(zc, rc, 14, (side * _H_LEG_X, _H_HIP_Y + 0.06, 0), (0, -1, 0))
    return parts


def humanoid_part_labels() -> np.ndarray:
    """(V,) int64: the part of each vertex of :func:`make_humanoid` (0 torso, 1 head, 2 right arm,
    3 left arm, 4 right leg, 5 left leg; x right, so the right side is +x)."""
    parts = _humanoid_parts()
    return np.concatenate([np.full(len(p.rest), i, np.int64) for i, p in enumerate(parts.values())])


def make_humanoid(n_frames: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A humanoid (torso, head, two two-segment arms, two two-segment legs) marching in place for
    one cycle (frames sample it without repeating frame 0), with large articulation: the hips
    swing by about +-45 degrees with the knees bending up to about 70 degrees, the arms swing
    opposite to the legs by about +-65 degrees with the elbows bending, the shoulders twist about
    y by about +-18 degrees against the hips, and the body bobs. Limbs pass each other and move
    into space other parts occupied half a cycle earlier, so the nearest-vertex map fails there.

    Returns vertices (K, V, 3) float32 (same vertex order every frame, V about 2,600, about 1 unit
    tall, y up, -z forward, feet near y = 0) and faces (F, 3) int64. Separate closed components.
    ``seed`` sets small per-sequence variations (phase, amplitudes).
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    rng = np.random.default_rng(seed)
    phase0 = rng.uniform(0, 2 * np.pi)
    hip_swing = np.deg2rad(rng.uniform(42, 47))
    knee_bend = np.deg2rad(rng.uniform(65, 75))
    arm_swing = np.deg2rad(rng.uniform(60, 70))
    elbow_bend = np.deg2rad(rng.uniform(40, 50))
    twist = np.deg2rad(rng.uniform(16, 20))
    parts = _humanoid_parts()
    faces, off = _joined_faces(parts)

    x_axis, y_axis = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    # the right leg leads at phase 0; each arm swings with the opposite leg
    phase = {"rleg": 0.0, "lleg": np.pi, "larm": 0.0, "rarm": np.pi}
    frames = np.empty((n_frames, off, 3), np.float32)
    for k in range(n_frames):
        t = phase0 + 2 * np.pi * k / n_frames
        # shoulders turn with the forward arm: the right shoulder (+x) forward (-z) when the
        # right arm is forward (sin t < 0); a positive angle about y moves +x towards -z
        shoulders = _rot(y_axis, -twist * np.sin(t))
        out = []
        for name, p in parts.items():
            x = p.rest.copy()
            if name.endswith("leg"):
                ph = t + phase[name]
                hip = p.origin + np.array([0, -0.06, 0])
                knee = hip + np.array([0, -_H_THIGH, 0])
                a = p.axial - 0.06  # distance below the hip
                # the knee folds backwards (shin to +z): most while the thigh swings up in front
                # (a march: shin about vertical at the front), hardly with the thigh behind
                knee_angle = -knee_bend * (0.05 + 0.95 * (0.5 + 0.5 * np.cos(ph - np.pi / 4)) ** 2)
                x = _blend(x, _smoothstep((a - _H_THIGH + 0.06) / 0.12), knee, _rot(x_axis, knee_angle))
                x = _blend(x, _smoothstep((a + 0.03) / 0.08), hip, _rot(x_axis, hip_swing * np.sin(ph)))
            elif name.endswith("arm"):
                ph = t + phase[name]
                shoulder = p.origin + np.array([0, -0.04, 0])
                elbow = shoulder + np.array([0, -_H_UPPER_ARM, 0])
                a = p.axial - 0.04  # distance below the shoulder
                # the forearm folds forwards (hand to -z), most with the arm forward
                elbow_angle = elbow_bend * (0.25 + 0.75 * (0.5 + 0.5 * np.sin(ph)))
                x = _blend(x, _smoothstep((a - _H_UPPER_ARM + 0.04) / 0.08), elbow, _rot(x_axis, elbow_angle))
                x = (x - shoulder) @ _rot(x_axis, arm_swing * np.sin(ph)).T + shoulder
                x = x @ shoulders.T
            elif name == "torso":
                w = _smoothstep((x[:, 1] - 0.52) / 0.30)  # the pelvis stays, the chest turns
                x = _blend(x, w, np.zeros(3), shoulders)
            else:  # head
                x = x @ shoulders.T
            out.append(x)
        x = np.concatenate(out)
        frames[k] = x + np.array([0, 0.02 * np.cos(2 * t), 0])
    return frames, faces


# ---------------------------------------------------------------------------- sheet


def make_bending_sheet(n_frames: int = 24, nx: int = 41, ny: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """A 1.0 x 0.6 sheet (grid, open surface) rolling isometrically about the y axis into an arc of
    growing curvature (flat at frame 0, 3/4 of a cylinder at the last frame).

    Returns vertices (K, nx*ny, 3) float32 and faces (F, 3) int64.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    W, H = 1.0, 0.6
    u = np.linspace(-W / 2, W / 2, nx)
    v = np.linspace(-H / 2, H / 2, ny)
    U, V = np.meshgrid(u, v, indexing="ij")
    U, V = U.ravel(), V.ravel()
    idx = np.arange(nx * ny).reshape(nx, ny)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int64)
    frames = np.empty((n_frames, nx * ny, 3), np.float32)
    for k in range(n_frames):
        kappa = 1.5 * np.pi / W * (k / max(n_frames - 1, 1))
        if kappa < 1e-9:
            x, z = U, np.zeros_like(U)
        else:
            x, z = np.sin(kappa * U) / kappa, (1 - np.cos(kappa * U)) / kappa
        frames[k] = np.stack([x, V, z], 1)
    return frames, faces


# ---------------------------------------------------------------------------- writing

KINDS = ("creature", "sheet", "humanoid")
"""The kinds :func:`write_example` writes (``catlas example --kind``)."""
MAX_EXAMPLE_FRAMES = 10_000
"""The most frames :func:`write_example` writes (as many creature frames take about 2.5 GB as OBJ)."""

# Every file catlas writes into a data folder (write_example, catlas.data.degrade) carries one
# mark line with the SHA-256 of the rest of the file, so that ``force`` can tell its own unchanged
# files from anything else in the folder.
_MARK = b"catlas-example sha256="
_MARK_AT = {"obj": (0, b"# ", b""), "off": (1, b"# ", b""), "ply": (2, b"comment ", b""),
            "json": (1, b'  "written_by": "', b'",')}
"""fmt -> (lines before the mark: OFF's "OFF", PLY's "ply" and "format", JSON's "{"; what comes
before and after the mark and digest on its line). A JSON payload must be an object written one
key per line (``json.dumps(..., indent=2)``) with at least one key: the mark becomes its first."""


def with_mark(payload: bytes, fmt: str) -> bytes:
    """``payload`` (a whole file of format ``fmt``: obj, off, ply or json) with the mark line
    inserted (see :data:`_MARK`)."""
    import hashlib

    n, prefix, suffix = _MARK_AT[fmt]
    pos = 0
    for _ in range(n):
        pos = payload.index(b"\n", pos) + 1
    line = prefix + _MARK + hashlib.sha256(payload).hexdigest().encode() + suffix + b"\n"
    return payload[:pos] + line + payload[pos:]


def written_by_catlas(p: Path) -> bool:
    """True if ``p`` is a regular file catlas marked (:func:`with_mark`) and nobody changed since."""
    import hashlib

    fmt = p.suffix.lower().lstrip(".")
    if p.is_symlink() or not p.is_file() or fmt not in _MARK_AT:
        return False
    with open(p, "rb") as fh:
        head = fh.read(4096)
    i = head.find(_MARK)
    if i < 0:
        return False
    data = p.read_bytes()
    start = data.rfind(b"\n", 0, i) + 1
    stop = data.find(b"\n", i) + 1
    digest = data[i + len(_MARK):i + len(_MARK) + 64]
    _, prefix, suffix = _MARK_AT[fmt]
    return (stop > 0 and data[start:stop] == prefix + _MARK + digest + suffix + b"\n"
            and hashlib.sha256(data[:start] + data[stop:]).hexdigest().encode() == digest)


def replaceable_files(out: Path, force: bool, subfolders: tuple[str, ...] = ()) -> list[Path]:
    """Check that catlas may write its files into the folder ``out``; return the files of an
    earlier write there that are to be removed first (nothing is removed here).

    An absent or empty ``out`` is fine. A non-empty one is refused unless ``force``; with
    ``force`` it may hold only files catlas marked and nobody changed since (:func:`written_by_catlas`),
    directly or inside the named ``subfolders`` (any other folder counts as foreign); hidden
    entries are left alone. CatlasError names ``out`` and up to five foreign entries.
    """
    if out.exists() and not out.is_dir():
        raise CatlasError(f"{out}: exists and is not a folder")
    if not (out.is_dir() and any(out.iterdir())):
        return []
    if not force:
        raise CatlasError(f"{out}: folder is not empty (use force to overwrite)")
    old, foreign = [], []
    for p in out.iterdir():
        if p.name.startswith("."):  # hidden ones: kept
            continue
        if p.name in subfolders and p.is_dir() and not p.is_symlink():
            for q in p.iterdir():
                if not q.name.startswith("."):
                    (old.append(q) if written_by_catlas(q) else foreign.append(f"{p.name}/{q.name}"))
        elif written_by_catlas(p):
            old.append(p)
        else:
            foreign.append(p.name)
    if foreign:
        foreign.sort(key=natural_key)
        shown = ", ".join(foreign[:5]) + (f" ... ({len(foreign)} in all)" if len(foreign) > 5 else "")
        raise CatlasError(f"{out}: holds files catlas did not write: {shown}; not replacing "
                          "the folder (remove them or choose another folder)")
    return old


def obj_payload(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """An OBJ file's bytes: ``vertices`` (V, 3) with 6 decimals, ``faces`` (F, 3) 0-based."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices).tolist()]
    lines += [f"f {a} {b} {c}" for a, b, c in (np.asarray(faces) + 1).tolist()]
    return ("\n".join(lines) + "\n").encode()


def write_example(out: str | Path, n_frames: int = 24, fmt: str = "obj", force: bool = False,
                  kind: str = "creature", seed: int = 0) -> list[Path]:
    """Write the built-in example as ``out/frame_000.<fmt>``, ... (vertex order preserved).

    kind: "creature" (:func:`make_walking_creature`), "sheet" (:func:`make_bending_sheet`) or
    "humanoid" (:func:`make_humanoid`); ``seed`` is used by creature and humanoid. fmt: "obj",
    "ply" or "off"; ``n_frames`` from 1 to :data:`MAX_EXAMPLE_FRAMES`. Refuses a non-empty ``out``
    unless ``force``; with ``force`` it replaces only the files it wrote there itself and nobody
    changed since (each carries a comment with the SHA-256 of the rest of the file), and refuses
    a folder holding anything else (hidden entries aside, which are left alone). Nothing is
    written or removed before every check has passed. Returns the written paths.
    """
    import trimesh

    out = Path(out)
    if fmt not in ("obj", "ply", "off"):
        raise CatlasError(f"{out}: unsupported example format {fmt!r} (use obj, ply or off)")
    if kind not in KINDS:
        raise CatlasError(f"{out}: unknown example kind {kind!r} (use {', '.join(KINDS)})")
    if (isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer))
            or not 1 <= n_frames <= MAX_EXAMPLE_FRAMES):
        raise CatlasError(f"{out}: the number of example frames must be between 1 and "
                          f"{MAX_EXAMPLE_FRAMES} (the cap on examples), got {n_frames}")
    old = replaceable_files(out, force)
    if kind == "creature":
        verts, faces = make_walking_creature(n_frames, seed)
    elif kind == "humanoid":
        verts, faces = make_humanoid(n_frames, seed)
    else:
        verts, faces = make_bending_sheet(n_frames)
    for p in old:
        p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, v in enumerate(verts):
        p = out / f"frame_{k:03d}.{fmt}"
        if fmt == "obj":
            payload = obj_payload(v, faces)
        else:
            payload = trimesh.Trimesh(v, faces, process=False).export(file_type=fmt)
            payload = payload.encode() if isinstance(payload, str) else payload
        p.write_bytes(with_mark(payload, fmt))
        paths.append(p)
    return paths

