"""Polygon fidelity of mask_to_polygons on real COCO masks, and its cost.

For every annotation of the real COCO files (tests/data): rasterise it with pycocotools (the
"original mask"), convert with mask_to_polygons, rasterise the result with pycocotools
again, and compare: IoU, parts (8-connected) and holes kept, vertex counts.

    python bench/polygon_fidelity.py [DATA_DIR] [--tolerances 0 0.25 0.5 1]

Prints IoU (min / median) per size class (>= 1000 px, 100-1000 px, < 100 px), vertex
counts, and the time per mask against a reference measured in the same run
(cv2.findContours + cv2.approxPolyDP, the usual approach that loses holes and shifts
outlines by half a pixel), as a ratio. tests/model/test_polygon_fidelity.py asserts
the thresholds with `measure_file`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools.coco import COCO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sam_annotator.model.geometry import (  # noqa: E402
    DEFAULT_TOLERANCE,
    mask_to_polygons,
    polygons_to_mask,
)

DATASETS = ("coco/instances_val2017_subset.json", "coco_labelme/annotations.json")


@dataclass(frozen=True)
class Measurement:
    annotation_id: int
    pixels: int
    iou: float
    vertices: int  # of our polygons
    source_vertices: int | None  # of the file's polygons (None for RLE)
    parts: int  # 8-connected parts of the original mask
    parts_kept: int  # ... of the round-tripped mask
    holes: int  # 4-connected background regions not touching the border
    holes_kept: int
    seconds: float


def count_parts(mask: np.ndarray) -> int:
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1


def count_holes(mask: np.ndarray) -> int:
    padded = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    return cv2.connectedComponents(padded, connectivity=4)[0] - 2


def load_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def original_masks(path: Path) -> list[tuple[dict, np.ndarray]]:
    coco = load_coco(path)
    return [(a, coco.annToMask(a).astype(bool)) for a in coco.dataset["annotations"]]


def measure_file(path: Path, tolerance: float = DEFAULT_TOLERANCE) -> list[Measurement]:
    results = []
    for annotation, mask in original_masks(path):
        start = time.perf_counter()
        polygons = mask_to_polygons(mask, tolerance=tolerance).polygons
        seconds = time.perf_counter() - start
        back = polygons_to_mask(polygons, *mask.shape) if polygons else np.zeros_like(mask)
        union = np.logical_or(mask, back).sum()
        segmentation = annotation["segmentation"]
        results.append(
            Measurement(
                annotation_id=annotation["id"],
                pixels=int(mask.sum()),
                iou=float(np.logical_and(mask, back).sum() / union) if union else 1.0,
                vertices=sum(len(p) // 2 for p in polygons),
                source_vertices=sum(len(p) // 2 for p in segmentation)
                if isinstance(segmentation, list)
                else None,
                parts=count_parts(mask),
                parts_kept=count_parts(back),
                holes=count_holes(mask),
                holes_kept=count_holes(back),
                seconds=seconds,
            )
        )
    return results


def reference_seconds(path: Path) -> float:
    """Total time of findContours + approxPolyDP(1 px) over the same masks."""
    total = 0.0
    for _, mask in original_masks(path):
        start = time.perf_counter()
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        [cv2.approxPolyDP(c, 1.0, True) for c in contours]
        total += time.perf_counter() - start
    return total


def size_class(pixels: int) -> str:
    return ">=1000px" if pixels >= 1000 else "100-1000px" if pixels >= 100 else "<100px"


def summarize(name: str, tolerance: float, results: list[Measurement]) -> dict:
    summary: dict = {"dataset": name, "tolerance": tolerance, "annotations": len(results)}
    for label in (">=1000px", "100-1000px", "<100px"):
        ious = [r.iou for r in results if size_class(r.pixels) == label]
        if ious:
            summary[label] = {
                "n": len(ious),
                "min_iou": round(min(ious), 4),
                "median_iou": round(statistics.median(ious), 4),
            }
    summary["parts_kept"] = f"{sum(r.parts_kept for r in results)}/{sum(r.parts for r in results)}"
    summary["holes_kept"] = f"{sum(r.holes_kept for r in results)}/{sum(r.holes for r in results)}"
    summary["vertices_total"] = sum(r.vertices for r in results)
    summary["vertices_median"] = statistics.median(r.vertices for r in results)
    source = [r.source_vertices for r in results if r.source_vertices is not None]
    summary["source_polygon_vertices_total"] = sum(source)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(__file__).resolve().parent.parent / "tests" / "data"
    parser.add_argument("data", nargs="?", type=Path, default=default_data)
    parser.add_argument(
        "--tolerances", nargs="+", type=float, default=[0.0, 0.25, DEFAULT_TOLERANCE, 1.0]
    )
    args = parser.parse_args()
    for dataset in DATASETS:
        path = args.data / dataset
        for tolerance in args.tolerances:
            print(json.dumps(summarize(dataset, tolerance, measure_file(path, tolerance))))
        ours = min(sum(r.seconds for r in measure_file(path)) for _ in range(3))
        reference = min(reference_seconds(path) for _ in range(3))
        print(
            f"{dataset}: mask_to_polygons {ours * 1e3:.1f} ms for all masks, "
            f"findContours+approxPolyDP {reference * 1e3:.1f} ms, ratio {ours / reference:.1f}x"
        )


if __name__ == "__main__":
    main()
