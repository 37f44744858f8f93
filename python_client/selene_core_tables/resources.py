"""Where the SQL sources and migrations are.

Beside the package when installed from a wheel; at the top of the repository
in a source checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory ``sql`` or ``migrations`` that this package ships with.

    Raises FileNotFoundError when neither the wheel layout nor the source layout has it.
    """
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no {name}/ directory beside {_PACKAGE_DIR}")
