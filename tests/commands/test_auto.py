"""`sam-annotator auto`: a folder of images -> a COCO file of proposals, resumable."""

from __future__ import annotations

import pytest
from pycocotools.coco import COCO

from sam_annotator.__main__ import main
from sam_annotator.io.coco import read_coco

FAST = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]


def test_writes_a_coco_file_of_proposals(folder, tiny_checkpoint, tmp_path) -> None:
    out = tmp_path / "proposals.json"
    assert (
        main(["auto", str(folder), "-o", str(out), "--checkpoint", str(tiny_checkpoint), *FAST])
        == 0
    )
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 3
    annotations = coco.loadAnns(coco.getAnnIds())
    assert annotations, "no proposal at all"
    assert all("predicted_iou" in a and "stability_score" in a for a in annotations)
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["object"]
    document = read_coco(out, folder)
    assert document.image_by_path("sub/2_truck.jpg") is not None
    assert "sam_annotator_auto" not in document.extra
    assert not (tmp_path / "proposals.json.partial.json").exists()


def test_an_interrupted_run_resumes_where_it_stopped(
    folder, tiny_checkpoint, tmp_path, monkeypatch
):
    out = tmp_path / "proposals.json"
    calls: list[tuple[int, int]] = []
    from sam_core import SamAutomaticMaskGenerator

    original = SamAutomaticMaskGenerator.generate

    def interrupted(self, image, **kwargs):
        calls.append(image.shape[:2])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, image, **kwargs)

    monkeypatch.setattr(SamAutomaticMaskGenerator, "generate", interrupted)
    args = ["auto", str(folder), "-o", str(out), "--checkpoint", str(tiny_checkpoint), *FAST]
    assert main(args) == 130  # the same rule as embed: interrupted, rerun to resume
    partial = tmp_path / "proposals.json.partial.json"
    assert partial.exists() and not out.exists()

    monkeypatch.setattr(SamAutomaticMaskGenerator, "generate", original)
    counted: list[int] = []

    def counting(self, image, **kwargs):
        counted.append(1)
        return original(self, image, **kwargs)

    monkeypatch.setattr(SamAutomaticMaskGenerator, "generate", counting)
    assert main(args) == 0
    assert len(counted) == 2  # the first image was not done again
    assert len(COCO(str(out)).getImgIds()) == 3
    assert not partial.exists()


def test_an_unreadable_partial_file_is_ignored(folder, tiny_checkpoint, tmp_path, capsys) -> None:
    out = tmp_path / "proposals.json"
    partial = tmp_path / "proposals.json.partial.json"
    partial.write_text("{not json")
    assert (
        main(["auto", str(folder), "-o", str(out), "--checkpoint", str(tiny_checkpoint), *FAST])
        == 0
    )
    assert "ignoring an unreadable partial file" in capsys.readouterr().err


def test_a_bad_checkpoint_is_a_clear_error(folder, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    code = main(["auto", str(folder), "-o", str(tmp_path / "x.json"), "--checkpoint", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "sam-annotator auto:" in err and "Traceback" not in err


def test_unreadable_images_are_skipped_and_reported(folder, tiny_checkpoint, tmp_path, capsys):
    (folder / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    out = tmp_path / "proposals.json"
    assert (
        main(["auto", str(folder), "-o", str(out), "--checkpoint", str(tiny_checkpoint), *FAST])
        == 1  # as embed: not every image is in the file (the others are)
    )
    err = capsys.readouterr().err
    assert "skipped zz_broken.jpg" in err and "1 unreadable: zz_broken.jpg" in err
    assert len(COCO(str(out)).getImgIds()) == 3


def test_help_lists_the_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["auto", "--help"])
    text = capsys.readouterr().out
    assert "--points-per-side" in text and "--output" in text
