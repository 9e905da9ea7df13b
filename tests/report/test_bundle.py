"""The Vega bundle is built once and kept on disk; every page inlines the same text."""

from __future__ import annotations

import vl_convert

from socialcredit.report import _bundle


def test_the_bundle_is_cached_on_disk_and_read_back_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _bundle.vega_bundle.cache_clear()
    first = _bundle.vega_bundle()
    files = list((tmp_path / "socialcredit").glob("vega-bundle-*.js"))
    assert len(files) == 1
    assert "</script" not in first  # safe to inline
    assert first == vl_convert.javascript_bundle().replace("</script", "<\\/script")
    _bundle.vega_bundle.cache_clear()
    assert _bundle.vega_bundle() == first  # read from the file
    _bundle.vega_bundle.cache_clear()


def test_without_a_writable_cache_the_bundle_is_built(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    _bundle.vega_bundle.cache_clear()
    assert "vegaEmbed" in _bundle.vega_bundle()
    _bundle.vega_bundle.cache_clear()
