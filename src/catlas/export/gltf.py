"""The whole surface sequence as one animated binary glTF (``.glb``), written with pygltflib.

One mesh, one primitive: frame 0 is the base geometry (POSITION, NORMAL, TEXCOORD_0) and frame
k (k >= 1) is morph target k - 1 (POSITION and NORMAL displacements). One animation keys the
node's morph weights at t = (k + 1) / fps: all zero at frame 0, target k - 1 at weight 1 at
frame k, linear in between, so playback interpolates vertex positions between frames; the
animation's ``extras`` hold ``{"fps": fps}``. The checkerboard atlas texture is embedded.
Blender imports the targets as shape keys ``frame_0001`` ... with the animation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catlas.export.mesh import MeshSequence, check_fps, vertex_normals
from catlas.export.texture import checker_texture, png_bytes
from catlas.fileio import atomic_path

__all__ = ["DEFAULT_FPS", "glb_document", "write_glb", "read_accessor", "key_times"]

DEFAULT_FPS = 24.0
"""The GLB animation's default frame rate: Blender's default scene frame rate."""


def key_times(n_frames: int, fps: float) -> np.ndarray:
    """(K,) float32 seconds at which sequence frame k is keyed: (k + 1) / fps."""
    # Blender's importer keys time t at scene frame t * scene fps, with no offset and no import
    # option for one (glTF-Blender-IO, blender/imp/animation_weight.py), and its scenes start at
    # frame 1: so frame k at t = (k + 1) / fps lands on Blender frame k + 1 when the scene runs
    # at fps (Blender's default 24 = DEFAULT_FPS); before t = 1 / fps glTF players hold frame 0.
    return ((np.arange(n_frames, dtype=np.float64) + 1.0) / float(fps)).astype(np.float32)


class _Blob:
    """Binary chunk builder: every view starts on a 4-byte boundary (glTF alignment rules)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list = []

    def add(self, payload: bytes, target: int | None = None) -> int:
        import pygltflib as g

        pad = (-len(self.data)) % 4
        self.data += b"\0" * pad
        self.views.append(g.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(payload),
                                       target=target))
        self.data += payload
        return len(self.views) - 1

    def finish(self) -> bytes:
        self.data += b"\0" * ((-len(self.data)) % 4)
        return bytes(self.data)


