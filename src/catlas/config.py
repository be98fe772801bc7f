"""Every setting of a fit, as one dataclass tree with presets and a YAML round trip.

The dataclass defaults are the ``fast`` preset (the default for users); the other presets
(``paper``, ``demo``, ``tiny``) are overrides of it.

A run folder holds ``config.yaml`` written from :class:`FitConfig`; loading it back gives the
exact same object, so a run can be repeated or resumed from its folder alone.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from catlas.errors import CatlasError

Method = Literal["mca", "atlasnet", "dsr"]
METHODS: tuple[str, ...] = ("mca", "atlasnet", "dsr")
METHOD_ALIASES: dict[str, str] = {"ours": "mca"}
"""Former method names, still accepted (config files, --method, --set loss.method) and read
as the current name: "ours" was the paper's method before it was named mca (metric-consistent
atlas)."""


def method_name(name: str) -> str:
    """The current name of a method given by a current or a former name (:data:`METHOD_ALIASES`)."""
    return METHOD_ALIASES.get(name, name)

# Upper caps of the settings (and of the matching command-line options): generous, far above
# every preset, but they refuse a value (a typo, a few zeros too many) that would exhaust memory
# or overflow before the first step.
MAX_COUNT = 10**12
"""Any count without a cap of its own (iterations, tau, checkpoint_every ...): far above any
step count a time budget (train.minutes) gives, and safe in int64 arithmetic."""
MAX_POINTS = 1_000_000
"""data.points_per_frame, train.uv_samples, loss.metric_samples."""
MAX_PATCHES = 1024
"""model.n_patches."""
MAX_WIDTH = 8192
"""model.code_dim and every width of model.encoder_widths / decoder_widths."""
MAX_LAYERS = 16
"""Hidden layers of the encoder's and of each patch's MLP."""
MAX_PAIRS = 1024
"""train.pairs_per_step."""
MAX_RESOLUTION = 512
"""UV grid vertices per patch side: train.mesh_resolution, export/render --resolution (a mesh
is decoded at once: P x R^2 points)."""
MAX_THREADS = 1024
"""train.threads."""
MAX_SEED = 2**32 - 1
"""train.seed (and the evaluation's --seed): numpy and torch take [0, 2^32 - 1] everywhere."""
MAX_MINUTES = 100_000.0
"""train.minutes (about 69 days)."""
MAX_SSC_COPIES = 256
"""loss.ssc_copies (each copy is one more encoder and decoder pass per frame and step)."""


def check_int(name: str, value: int, lo: int, hi: int = MAX_COUNT) -> None:
    """ValueError naming ``name`` unless lo <= value <= hi."""
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {_big(hi)}], got {value}")


def _big(n: int) -> str:
    """1000000 -> 1_000_000 (Python / YAML digit grouping); small numbers as they are."""
    return f"{n:_}" if n >= 10_000 else str(n)


