"""The Vega libraries as one inline script, so that every page opens offline.

vl-convert builds the bundle on each call (3 to 5 s here), so it is kept on disk
(`$XDG_CACHE_HOME/socialcredit`, else `~/.cache/socialcredit`), keyed by vl-convert's
version; where nothing can be written, it is built each time.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def _cache_file() -> Path:
    import vl_convert

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = getattr(vl_convert, "__version__", "unknown")
    return root / "socialcredit" / f"vega-bundle-{version}.js"


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script, for a page that opens offline."""
    path = _cache_file()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    import vl_convert

    # a closing script tag inside the bundle would end the inline script early
    text = vl_convert.javascript_bundle().replace("</script", "<\\/script")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: build it next time too
    return text
