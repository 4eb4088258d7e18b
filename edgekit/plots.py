"""Charts for reports: matplotlib headless, figures written as PNG bytes (atomically)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edgekit.fsutil import atomic_write_bytes


def pyplot() -> Any | None:
    """matplotlib.pyplot on the headless Agg backend; None where matplotlib is absent (a
    site machine installs no plotting)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Any, dpi: int = 90) -> bytes:
    """The figure as PNG; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def save_png(fig: Any, path: Path, dpi: int = 90) -> Path:
    """Write the figure to ``path`` atomically; the figure is closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, png_bytes(fig, dpi))
    return path
