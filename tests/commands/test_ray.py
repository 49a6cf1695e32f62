"""The batch commands on a local Ray instance (the ``cluster`` extra, in the test extra).

- the output of ``embed``, ``auto`` and ``segment-boxes`` with ``--ray`` equals the
  single-process run on the same inputs (same files, same ids, same order);
- a worker process killed while it works costs only its in-flight images, which are
  retried: every image is done exactly once; an image that kills its worker every time
  is listed after a bounded number of attempts, never retried forever;
- an interrupted driver exits 130 and the rerun continues to the same output;
- the base app and the commands without ``--ray`` never import Ray.

One small Ray instance (2 CPUs) serves the whole module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sam_annotator.__main__ import main
from sam_annotator.commands.runner import Failed, WorkItem
from tests.commands.ray_work import BlockOnceWork, KillerWork
from tests.commands.test_auto import FAST
from tests.commands.test_segment_boxes import detections, segment
from tests.conftest import REPO_ROOT

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
    )
    yield
    ray.shutdown()


def items(count: int) -> list[WorkItem]:
    return [WorkItem(i, f"image{i}.jpg", f"/nowhere/image{i}.jpg") for i in range(count)]


def coco_data(path) -> dict:
    """A COCO file's data without its creation time (the only field two runs may differ in)."""
    data = json.loads(path.read_text())
    data["info"].pop("date_created")
    return data


def wait_for(path, timeout_s: float = 120.0) -> None:
    """Until ``path`` exists (written by another process)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


# -- equality with the single-process run ---------------------------------------------


def test_auto_on_ray_writes_the_single_process_file(local_ray, folder, tiny_checkpoint, tmp_path):
    base = ["auto", str(folder), "--checkpoint", str(tiny_checkpoint), *FAST]
    assert main([*base, "-o", str(tmp_path / "local.json")]) == 0
    assert main([*base, "-o", str(tmp_path / "ray.json"), "--ray", "--workers", "2"]) == 0
    local = coco_data(tmp_path / "local.json")
    assert local["annotations"], "no proposal: the comparison would prove nothing"
    assert coco_data(tmp_path / "ray.json") == local


def test_segment_boxes_on_ray_writes_the_single_process_file(
    local_ray, folder, tiny_checkpoint, tmp_path
):
    boxes = tmp_path / "dets.json"
    boxes.write_text(json.dumps(detections(folder)))
    assert segment(folder, tiny_checkpoint, boxes, tmp_path / "local.json") == 0
    out = tmp_path / "ray.json"
    assert segment(folder, tiny_checkpoint, boxes, out, "--ray", "--workers", "2") == 0
    local = coco_data(tmp_path / "local.json")
    assert local["annotations"]
    assert coco_data(out) == local


def test_embed_on_ray_fills_the_cache_as_a_single_process(
    local_ray, folder, tiny_checkpoint, tmp_path
):
    from sam_annotator.inference.embedding_file import decode_entry

    def embed(cache, *extra):
        args = ["embed", str(folder), "--checkpoint", str(tiny_checkpoint)]
        return main([*args, "--cache-dir", str(cache), *extra])

    assert embed(tmp_path / "local") == 0
    assert embed(tmp_path / "ray", "--ray", "--workers", "2") == 0
    local = sorted(p.name for p in (tmp_path / "local").glob("*.samemb"))
    assert len(local) == 3 and sorted(p.name for p in (tmp_path / "ray").glob("*.samemb")) == local
    for name in local:
        key = name.removesuffix(".samemb")
        a = decode_entry(key, (tmp_path / "local" / name).read_bytes())
        b = decode_entry(key, (tmp_path / "ray" / name).read_bytes())
        assert a.features.equal(b.features) and a.input_size == b.input_size


# -- faults ------------------------------------------------------------------------------


def test_a_worker_killed_mid_image_costs_only_its_in_flight_images(local_ray, tmp_path):
    from sam_annotator.commands.distributed import RayRunner

    markers = tmp_path / "markers"
    markers.mkdir()
    runner = RayRunner(workers=2)
    runner.start(BlockOnceWork(str(markers), block_index=3))
    started = markers / "started-3"
    killed: list[int] = []

    def kill_when_started() -> None:
        wait_for(started)
        pid = int(started.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    try:
        results = list(runner.map(items(12)))
    finally:
        killer.join()
        runner.close()
    assert len(killed) == 1 and killed[0] in runner.pids and runner.replaced == 1
    assert sorted(item.index for item, _ in results) == list(range(12))  # each exactly once
    assert all(outcome == item.index**2 for item, outcome in results)
    attempts = sorted(p.name for p in markers.glob("attempt-3-*"))
    assert len(attempts) == 2  # the killed attempt and its retry, on another process
    assert f"attempt-3-{killed[0]}" in attempts


@pytest.mark.parametrize("workers", [1, 2])
def test_an_image_that_kills_every_worker_is_listed_not_retried_forever(local_ray, workers):
    """With one worker, image 3 always waits behind the poison image 2 on the dying
    actor: it is requeued each time, but only the running image is charged."""
    from sam_annotator.commands.distributed import MAX_ATTEMPTS, RayRunner

    runner = RayRunner(workers=workers)
    runner.start(KillerWork(poison_index=2))
    try:
        results = dict((item.index, outcome) for item, outcome in runner.map(items(6)))
    finally:
        runner.close()
    assert sorted(results) == list(range(6))
    assert isinstance(results[2], Failed) and f"died {MAX_ATTEMPTS} times" in results[2].reason
    assert all(results[i] == i * i for i in (0, 1, 3, 4, 5))
    assert runner.replaced == MAX_ATTEMPTS


def test_an_interrupted_ray_run_resumes_to_the_same_file(
    local_ray, folder, tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    from sam_annotator.commands import runner as runner_module

    base = ["auto", str(folder), "--checkpoint", str(tiny_checkpoint), *FAST]
    assert main([*base, "-o", str(tmp_path / "local.json")]) == 0
    out = tmp_path / "ray.json"
    args = [*base, "-o", str(out), "--ray", "--workers", "2"]
    original = runner_module.Progress.advance
    advanced: list[int] = []

    def interrupted(self, what: str = "") -> None:
        original(self, what)
        advanced.append(1)
        if len(advanced) == 2:
            raise KeyboardInterrupt  # Ctrl+C on the driver after two images

    monkeypatch.setattr(runner_module.Progress, "advance", interrupted)
    assert main(args) == 130
    assert not out.exists() and (tmp_path / "ray.json.partial.json").exists()
    monkeypatch.setattr(runner_module.Progress, "advance", original)
    capsys.readouterr()
    assert main(args) == 0
    assert "resuming: 2 already done" in capsys.readouterr().err
    assert coco_data(out) == coco_data(tmp_path / "local.json")


# -- Ray stays optional -----------------------------------------------------------------


def test_the_app_and_the_commands_without_ray_never_import_it():
    code = (
        "import sys\n"
        "import sam_annotator.__main__, sam_annotator.qt.application\n"
        "import sam_annotator.commands.embed, sam_annotator.commands.auto\n"
        "import sam_annotator.commands.segment_boxes, sam_annotator.commands.batch\n"
        "import sam_annotator.commands.runner, sam_annotator.commands.coco_job\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_ray_without_the_extra_is_a_clear_usage_error(
    folder, tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "sam_annotator.commands.distributed", raising=False)
    args = ["auto", str(folder), "-o", str(tmp_path / "o.json"), "--checkpoint"]
    assert main([*args, str(tiny_checkpoint), "--ray"]) == 2
    assert "pip install 'sam-annotator[cluster]'" in capsys.readouterr().err
