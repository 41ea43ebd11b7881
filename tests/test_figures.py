"""Every custom plot template, filled by DVC, renders to a PNG with marks on it and to an SVG,
without a browser and without fetching anything."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from PIL import Image

from emosteer.commands import figures
from emosteer.errors import EmosteerError
from tests.test_plots import MARKS, PLOTS_DIR, PLOTS_YAML, ROOT, _dvc, _dvc_config, _fake_plot_data


def ink(png: bytes) -> tuple[float, int]:
    """(fraction of pixels that are not the background, number of distinct colours) of a PNG."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height)  # [(count, colour)]
    background = max(colours)[0]
    return 1 - background / (image.width * image.height), len(colours)


def assert_not_blank(png: bytes) -> None:
    """Axes, labels and marks: a few percent of the pixels drawn, in many colours (a blank or
    failed render is one colour; text alone is greys)."""
    drawn, colours = ink(png)
    assert drawn > 0.02 and colours > 16, (drawn, colours)


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, dict]:
    """DVC's filled spec of every plot in test_plots' PLOTS_YAML (one per custom template)."""
    repo = tmp_path_factory.mktemp("figures_repo")
    _dvc(repo, "init", "--no-scm")
    shutil.copytree(PLOTS_DIR, repo / ".dvc" / "plots", dirs_exist_ok=True)
    _dvc(repo, "config", "plots.html_template", _dvc_config(ROOT))
    (repo / "dvc.yaml").write_text(PLOTS_YAML)
    _fake_plot_data(repo)
    shown = json.loads(_dvc(repo, "plots", "show", "--json"))
    return {title: entries[0]["content"] for title, entries in shown["data"].items()}


def test_every_template_renders_to_png_and_svg(specs, tmp_path):
    assert sorted(specs) == sorted(MARKS)
    for i, (title, spec) in enumerate(specs.items()):
        png, svg = figures.render(spec, tmp_path / f"{i}")
        assert_not_blank(png.read_bytes())
        text = svg.read_text()
        assert text.startswith("<svg") and f">{title}</text>" in text


def test_a_data_url_is_refused_not_fetched(tmp_path):
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "remote",
        "data": {"url": "https://example.invalid/data.csv"},
        "mark": "point",
        "encoding": {"x": {"field": "a", "type": "quantitative"}},
    }
    with pytest.raises(EmosteerError, match="figure 'remote': data from a url"):
        figures.render(spec, tmp_path / "remote")
    assert not list(tmp_path.iterdir())


# A listener on 127.0.0.1 in its own process (vl-convert holds the GIL while it renders, so a
# thread of the test could not answer): it prints its port, then the request line of each request.
LISTENER = """
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(16)
print(srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    print(c.recv(1024).split(b"\\r\\n")[0].decode(errors="replace"), flush=True)
    c.sendall(b"HTTP/1.0 404 Not Found\\r\\nContent-Length: 0\\r\\n\\r\\n"); c.close()
"""


class Listener:
    """The listener process: its port, and `requests()`, which stops it and returns the request
    lines it received."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def requests(self) -> list[str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        lines = [line.strip() for line in self.proc.stdout.read().splitlines() if line.strip()]
        self.proc.wait()
        return lines


@pytest.fixture
def listener():
    heard = Listener()
    try:
        yield heard
    finally:
        heard.requests()


def _image_spec(port: int, channel: str, mark: str) -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "plot",
        "data": {"values": [{"u": f"http://127.0.0.1:{port}/p.png", "x": 1, "y": 2}]},
        "mark": mark,
        "encoding": {
            "x": {"field": "x", "type": "quantitative"},
            "y": {"field": "y", "type": "quantitative"},
            channel: {"field": "u"},
        },
    }


def test_the_listener_hears_vl_convert_fetch_an_image_mark(listener):
    """The control: without `offline`, vl-convert fetches an image mark's url, allowed_base_urls=[]
    or not (the issue measured 3 GETs), and the listener hears it."""
    import vl_convert

    vl_convert.vegalite_to_png(_image_spec(listener.port, "url", "image"), allowed_base_urls=[])
    assert listener.requests() == ["GET /p.png HTTP/1.1"]


def test_rendering_fetches_nothing(listener, tmp_path):
    """An image mark whose url comes from the data is refused; an href link is dropped; data urls
    and image marks inside layers are refused too. The local listener receives no request."""
    port = listener.port
    with pytest.raises(EmosteerError, match="figure 'plot': an image mark"):
        figures.render(_image_spec(port, "url", "image"), tmp_path / "image")
    layered = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "plot",
        "layer": [
            {
                "mark": {"type": "image", "width": 10},
                "data": {"values": [{"u": f"http://127.0.0.1:{port}/l.png"}]},
                "encoding": {"url": {"field": "u"}},
            }
        ],
    }
    with pytest.raises(EmosteerError, match="an image mark"):
        figures.render(layered, tmp_path / "layered")
    lookup = _image_spec(port, "color", "point")
    lookup["transform"] = [{"lookup": "x", "from": {"data": {"url": f"http://127.0.0.1:{port}/d.csv"}, "key": "x"}}]
    with pytest.raises(EmosteerError, match="data from a url"):
        figures.render(lookup, tmp_path / "lookup")
    png, svg = figures.render(_image_spec(port, "href", "point"), tmp_path / "href")
    assert f"127.0.0.1:{port}" not in svg.read_text()  # the link is gone from the SVG
    assert png.exists()
    assert listener.requests() == []


def test_vegalite_version_follows_the_schema_major():
    v5 = figures.vegalite_version({"$schema": "https://vega.github.io/schema/vega-lite/v5.json"})
    assert v5 is not None and v5.startswith("5.")
    assert figures.vegalite_version({}) is None


def test_slug():
    assert figures.slug("Δr vs the unsteered baseline, 95% CI") == "r-vs-the-unsteered-baseline-95-ci"
    assert figures.slug("ΔΔ") == "plot"