def check_weight(name: str, value: float | None) -> None:
    """ValueError unless ``value`` (None allowed) is a finite number >= 0."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")


@dataclass
class DataConfig:
    """How frames are read and turned into training clouds."""

    points_per_frame: int = 4_000
    """Points stored per frame (meshes: area-weighted surface samples; clouds: resampled)."""
    points_per_step: int = 1_000
    """Points drawn (without replacement) from a frame's stored points at every step (N)."""
    encoder_points: int | None = 250
    """Of those N, how many the PointNet encoder sees (the first ones drawn, a random subset;
    None = all N, as in the paper: no subset, so it follows points_per_step). The Chamfer term
    always uses all N. Inference encodes a frame's first ``encoder_points`` (or N) stored
    points. Fewer make a step cheaper."""
    normalize: bool = True
    """Paper normalisation: frame 0's vertex centroid and longest bounding-box side."""
    center_frames: bool = False
    """Centre every frame on its own centroid (the mean of its input points, the vertex mean for
    meshes) instead of frame 0's, before the common scale (frame 0's longest bounding-box side, or
    1 without ``normalize``); removes the sequence's global translation from what the atlas fits.
    Every output in input units (meshes, exports, correspondences, renders) is shifted back by its
    frame's centre, and GT given to the evaluation gets the same per-frame shift (the paper's
    ``center`` option for AMA). Off: one centre for the sequence, so global motion is kept."""
    align_frames: bool = False
    """Centre every frame as ``center_frames`` does and also turn it back to frame 0's orientation
    (rigid ICP of each frame onto the previous one, catlas.data.motion.frame_rotations), so that
    neither the sequence's global translation nor its global rotation is left for the atlas to
    fit. Every output in input units is turned and shifted back, and GT given to the evaluation
    gets the same per-frame transform. For captures that turn as a whole."""
    min_points: int = 100
    """Frames with fewer input points are rejected."""

    def __post_init__(self) -> None:
        check_int("points_per_frame", self.points_per_frame, 1, MAX_POINTS)
        check_int("points_per_step", self.points_per_step, 1, MAX_POINTS)  # <= points_per_frame: FitConfig
        check_int("min_points", self.min_points, 1)
        if self.encoder_points is not None and not 1 <= self.encoder_points <= self.points_per_step:
            raise ValueError(f"encoder_points must be in [1, points_per_step={self.points_per_step}] "
                             f"or null, got {self.encoder_points}")

    def encoded_points(self) -> int:
        """How many points of a frame the encoder sees (encoder_points, else points_per_step)."""
        return self.points_per_step if self.encoder_points is None else self.encoder_points


