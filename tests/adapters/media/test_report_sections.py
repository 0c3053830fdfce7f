"""Report sections (#23 item 5): a page is a list of sections drawn from results in memory; its
manifest rebuilds it byte for byte without knowing who wrote it; a section shows itself in a notebook."""

import json
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("imageio")

import stviz_core as sv  # noqa: E402
from stviz_adapters.cli import main  # noqa: E402
from stviz_adapters.media.manuscript import Pair  # noqa: E402
from stviz_adapters.media.report import MANIFEST, rebuild_report, write_report  # noqa: E402
from stviz_adapters.media.sections import (ClipPairs, FigureGrid, ResultCards, Section,  # noqa: E402
                                           cards_by_layer)
from stviz_core.testing import LinearBackend  # noqa: E402

QUIET = dict(log=lambda *a: None)


def two_stream(layer, gamma=1.0, n=2, seed=0):
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, n)), "flow": np.ones((4, 3, 3, 2, n))},
                       {"rgb": ((1, 12, 12, 3), "appearance"), "flow": ((4, 12, 12, 2), "motion")},
                       xp=np)
    result = sv.ascend(be, [sv.channel(c) for c in range(n)], steps=2, seed=seed,
                       preset=sv.presets.paper(gamma=gamma), rho=5, stride=1)
    result.config["layer"] = layer
    return result


class _Bars:
    per_class = np.array([[1.0, 0.5], [0.2, 2.0], [0.3, 1.0]])
    classes = ["a", "b", "c"]


def page_files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in [*folder.glob("*.png"), folder / "index.html", *(folder / "media").iterdir()]}


def every_section(tmp_path):
    """Sections of each kind over results only in memory, except ``saved``, which is in the folder."""
    saved, a0, a5 = two_stream("conv5", 1.0), two_stream("fc8", 0.0), two_stream("fc8", 5.0, seed=1)
    saved.save(tmp_path / "kept")
    clip = {k: v[0] for k, v in saved.inputs.items()}
    grid = FigureGrid("fc8 <x>", {"gamma = 0": a0, "gamma = 5": a5}, "fc8", unit_labels=["u0", "u1"],
                      activity=_Bars(), channels=[0, 1], top_clips=[np.full((6, 6, 3), 90, np.uint8)] * 2)
    pairs = ClipPairs([Pair("Reconstructions", clip, saved, n, f"row {n}") for n in range(2)])
    cards = cards_by_layer([("kept", saved), ("fc8_g0", a0), ("fc8_g5", a5)],
                           {("conv5", saved.config["objectives"][1]): "named <unit>"}, {"fc8": "Class units"})
    return [grid, *cards, pairs], (saved, a0, a5)


def test_the_page_is_drawn_from_memory_and_rebuilt_from_its_manifest_byte_for_byte(tmp_path):
    sections, _ = every_section(tmp_path)
    page = write_report(tmp_path, sections, title="t <page>", **QUIET)
    text = page.read_text()
    # comparisons, figures, cards: by order, as given within one
    assert text.index("Reconstructions") < text.index("grid_fc8__x_.png") < text.index("Class units") \
        < text.index("layer conv5")
    assert "<b>named &lt;unit&gt;</b>" in text and "t &lt;page&gt;" in text
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    kinds = [e["section"].rpartition(":")[2] for e in manifest["sections"]]
    assert kinds == ["ClipPairs", "FigureGrid", "ResultCards", "ResultCards"]
    refs = json.dumps(manifest)
    assert '"kept"' in refs and "report/kept" not in refs  # a result in the folder is named, not copied
    assert (tmp_path / "report" / "fc8_g0.npz").is_file()  # one only in memory is kept for the rebuild
    written = page_files(tmp_path)
    for name in written:
        (tmp_path / name).unlink()
    assert main(["report", str(tmp_path), "--quiet"]) == 0
    again = page_files(tmp_path)
    assert again.keys() == written.keys()
    for name, data in written.items():
        assert again[name] == data, f"{name} differs"
    assert json.loads((tmp_path / MANIFEST).read_text()) == manifest


def test_by_layer_adds_the_layer_figure_and_stale_kept_files_go(tmp_path):
    sections, (saved, a0, a5) = every_section(tmp_path)
    write_report(tmp_path, sections, **QUIET)
    rebuild_report(tmp_path, by_layer=True, most=2, **QUIET)
    text = (tmp_path / "index.html").read_text()
    assert (tmp_path / "layers.png").is_file() and "layers.png" in text
    assert text.index("grid_fc8__x_.png") < text.index("layers.png") < text.index("Class units")
    entry = json.loads((tmp_path / MANIFEST).read_text())["sections"][2]
    assert entry["section"].endswith(":LayerFigure") and entry["record"]["most"] == 2
    write_report(tmp_path, [ResultCards("only", [("kept", saved)])], **QUIET)
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["sections.json"]


def test_a_folder_without_a_manifest_gets_the_generic_page(tmp_path):
    for layer, gamma in (("conv1", 0.0), ("conv1", 5.0)):
        two_stream(layer, gamma).save(tmp_path / f"{layer}_gamma{gamma:g}")
    rebuild_report(tmp_path, **QUIET)
    text = (tmp_path / "index.html").read_text()
    assert "grid_conv1.png" in text and "layer conv1" in text and text.count(".gif'") == 4
    assert (tmp_path / MANIFEST).is_file()
    with pytest.raises(ValueError, match="no results in"):
        rebuild_report(tmp_path / "configs", by_layer=True, **QUIET)


