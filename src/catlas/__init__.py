"""catlas: unsupervised, temporally-coherent surface reconstruction with metric-consistent atlases.

Public API::

    import catlas
    run = catlas.fit("frames/", "runs/cat", preset="demo")
    run = catlas.load_run("runs/cat")
    xyz = run.decode(frame=3, uv=uv)          # uv: (P, S, 2) -> (P, S, 3), input units
"""

from catlas._version import __version__
from catlas.api import fit
from catlas.config import FitConfig, make_config
from catlas.errors import CatlasError
from catlas.run import Run, load_run

__all__ = ["fit", "load_run", "Run", "FitConfig", "make_config", "CatlasError", "__version__"]
