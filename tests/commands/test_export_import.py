"""`sam-annotator export` and `import`: any source to any format through the registry,
options checked per format, reports and exit statuses a script can trust."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from sam_annotator.__main__ import main
from sam_annotator.io.coco import read_coco, write_coco
from sam_annotator.io.project import save_project

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def coco_source(real_data):
    return real_data / "coco" / "instances_val2017_subset.json", real_data / "coco" / "images"


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))


def test_a_coco_file_exports_as_yolo_and_imports_back(coco_source, tmp_path, capsys):
    coco, images = coco_source
    out = tmp_path / "yolo"
    code = main(["export", str(coco), "--images", str(images), "--format", "yolo-seg",
                 "-o", str(out), "--val-fraction", "0.5", "--seed", "3"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "6 images, 36 annotations, 80 categories" in printed
    assert "1 crowd regions left out" in printed
    assert len(yaml.safe_load((out / "data.yaml").read_text())["names"]) == 80
    assert len(list((out / "images" / "val").iterdir())) == 3

    back = tmp_path / "back.json"
    assert main(["import", str(out), "--format", "yolo-seg", "-o", str(back)]) == 0
    printed = capsys.readouterr().out
    assert "6 images (0 missing), 35 annotations read, 0 dropped" in printed
    assert f"sam-annotator {out.resolve()} --coco {back}" in printed
    data = json.loads(back.read_text())
    assert len(data["images"]) == 6 and len(data["annotations"]) == 35
    assert all((out / image["file_name"]).is_file() for image in data["images"])


def test_an_opened_folder_exports_its_project(coco_source, tmp_path, capsys):
    coco, images = coco_source
    folder = shutil.copytree(images, tmp_path / "photos")
    document = read_coco(coco, folder)
    save_project(document, folder / "sam_annotator_project.json")
    out = tmp_path / "out.json"
    assert main(["export", str(folder), "--format", "coco", "-o", str(out)]) == 0
    expected = tmp_path / "expected.json"
    write_coco(document, expected)
    assert json.loads(out.read_text()) == json.loads(expected.read_text())
    # the project file itself is a source as well, with --holes-as-rle for coco
    out2 = tmp_path / "rle.json"
    assert main(["export", str(folder / "sam_annotator_project.json"), "--format", "coco",
                 "-o", str(out2), "--holes-as-rle"]) == 0  # fmt: skip
    assert len(json.loads(out2.read_text())["annotations"]) == 36


def test_bad_requests_exit_2_with_the_reason_and_write_nothing(coco_source, tmp_path, capsys):
    coco, images = coco_source
    out = tmp_path / "out"

    def refused(*argv):
        code = main(list(argv))
        return code, capsys.readouterr().err

    code, err = refused("export", str(coco), "--format", "yolo-seg", "-o", str(out),
                        "--holes-as-rle")  # fmt: skip
    assert code == 2 and "--holes-as-rle does not apply to --format yolo-seg" in err
    code, err = refused("export", str(tmp_path), "--format", "coco", "-o", str(out))
    assert code == 2 and "no project for this folder" in err
    code, err = refused("export", str(tmp_path / "nothing.json"), "--format", "coco",
                        "-o", str(out))  # fmt: skip
    assert code == 2 and "no such file or folder" in err
    (tmp_path / "broken.json").write_text('{"images": [}')
    code, err = refused("export", str(tmp_path / "broken.json"), "--format", "coco",
                        "-o", str(out))  # fmt: skip
    assert code == 2 and "broken.json" in err
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, err = refused("export", str(coco), "--images", str(images), "--format", "yolo-seg",
                        "-o", str(out))  # fmt: skip
    assert code == 2 and "already holds files" in err
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert main(["export", str(coco), "--images", str(images), "--format", "yolo-seg",
                 "-o", str(out), "--force"]) == 0  # fmt: skip
    assert (out / "mine.txt").read_text() == "keep me" and (out / "data.yaml").is_file()
    code, err = refused("import", str(tmp_path), "--format", "yolo-seg", "-o",
                        str(tmp_path / "x.json"))  # fmt: skip
    assert code == 2 and "no data.yaml" in err
    code, err = refused("import", str(out), "--format", "yolo-seg", "-o",
                        str(tmp_path / "x.json"), "--drop-placeholders")  # fmt: skip
    assert code == 2 and "--drop-placeholders does not apply" in err
    assert not (tmp_path / "x.json").exists()


def test_import_with_entries_left_out_exits_1_and_lists_them(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "ds" / "images").mkdir(parents=True)
    (tmp_path / "ds" / "labels").mkdir()
    (tmp_path / "ds" / "data.yaml").write_text("names: [cat]\n")
    Image.new("RGB", (50, 40)).save(tmp_path / "ds" / "images" / "a.png")
    (tmp_path / "ds" / "labels" / "a.txt").write_text("0 0.1 0.1 0.9 0.1 0.5 0.9\n3 0.1 0.1\n")
    out = tmp_path / "a.json"
    assert main(["import", str(tmp_path / "ds"), "--format", "yolo-seg", "-o", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1 annotations read, 1 dropped" in printed
    assert "labels/a.txt:2" in printed
    assert len(json.loads(out.read_text())["annotations"]) == 1


def test_a_foreign_coco_file_imports_with_its_placeholders_dropped_on_request(
    real_data, tmp_path, capsys
):
    source = real_data / "foreign" / "roboflow_dataset_class.coco.json"
    images = real_data / "foreign" / "images"
    kept, dropped = tmp_path / "kept.json", tmp_path / "dropped.json"
    assert main(["import", str(source), "--format", "coco", "--images", str(images),
                 "-o", str(kept)]) == 0  # fmt: skip
    assert "placeholder categories (kept) (1)" in capsys.readouterr().out
    assert main(["import", str(source), "--format", "coco", "--images", str(images),
                 "-o", str(dropped), "--drop-placeholders"]) == 0  # fmt: skip
    assert "placeholder categories dropped (1)" in capsys.readouterr().out
    names = [c["name"] for c in json.loads(dropped.read_text())["categories"]]
    assert len(names) == len(json.loads(kept.read_text())["categories"]) - 1


@pytest.mark.parametrize("name", ["coco", "yolo-seg", "voc", "labelme", "masks"])
def test_every_format_exports_from_the_command_line_and_readable_ones_come_back(
    name, coco_source, tmp_path, capsys
):
    from sam_annotator.io.formats import format_module

    coco, images = coco_source
    out = tmp_path / "out"
    extra = ["--layout", "ids"] if name == "masks" else []
    assert main(["export", str(coco), "--images", str(images), "--format", name,
                 "-o", str(out), *extra]) == 0  # fmt: skip
    assert "6 images, 36 annotations" in capsys.readouterr().out
    module = format_module(name)
    if not module.CAN_READ:
        code = main(["import", str(out), "--format", name, "-o", str(tmp_path / "x.json")])
        assert code == 2 and "cannot be read" in capsys.readouterr().err
        return
    source = out / "annotations.json" if name == "coco" else out
    back = tmp_path / "back.json"
    assert main(["import", str(source), "--format", name, "-o", str(back)] +
                (["--images", str(images)] if name == "coco" else [])) == 0  # fmt: skip
    data = json.loads(back.read_text())
    assert len(data["images"]) == 6
    # YOLO and VOC have no crowd region; the others keep all 36
    assert len(data["annotations"]) == (35 if name in ("yolo-seg", "voc") else 36)