@pytest.mark.parametrize("section, message", [
    ("os:system", "not a class of stviz_adapters"),
    ("stviz_adapters.media.report:write_report", "is not a report section")])
def test_a_manifest_names_sections_of_stviz_only(tmp_path, section, message):
    (tmp_path / "report").mkdir()
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "stviz-report", "version": 1, "title": "t",
                                                 "sections": [{"section": section, "record": {}}]}))
    assert main(["report", str(tmp_path), "--quiet"]) == 1
    with pytest.raises(ValueError, match=message):
        rebuild_report(tmp_path, **QUIET)


def test_a_manifest_names_files_inside_its_folder_only(tmp_path):
    (tmp_path / "report").mkdir()
    record = {"title": "t", "results": [["x", "../outside"]], "unit_names": []}
    (tmp_path / MANIFEST).write_text(json.dumps({
        "format": "stviz-report", "version": 1, "title": "t",
        "sections": [{"section": "stviz_adapters.media.sections:ResultCards", "record": record}]}))
    with pytest.raises(ValueError, match="outside the report's folder"):
        rebuild_report(tmp_path, **QUIET)


def test_a_new_section_needs_only_its_class(tmp_path, monkeypatch):
    """A subclass in a module of stviz_adapters: written, rebuilt, shown in a notebook, no other change."""
    import stviz_adapters.media.sections as sections

    class Note(Section):
        order = 0

        def __init__(self, title):
            self.title = title

        def render(self, media):
            return f"<p class='note'>{self.title}</p>"

        def record(self, store):
            return {"title": self.title}

        @classmethod
        def restore(cls, store, record):
            return cls(record["title"])

    Note.__module__, Note.__qualname__ = sections.__name__, "Note"
    monkeypatch.setattr(sections, "Note", Note, raising=False)
    write_report(tmp_path, [ResultCards("cards", [("r", two_stream("a"))]), Note("hello")], **QUIET)
    (tmp_path / "index.html").unlink()
    rebuild_report(tmp_path, **QUIET)
    text = (tmp_path / "index.html").read_text()
    assert text.index("<p class='note'>hello</p>") < text.index("cards")
    assert "hello" in Note("hello")._repr_html_()


def test_a_section_shows_itself_in_a_notebook_with_its_clips_inline_and_text_escaped():
    result = two_stream("<script>alert(1)</script>", n=3)
    cards = ResultCards("<script>x</script> cards", [("s", result)])
    page = cards._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt; cards" in page
    assert page.count("src='data:image/gif;base64,") == 3  # each visualization's flow plays
    assert page.count("src='data:image/png;base64,") == 3  # its one appearance frame
    assert "configs/" not in page and "href=" not in page  # nothing written, nothing linked
    styles = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert all(rule.strip().startswith(".stviz-section") for rule in styles.split("}") if rule.strip())
    grid = FigureGrid("g", {"gamma = 1": result}, "grid <t>")._repr_html_()
    assert grid.count("src='data:image/png;base64,") == 1 and "grid_g.png" in grid


def test_the_01_names_and_keywords_still_work(tmp_path):
    from stviz_adapters.media.report import Grid, Pair as ReportPair, grids_by_layer

    assert Grid is FigureGrid and ReportPair is Pair
    result = two_stream("conv1")
    result.save(tmp_path / "conv1_gamma1")
    write_report(tmp_path, grids_by_layer([("conv1_gamma1", result)]), pairs=[
        Pair("Reconstructions", {k: v[0] for k, v in result.inputs.items()}, result, 0, "c")], **QUIET)
    text = (tmp_path / "index.html").read_text()
    assert text.index("Reconstructions") < text.index("grid_conv1.png") < text.index("layer conv1")


def test_a_sweep_page_names_its_cells_and_stviz_report_rebuilds_it(tmp_path):
    pytest.importorskip("torch")
    from stviz_adapters.sweep.grid import Grid as SweepGridFile
    from stviz_adapters.sweep.run import run_sweep

    out = tmp_path / "sweep"
    grid = SweepGridFile.from_dict({"model": "stviz_adapters.demo.model:load_demo_model",
                                    "layers": ["fc8"], "units": [0], "gamma": [0, 1], "steps": 2})
    run_sweep(grid, out, log=lambda *a: None)
    manifest = json.loads((out / MANIFEST).read_text())
    kinds = [e["section"] for e in manifest["sections"]]
    assert kinds == ["stviz_adapters.sweep.report:SweepGrid", "stviz_adapters.sweep.report:SweepCards"]
    assert manifest["sections"][0]["record"]["columns"][0][1] == {"cells": manifest["sections"][0][
        "record"]["cells"]["gamma = 0"]}
    assert sorted(p.name for p in (out / "report").iterdir()) == ["sections.json"]  # nothing copied
    written = page_files(out)
    for name in written:
        (out / name).unlink()
    assert main(["report", str(out), "--quiet"]) == 0
    assert page_files(out) == written