@dataclass
class ModelConfig:
    """PointNet encoder + P patch MLPs (AtlasNet-style decoder)."""

    code_dim: int = 256
    """Latent code size C."""
    n_patches: int = 10
    """Number of patches P."""
    encoder_widths: tuple[int, ...] = (64, 128)
    """Hidden widths of the per-point MLP before the C-wide layer."""
    decoder_widths: tuple[int, ...] | None = (128, 64, 32)
    """Hidden widths of each patch MLP. None (the method's default) is resolved when the config
    is built (:meth:`FitConfig.resolved`) to the paper's (C+2, (C+2)//2, (C+2)//4), so a
    saved config.yaml shows the widths a fit used."""

    def __post_init__(self) -> None:
        check_int("code_dim", self.code_dim, 1, MAX_WIDTH)
        check_int("n_patches", self.n_patches, 1, MAX_PATCHES)
        for name, widths, least in (("encoder_widths", self.encoder_widths, 0),
                                    ("decoder_widths", self.decoder_widths, 1)):
            if widths is None:
                continue
            if not least <= len(widths) <= MAX_LAYERS or not all(1 <= w <= MAX_WIDTH for w in widths):
                raise ValueError(f"{name} must list {least}-{MAX_LAYERS} layer widths, each in "
                                 f"[1, {MAX_WIDTH}], got {list(widths)}")
        if self.decoder_widths is None and self.code_dim < 2:
            raise ValueError(f"code_dim must be >= 2 with decoder_widths null (the paper's widths "
                             f"(C+2)//4 would be 0), got {self.code_dim}")

    def resolved_decoder_widths(self) -> tuple[int, ...]:
        if self.decoder_widths is not None:
            return tuple(self.decoder_widths)
        c = self.code_dim + 2
        return (c, c // 2, c // 4)


@dataclass
class LossConfig:
    """Which losses a method uses and their weights."""

    method: str = "mca"
    """mca (metric-consistent atlas, the paper's method) = Chamfer + metric consistency;
    atlasnet = Chamfer only; dsr = Chamfer + DSR terms. "ours", its former name, is read as mca."""
    tau: int = 1
    """Pairing window: frames i, j with 0 < |i - j| <= tau form a pair."""
    alpha_mc: float = 0.1
    """Weight of the metric-consistency loss (mca); 0 switches it off, and the Jacobian with it
    (the term is then logged as 0)."""
    alpha_mc_cross: float = 0.1
    """Weight of metric consistency between frames of *different* pairs of a step (catlas
    addition, not in the paper): a step's pairs start at independent frames, so these
    comparisons tie distant frames together, which the neighbour pairs (|i - j| <= tau) only do
    through a chain; no extra decoding (the same uv samples and Jacobians). Logged as
    metric_cross. 0 = off (mca only)."""
    cross_from: float = 0.75
    """Fraction of the run before which the cross-pair term (alpha_mc_cross) is off: 0.75 starts
    it when the curriculum's growth ends (train.grow_to); 0 = from the first step with pairs."""
    metric_samples: int | None = 100
    """UV samples per frame at which the Jacobian (and so the metric terms of mca/dsr) is
    evaluated: a subset of train.uv_samples, split over the patches. None = all (the paper: no
    subset, so it follows train.uv_samples).
    Fewer make the step cheaper; the metric term is then a Monte-Carlo estimate on fewer points."""
    alpha_motion: float | None = None
    """Weight of the surface-motion term, a catlas addition (not in the paper): the mean squared
    3D distance between the same UV sample decoded in the two frames of each pair
    (|i - j| <= tau). It favours UV assignments that follow the motion over ones that jump
    between look-alike parts (left/right legs) that Chamfer and metric consistency cannot tell
    apart. None (the method's default) is resolved when the config is built
    (:meth:`FitConfig.resolved`): 0.1 for mca (docs/results.md), 0 (off) for atlasnet and dsr,
    which stay the paper's baselines."""
    alpha_dsr: float = 0.001
    """Global weight of the DSR regularisers (dsr only; the weights of its terms are the
    baseline's fixed constants, catlas.losses.dsr)."""
    input_trim: float = 0.0
    """Fraction of each frame's step points, the farthest from the surface, left out of the
    input -> surface direction of the Chamfer term (a trimmed mean), so that stray points of a
    scan pull no patch towards them; the surface -> input direction is unchanged. 0 = every
    point (the default, and the paper). Against outliers: a little above their share."""
    surface_trim: float = 0.0
    """Fraction of each frame's decoded surface samples, the farthest from the step's input
    points, left out of the surface -> input direction of the Chamfer term (a trimmed mean), so
    that surface over a hole in the scan is not pulled onto the points around the hole and the
    other terms keep it where the neighbouring frames put it. 0 = every sample (the default, and
    the paper). For scans with holes: about the share of the surface missing in a frame."""
    alpha_ssc: float = 0.0
    """Weight of the self-supervised correspondence loss with random rigid copies (the authors'
    journal extension, docs/method.md 3.5): every frame of a step is also encoded and decoded
    in ssc_copies - 1 rigidly moved copies, and each copy's points are pulled towards the input
    points the un-moved reconstruction is nearest to, moved the same way; for robustness to
    global rigid motion. 0 = off (the default, and the ICCV method): no copies, no extra work.
    The extension used 0.1. Logged as ssc while weighted. Any method."""
    ssc_copies: int = 12
    """S, the copies of each frame with alpha_ssc > 0, the un-moved one included (the
    extension: 12). Each copy costs one more encoder and decoder pass per frame (without the
    Jacobian): a step's encoder and decoder work grows about S-fold."""
    ssc_translation: float = 0.2
    """Half-width of the copies' random translation, uniform per axis, in normalised units (the
    extension: 0.2); the rotation is about a random axis on the upper (y) hemisphere, by a
    random angle, about the origin."""

    def __post_init__(self) -> None:
        if isinstance(self.method, str):
            self.method = method_name(self.method)
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        check_int("tau", self.tau, 1)
        check_fraction("cross_from", self.cross_from)
        for name in ("input_trim", "surface_trim"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name} must be in [0, 0.5], got {getattr(self, name)}")
        for name in ("alpha_mc", "alpha_mc_cross", "alpha_motion", "alpha_dsr", "alpha_ssc",
                     "ssc_translation"):
            check_weight(name, getattr(self, name))
        check_int("ssc_copies", self.ssc_copies, 2, MAX_SSC_COPIES)
        if self.metric_samples is not None:
            check_int("metric_samples", self.metric_samples, 1, MAX_POINTS)

    def motion_weight(self) -> float:
        """The surface-motion weight of this fit: alpha_motion, or the method's default."""
        if self.alpha_motion is not None:
            return float(self.alpha_motion)
        return 0.1 if self.method == "mca" else 0.0


@dataclass
class TrainConfig:
    """Optimisation schedule, batch layout, checkpoints and logging."""

    iterations: int = 30_000
    """Training steps of the fit."""
    minutes: float | None = None
    """A time budget instead of ``iterations``: the fit times its step on this machine (a few
    seconds), starts with the step count that gives, and after 5 % of the budget recomputes the
    count from its own steps (catlas.train.budget); config.yaml then records that count (and
    minutes None), so the run repeats exactly. None = use ``iterations``."""
    lr: float = 3e-3
    """Adam's learning rate after the warm-up (before the drops of lr_decay_at)."""
    lr_warmup: float = 0.02
    """Fraction of the run over which the learning rate rises linearly from lr / N to lr (N the
    warm-up's steps); 0 = the full rate from the first step."""
    lr_decay_at: tuple[float, ...] = (0.9, 0.95)
    """Fractions of the run at which the learning rate is divided by 10 (the paper's: 0.8, 0.9).
    The default drops it later, for every method, so that mca has more steps at the full rate
    with every frame in after the curriculum's growth ends at grow_to (docs/results.md)."""
    pairs_per_step: int = 2
    """Frame pairs per step; the batch holds 2 * pairs_per_step frames."""
    uv_samples: int = 1_000
    """UV samples per frame per step (M), split evenly over the patches."""
    curriculum: bool | None = None
    """The paper's gradual sequence-growth curriculum (docs/method.md, 5.3): start on grow_window_init
    frames in the middle of the sequence and add one frame at a time, alternating sides, from
    grow_from to grow_to (fractions of the run); afterwards all frames are used.
    None (the method's default) is resolved when the config is built (:meth:`FitConfig.resolved`)
    to the paper's choice per method: on for mca, off for atlasnet and dsr."""
    grow_window_init: int = 5
    """Frames in the curriculum's window at the start."""
    grow_from: float = 0.15
    """Fraction of the run at which the window starts to grow."""
    grow_to: float = 0.75
    """Fraction of the run at which the window holds every frame."""
    grow_partners: str = "window"
    """Where the curriculum draws the second frame j of a pair: "sequence" (the paper: any frame
    within tau of i, so a frame just outside the window is fitted and paired before it enters)
    or "window" (only frames inside the window: a frame entering it is paired with frames
    already in it only; while the window holds a single frame it pairs as the paper does).
    The default is "window" (docs/results.md); the ``paper`` preset uses "sequence"."""
    seed: int = 0
    """Seeds the initial weights and every random draw of the fit."""
    checkpoint_every: int = 1_000
    """Steps between checkpoints (a resumed fit continues from the last one)."""
    snapshot_every: int = 0
    """Also keep the weights every N steps in snapshots/ (for learning curves); 0 = never."""
    log_every: int = 10
    """Steps between rows of losses.csv (each the mean of the steps since the last row)."""
    mesh_resolution: int = 16
    """Vertices per side of each patch's UV grid in the exported meshes."""
    threads: int = 0
    """torch intra-op threads; 0 = leave PyTorch's default."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.grow_from <= self.grow_to <= 1.0:
            raise ValueError(f"need 0 <= grow_from <= grow_to <= 1, got {self.grow_from}, {self.grow_to}")
        if self.grow_partners not in ("sequence", "window"):
            raise ValueError(f"grow_partners must be sequence or window, got {self.grow_partners!r}")
        check_int("grow_window_init", self.grow_window_init, 1)
        if self.minutes is not None and not 0 < self.minutes <= MAX_MINUTES:
            raise ValueError(f"minutes must be > 0 and at most {_big(int(MAX_MINUTES))}, "
                             f"got {self.minutes}")
        check_int("iterations", self.iterations, 1)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not (isinstance(self.lr_warmup, (int, float)) and 0.0 <= self.lr_warmup <= 1.0):
            raise ValueError(f"lr_warmup must be a fraction in [0, 1], got {self.lr_warmup}")
        if not all(isinstance(f, (int, float)) and 0.0 <= f <= 1.0 for f in self.lr_decay_at):
            raise ValueError(f"lr_decay_at must hold fractions in [0, 1], got {list(self.lr_decay_at)}")
        check_int("pairs_per_step", self.pairs_per_step, 1, MAX_PAIRS)
        check_int("uv_samples", self.uv_samples, 1, MAX_POINTS)
        check_int("seed", self.seed, 0, MAX_SEED)
        check_int("checkpoint_every", self.checkpoint_every, 1)
        check_int("snapshot_every", self.snapshot_every, 0)
        check_int("log_every", self.log_every, 1)
        check_int("mesh_resolution", self.mesh_resolution, 2, MAX_RESOLUTION)
        check_int("threads", self.threads, 0, MAX_THREADS)


@dataclass
class FitConfig:
    """Everything a fit needs; saved as ``config.yaml`` in every run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    device: str = "auto"
    """cpu, cuda, cuda:N, or auto (cuda when available)."""

    def __post_init__(self) -> None:
        # checked here, not in DataConfig: reading frames takes a DataConfig of points_per_frame alone
        d = self.data
        if d.points_per_step > d.points_per_frame:
            raise ValueError(f"data.points_per_step must be at most data.points_per_frame="
                             f"{d.points_per_frame} (a step draws its points from a frame's stored "
                             f"ones), got {d.points_per_step}")

    def resolved(self) -> "FitConfig":
        """A copy with every setting whose None means "the method's default" set to that default
        (loss.alpha_motion, train.curriculum, model.decoder_widths), so config.yaml shows the
        values a fit used. :meth:`from_dict`, :meth:`from_yaml`, :func:`make_config` and
        :meth:`save` resolve; the Nones that remain mean "none" (data.encoder_points,
        loss.metric_samples: no subset; train.minutes: no time budget)."""
        out = copy.deepcopy(self)
        if out.loss.alpha_motion is None:
            out.loss.alpha_motion = out.loss.motion_weight()
        if out.train.curriculum is None:
            out.train.curriculum = out.curriculum()
        if out.model.decoder_widths is None:
            out.model.decoder_widths = out.model.resolved_decoder_widths()
        return out

    def curriculum(self) -> bool:
        """Whether this fit uses the growth curriculum (train.curriculum, or its method default)."""
        if self.train.curriculum is not None:
            return bool(self.train.curriculum)
        return self.loss.method == "mca"

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FitConfig":
        """The config of a mapping of settings (checked), with its method defaults resolved. A
        ``version`` key is read as in config.yaml (migrated if older); without one the mapping is
        taken as the current version (unlike a config file, see :meth:`from_yaml`)."""
        if "version" in d:
            d = _migrate(d, "config")
        return _from_plain(cls, d, "config").resolved()

    def to_yaml(self) -> str:
        """config.yaml's text: ``version`` (:data:`CONFIG_VERSION`), then the settings with their
        method defaults resolved."""
        return yaml.safe_dump({"version": CONFIG_VERSION, **self.resolved().to_dict()}, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "config") -> "FitConfig":
        """The config of config.yaml's text; a file without ``version`` is version 1 (written by
        catlas before the field existed) and is migrated (:func:`_migrate`). Errors name ``source``."""
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise CatlasError(f"{source}: not valid YAML ({yaml_problem(e)})") from None
        if not isinstance(d, dict):
            raise CatlasError(f"{source}: expected a mapping of settings")
        d = _migrate(d, source)
        try:  # the same checks as for --set; the message names the file and the setting
            return _from_plain(cls, d, "config").resolved()
        except CatlasError as e:
            if source == "config":
                raise
            raise CatlasError(f"{source}: {e}") from None

    def save(self, path: str | Path) -> None:
        from catlas.fileio import atomic_write_text

        atomic_write_text(path, self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> "FitConfig":
        path = Path(path)
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise CatlasError(f"{path}: not a text file (a catlas config.yaml is UTF-8 YAML)") from None
        return cls.from_yaml(text, source=str(path))


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        # The default (the dataclass defaults above): a smaller network, fewer points and samples
        # and a shorter schedule than the paper's, for a fit of minutes on a CPU; why each
        # value: docs/results.md.
    },
    "paper": {
        # The paper's network, data and schedule. The metric term is evaluated at 500 of the 2500
        # UV samples per frame (50 per patch, redrawn every step): an unbiased Monte-Carlo
        # estimate of the paper's mean over all samples at a fraction of the Jacobian's cost
        # (docs/results.md). `--set loss.metric_samples=null` restores the full term.
        "data": {"points_per_frame": 10_000, "points_per_step": 2_500, "encoder_points": None},
        "model": {"code_dim": 1024, "decoder_widths": None},  # the paper's widths from code_dim
        "loss": {"metric_samples": 500, "alpha_mc_cross": 0.0, "cross_from": 0.0},
        "train": {"iterations": 200_000, "uv_samples": 2_500, "lr": 1e-3, "lr_warmup": 0.0,
                  "lr_decay_at": [0.8, 0.9], "grow_partners": "sequence"},
    },
    "demo": {
        # The default for a one-minute fit (the built-in example, 24 frames, on 2 CPU cores): the
        # same network and schedule, fewer steps (docs/results.md).
        "train": {"iterations": 3000, "checkpoint_every": 500},
    },
    "tiny": {
        # For tests: seconds, not minutes; the paper's loss, pairing and schedule.
        "model": {"code_dim": 32, "n_patches": 4, "encoder_widths": [16, 32],
                  "decoder_widths": [32, 32, 16]},
        "data": {"points_per_frame": 400, "points_per_step": 200, "min_points": 20,
                 "encoder_points": None},
        "loss": {"metric_samples": None, "alpha_mc_cross": 0.0, "cross_from": 0.0},
        "train": {"iterations": 20, "uv_samples": 200, "checkpoint_every": 10, "log_every": 5,
                  "lr": 1e-3, "lr_warmup": 0.0, "lr_decay_at": [0.8, 0.9], "grow_partners": "sequence"},
    },
}


