"""Small fake engines for Qt tests: deterministic, instrumented, optionally slow."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from sam_annotator.model.prompt_types import Candidate, PromptSet


@dataclass(frozen=True)
class FakeEncoding:
    image_id_hint: int
    original_size: tuple[int, int]
    model_id: str
    nbytes: int = 1000


class FakeSegmenter:
    """Encodes instantly (or when `gate` is set); a disc around the first positive click."""

    mask_input_supported = True
    tracking_supported = False
    score_name = "IoU"

    def __init__(self, model_id: str = "fake-1", gate: threading.Event | None = None) -> None:
        self.name = "Fake engine"
        self.model_id = model_id
        self.gate = gate
        self.encoded: list[int] = []
        self.decoded: list[PromptSet] = []
        self.mask_inputs: list[int] = []  # areas of the masks turned into mask prompts
        self.encode_threads: set[int] = set()
        self.decode_threads: set[int] = set()

    def encode(self, image: np.ndarray) -> FakeEncoding:
        self.encode_threads.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait(10)
        hint = int(image[0, 0, 0])
        self.encoded.append(hint)
        return FakeEncoding(hint, image.shape[:2], self.model_id)

    def decode(self, encoded, prompts: PromptSet, *, multimask=True, with_single=False):
        self.decode_threads.add(threading.get_ident())
        self.decoded.append(prompts)
        if not prompts.defines_object:
            return []
        x, y = prompts.positive_points[0] if prompts.positive_points else prompts.box[:2]
        alternatives = [(10, 0.6, 0), (20, 0.9, 1), (30, 0.3, 2)] if multimask else []
        single = [(15, 0.7, 3)] if with_single or not multimask else []
        radii, scores, indexes = zip(*alternatives, *single, strict=True)
        candidates = [
            Candidate(
                score=s, low_res_logits=np.zeros((256, 256), np.float32), index=i, payload=(x, y, r)
            )
            for r, s, i in zip(radii, scores, indexes, strict=True)
        ]
        return sorted(candidates, key=lambda c: c.score, reverse=True)

    def mask_input_from_mask(self, encoded, mask: np.ndarray) -> np.ndarray:
        """A 1x256x256 mask prompt whose first value is the mask's area (for tests)."""
        self.mask_inputs.append(int(mask.sum()))
        prompt = np.zeros((1, 256, 256), np.float32)
        prompt[0, 0, 0] = mask.sum()
        return prompt

    def render(self, encoded, candidate: Candidate, size=None) -> np.ndarray:
        height, width = encoded.original_size
        out_h, out_w = size or (height, width)
        x, y, r = candidate.payload
        yy, xx = np.mgrid[0:out_h, 0:out_w]
        sy, sx = height / out_h, width / out_w
        return ((xx + 0.5) * sx - x) ** 2 + ((yy + 0.5) * sy - y) ** 2 <= r * r
