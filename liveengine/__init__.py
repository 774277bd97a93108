"""liveengine: play a neural decoder's latent space from a grid of pads."""

import os
import sys

__version__ = "0.1.0"
__all__ = ["main", "__version__"]


def _no_numpy_huge_pages() -> None:
    """No transparent huge pages for numpy's large arrays, in this process and (through the environment)
    in every process it starts: the audio server, the render process, stream producers.

    numpy asks the kernel for 2 MB pages on arrays of 4 MB and more (madvise): kernel work in large
    pieces at every first touch, and khugepaged copying memory into the regions so marked. With it, JACK's
    own thread on a non-real-time server waited for a CPU often enough to miss cycles in bursts while
    the render process worked (which kernel path holds it up is not pinned down). bench/server_load.py,
    60 s runs under the performance load: 9, 2 and 6 JACK xruns with it off against 4, 182 and 20 with
    numpy's default (docs/benchmarks.md). A user's own NUMPY_MADVISE_HUGEPAGE wins."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    numpy = sys.modules.get("numpy")
    if numpy is None or os.environ["NUMPY_MADVISE_HUGEPAGE"] != "0":
        return  # numpy reads the variable when it is first imported
    # numpy came first (a host program imported it): its setting is only reachable through its
    # private switch (numpy 2: numpy._core, 1.x: numpy.core).
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        switch = getattr(sys.modules.get(name), "_set_madvise_hugepage", None)
        if switch is not None:
            switch(False)
            return


_no_numpy_huge_pages()

from liveengine.cli import main  # noqa: E402  (after the setting above: it imports numpy)