def make_config(preset: str = "fast", overrides: dict[str, Any] | None = None) -> FitConfig:
    """A FitConfig from a named preset plus nested overrides, e.g. ``{"loss": {"method": "dsr"}}``."""
    if preset not in PRESETS:
        raise CatlasError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    d = merge_dicts(FitConfig().to_dict(), PRESETS[preset])
    d = merge_dicts(d, overrides or {})
    return FitConfig.from_dict(d)


def parse_override(text: str) -> dict[str, Any]:
    """``"train.iterations=500"`` -> ``{"train": {"iterations": 500}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise CatlasError(f"--set expects SECTION.KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise CatlasError(f"--set {text}: empty section or setting name; expected SECTION.KEY=VALUE, "
                          "e.g. train.iterations=500")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise CatlasError(f"--set {text}: not valid YAML ({yaml_problem(e)})") from None
    out: dict[str, Any] = {}
    cur = out
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = parsed
    return out


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where (PyYAML's own text spans several lines)."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        where = e.problem_mark or e.context_mark
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        return f"{e.problem}{at}"
    return " ".join(str(e).split())


def merge_dicts(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_dicts(out[k], v)
        else:
            out[k] = v
    return out


def _to_plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


CONFIG_VERSION = 3
"""The version of config.yaml's layout, written as its ``version``. A file without one is
version 1 (catlas before the field existed) and is migrated when read (:func:`_migrate`)."""

# Version 1 -> 2: settings removed (measured not to help, or the DSR baseline's constants).
# Each maps to the value whose behaviour catlas still has and that behaviour in words; a file
# with the setting at that value is the same fit without it, any other value is refused.
REMOVED_IN_2: dict[tuple[str, str], tuple[Any, str]] = {
    ("loss", "mc_pairs"): ("drawn", "drawn"),
    ("loss", "alpha_accel"): (0.0, "0"),
    ("loss", "cross_early_gap"): (0, "0"),
    ("loss", "mc_from"): (0.0, "0"),
    ("loss", "motion_component"): ("full", "full"),
    ("loss", "motion_tangent"): (0.0, "0"),
    ("loss", "alpha_iso"): (0.0, "0"),
    ("loss", "iso_until"): (1.0, "1"),
    ("loss", "dsr_e"): (1.0, "1 (catlas.losses.dsr.DSR_W_E)"),
    ("loss", "dsr_g"): (1.0, "1 (catlas.losses.dsr.DSR_W_G)"),
    ("loss", "dsr_skew"): (1.0, "1 (catlas.losses.dsr.DSR_W_SKEW)"),
    ("loss", "dsr_stretch"): (0.0, "0 (catlas.losses.dsr.DSR_W_STRETCH)"),
    ("loss", "dsr_total_area"): (100.0, "100 (catlas.losses.dsr.DSR_W_TOTAL_AREA)"),
    ("loss", "dsr_total_area_mult"): (1.0, "1 (catlas.losses.dsr.DSR_TOTAL_AREA_MULT)"),
    ("model", "latent"): ("encoder", "encoder"),
    ("train", "grow_copy_code"): (False, "false"),
    ("train", "grow_sampling"): ("balanced", "balanced"),
}

# What catlas did for a setting a version-1 file leaves out: the dataclass defaults of that
# time (the paper's configuration), except loss.alpha_motion, which a file written before the
# surface-motion term existed leaves out and whose fit ran without it.
V1_DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"points_per_frame": 10_000, "points_per_step": 2_500, "encoder_points": None,
             "normalize": True, "min_points": 100},
    "model": {"code_dim": 1024, "n_patches": 10, "encoder_widths": [64, 128], "decoder_widths": None},
    "loss": {"method": "mca", "tau": 1, "alpha_mc": 0.1, "alpha_mc_cross": 0.0, "cross_from": 0.0,
             "metric_samples": None, "alpha_motion": 0.0, "alpha_dsr": 0.001},
    "train": {"iterations": 200_000, "minutes": None, "lr": 1e-3, "lr_warmup": 0.0, "lr_decay_at": [0.8, 0.9],
              "pairs_per_step": 2, "uv_samples": 2_500, "curriculum": None, "grow_window_init": 5,
              "grow_from": 0.15, "grow_to": 0.75, "grow_partners": "sequence", "seed": 0,
              "checkpoint_every": 1_000, "snapshot_every": 0, "log_every": 10,
              "mesh_resolution": 16, "threads": 0},
}


def _migrate(d: dict[str, Any], source: str) -> dict[str, Any]:
    """The settings of a config file read as the current version: ``version`` removed, a
    version-1 file (no ``version``) migrated (see :data:`REMOVED_IN_2`, :data:`V1_DEFAULTS`)."""
    d = dict(d)
    version = d.pop("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CatlasError(f"{source}: version must be a positive integer, got {_shown(version)}")
    if version > CONFIG_VERSION:
        raise CatlasError(f"{source}: config version {version} was written by a newer catlas (this one "
                          f"reads up to version {CONFIG_VERSION}); upgrade catlas")
    if version == 1:
        d = _migrate_1_to_2(d, source)
    if version <= 2:
        d = _migrate_2_to_3(d)
    return d


def _migrate_2_to_3(d: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added train.lr_warmup; a fit written before it ran without a warm-up."""
    train = d.get("train")
    if isinstance(train, dict) and "lr_warmup" not in train:
        d = {**d, "train": {**train, "lr_warmup": 0.0}}
    return d