def glb_document(seq: MeshSequence, fps: float = DEFAULT_FPS, texture_size: int = 1024):
    """A ``pygltflib.GLTF2`` with its binary blob set (see the module docstring)."""
    import pygltflib as g

    check_fps(fps)

    K = seq.n_frames
    blob = _Blob()
    accessors: list = []

    def accessor(arr: np.ndarray, kind: str, ctype: int, target: int | None, bounds: bool) -> int:
        view = blob.add(arr.tobytes(), target)
        flat = arr.reshape(len(arr), -1) if arr.ndim > 1 else arr[:, None]
        acc = g.Accessor(bufferView=view, byteOffset=0, componentType=ctype, count=len(arr), type=kind)
        if bounds:
            acc.min = [float(x) for x in flat.min(axis=0)]
            acc.max = [float(x) for x in flat.max(axis=0)]
        accessors.append(acc)
        return len(accessors) - 1

    base = seq.vertices[0].astype(np.float32)
    pos = accessor(base, g.VEC3, g.FLOAT, g.ARRAY_BUFFER, True)
    normals = vertex_normals(seq.vertices, seq.faces).astype(np.float32)
    nrm = accessor(normals[0], g.VEC3, g.FLOAT, g.ARRAY_BUFFER, False)
    # glTF puts the texture origin at the top-left of the image; OBJ at the bottom-left
    tex = seq.texcoords.astype(np.float32) * np.float32([1, -1]) + np.float32([0, 1])
    texc = accessor(np.ascontiguousarray(tex), g.VEC2, g.FLOAT, g.ARRAY_BUFFER, False)
    idx = accessor(seq.faces.astype(np.uint32).reshape(-1), g.SCALAR, g.UNSIGNED_INT,
                   g.ELEMENT_ARRAY_BUFFER, True)
    targets = []
    for k in range(1, K):
        d = (seq.vertices[k].astype(np.float32) - base).astype(np.float32)
        dn = (normals[k] - normals[0]).astype(np.float32)
        targets.append(g.Attributes(POSITION=accessor(d, g.VEC3, g.FLOAT, g.ARRAY_BUFFER, True),
                                    NORMAL=accessor(dn, g.VEC3, g.FLOAT, g.ARRAY_BUFFER, False)))
    names = [f"frame_{k:04d}" for k in range(1, K)]

    prim = g.Primitive(attributes=g.Attributes(POSITION=pos, NORMAL=nrm, TEXCOORD_0=texc), indices=idx,
                       material=0, mode=g.TRIANGLES, targets=targets or None)
    mesh = g.Mesh(name="catlas_atlas", primitives=[prim],
                  weights=[0.0] * len(targets) if targets else None,
                  extras={"targetNames": names} if targets else {})
    image_view = blob.add(png_bytes(checker_texture(seq.n_patches, texture_size)))
    animations = []
    if targets:
        times = key_times(K, fps)
        weights = np.zeros((K, K - 1), np.float32)
        weights[np.arange(1, K), np.arange(K - 1)] = 1.0
        t_acc = accessor(times, g.SCALAR, g.FLOAT, None, True)
        w_acc = accessor(weights.reshape(-1), g.SCALAR, g.FLOAT, None, False)
        animations.append(g.Animation(
            name="sequence", extras={"fps": float(fps)},
            samplers=[g.AnimationSampler(input=t_acc, output=w_acc, interpolation=g.ANIM_LINEAR)],
            channels=[g.AnimationChannel(sampler=0, target=g.AnimationChannelTarget(node=0, path=g.WEIGHTS))]))
    data = blob.finish()
    doc = g.GLTF2(
        asset=g.Asset(generator="catlas", version="2.0"),
        scene=0,
        scenes=[g.Scene(nodes=[0])],
        nodes=[g.Node(name="catlas_atlas", mesh=0)],
        meshes=[mesh],
        materials=[g.Material(
            name="atlas_checker", doubleSided=True,
            pbrMetallicRoughness=g.PbrMetallicRoughness(
                baseColorTexture=g.TextureInfo(index=0), metallicFactor=0.0, roughnessFactor=1.0))],
        textures=[g.Texture(sampler=0, source=0)],
        samplers=[g.Sampler(magFilter=g.LINEAR, minFilter=g.LINEAR_MIPMAP_LINEAR,
                            wrapS=g.CLAMP_TO_EDGE, wrapT=g.CLAMP_TO_EDGE)],
        images=[g.Image(bufferView=image_view, mimeType=g.IMAGEPNG, name="atlas_checker")],
        animations=animations,
        accessors=accessors,
        bufferViews=blob.views,
        buffers=[g.Buffer(byteLength=len(data))],
    )
    doc.set_binary_blob(data)
    return doc


def write_glb(path: str | Path, seq: MeshSequence, fps: float = DEFAULT_FPS) -> None:
    """Write :func:`glb_document` atomically."""
    doc = glb_document(seq, fps)
    with atomic_path(path) as tmp:
        doc.save_binary(str(tmp))


_DTYPES = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def read_accessor(doc, index: int) -> np.ndarray:
    """Decode accessor ``index`` of a loaded (binary) ``pygltflib.GLTF2`` (tightly packed views)."""
    acc = doc.accessors[index]
    view = doc.bufferViews[acc.bufferView]
    blob = doc.binary_blob()
    dtype = np.dtype(_DTYPES[acc.componentType]).newbyteorder("<")
    n = _WIDTH[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    arr = np.frombuffer(blob, dtype, count=acc.count * n, offset=start)
    return arr.reshape(acc.count, n) if n > 1 else arr
