"""Edit families of the offline engine.

Each module has a `HANDLERS` table (its op enum → handler) and `apply(rgb, edit, ctx)`, which
dispatches through it: an op without a handler fails loudly instead of returning the image
unchanged (tests/engines/offline/test_ops.py checks every op the parser can produce).
"""

from __future__ import annotations

from collections.abc import Callable

from imagine.engines.offline.imaging import U8
from imagine.engines.offline.rules import Edit
from imagine.engines.offline.subject import Context

Handler = Callable[[U8, Edit, Context], U8]