def _migrate_1_to_2(d: dict[str, Any], source: str) -> dict[str, Any]:
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    loss = d.get("loss") if isinstance(d.get("loss"), dict) else {}
    irrelevant = set()
    if not loss.get("alpha_iso"):  # the isometry term off: its schedule changed nothing
        irrelevant.add(("loss", "iso_until"))
    if loss.get("method", "mca") != "dsr" or loss.get("alpha_dsr", 0.001) == 0:
        irrelevant |= {key for key in REMOVED_IN_2 if key[1].startswith("dsr_")}
    for (section, key), (kept, said) in REMOVED_IN_2.items():
        sec = d.get(section)
        if not isinstance(sec, dict) or key not in sec:
            continue
        value = sec.pop(key)
        if value != kept and (section, key) not in irrelevant:
            raise CatlasError(f"{source}: {section}.{key}={value}: this setting was removed in config "
                              f"version 2; delete it (catlas now always behaves as with "
                              f"{said})")
    for section, defaults in V1_DEFAULTS.items():
        sec = d.setdefault(section, {})
        if isinstance(sec, dict):
            d[section] = {**defaults, **sec}
    return d


def _from_plain(cls: type, d: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise CatlasError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(f.name for f in fields(cls))})")
    defaults = cls() if _has_defaults(cls) else None
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in d.items():
        default = getattr(defaults, name, None)
        if is_dataclass(default):
            if not isinstance(value, dict):
                raise CatlasError(f"{where}.{name}: expected a mapping of settings, got {_shown(value)}")
            kwargs[name] = _from_plain(type(default), value, f"{where}.{name}")
            continue
        try:
            kwargs[name] = _coerce(hints[name], value)
        except _Mismatch:
            raise CatlasError(f"{where}.{name}: expected {_describe(hints[name])}, "
                              f"got {_shown(value)}") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        first = str(e).split(" ", 1)[0]
        if first.split(".")[0] in known:  # "iterations must be ..." -> "config.train.iterations must be ..."
            raise CatlasError(f"{where}.{e}") from None
        raise CatlasError(f"{where}: {e}") from None


class _Mismatch(Exception):
    """A setting's value does not have the type its field is annotated with."""


def _optional_of(hint: Any) -> tuple[bool, Any]:
    """(whether None is allowed, the hint without None)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return len(rest) < len(args), rest[0]
    return False, hint


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as the annotated type (tuples from lists, floats from ints and from strings
    such as ``1e-3``, which YAML 1.1 reads as a string); raises :class:`_Mismatch`."""
    optional, hint = _optional_of(hint)
    if value is None:
        if optional:
            return None
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, (int, float, str)):
            try:
                return float(value)
            except (ValueError, OverflowError):
                raise _Mismatch from None
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        return tuple(value)
    return value


def _describe(hint: Any) -> str:
    optional, hint = _optional_of(hint)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        text = names[hint]
    elif typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        item = {int: "integers", float: "numbers", str: "strings"}.get(args[0], "values") if args else "values"
        text = f"a list of {item}"
    else:
        text = f"a {getattr(hint, '__name__', hint)}"
    return f"{text} or null" if optional else text


def _shown(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            tuple: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def _has_defaults(cls: type) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in fields(cls)
    )
