"""SAM behind the Segmenter interface (see segmenter.py for the contract).

- `encode`: `SamPredictor.set_image` + `export_embedding` -> `SamEncoding` (slow).
- `decode`: restores that embedding in a second predictor and runs the prompt encoder
  and mask decoder ONCE per prompt set: the decoder always computes the three multimask
  outputs and the single output, so `with_single=True` costs nothing extra. Nothing is
  upsampled: candidates keep SAM's 256x256 low-res logits (read-only).
- `render`: at the full original size, exactly the official post-processing (so accepted
  masks are the official masks); at any other size, one affine resample of the low-res
  logits (cheap enough for the canvas overlay and the previews).

Two predictors share one model, so one thread may encode (e.g. prefetch the next image)
while another decodes clicks on the current image: the encoder and the decoder are
different modules and inference does not mutate them.

Coordinates: prompts arrive in continuous image coordinates (pixel (i, j) covers
[j, j+1) x [i, i+1)); SAM expects pixel indexes (its prompt encoder adds 0.5 to reach
the pixel centre), so 0.5 is subtracted from every coordinate here.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from sam_annotator.inference.segmenter import (
    SINGLE_MASK_INDEX,
    Candidate,
    PromptSet,
    check_rgb_image,
    check_size,
)
from sam_core import ImageEmbedding, SamPredictor, detect_model_type, load_sam
from sam_core.modeling import Sam

PIXEL_CENTRE = 0.5


@dataclass(frozen=True, eq=False)
class SamEncoding:
    """One encoded image: SAM's embedding and the sizes needed to decode prompts."""

    embedding: ImageEmbedding

    @property
    def original_size(self) -> tuple[int, int]:
        return self.embedding.original_size

    @property
    def model_id(self) -> str:
        return self.embedding.model_id

    @property
    def nbytes(self) -> int:
        features = self.embedding.features
        return features.numel() * features.element_size()


class SamSegmenter:
    """SAM (any registry type) as a Segmenter.

    The segmenter identifies its model's weights once, when built (hashing the weights
    again on every click would cost ~1 ms): to use other weights, build another segmenter,
    as the app does. An encoding made after the weights were changed in place carries a
    different id and is refused.
    """

    mask_input_supported = True
    score_name = "IoU"  # Candidate.score is SAM's predicted IoU

    def __init__(self, model: Sam, model_type: str | None = None) -> None:
        self.model = model.eval()
        self.model_type = model_type or detect_model_type(model.state_dict())
        self._encoder = SamPredictor(model)
        self._decoder = SamPredictor(model)
        self._decoder_encoding: SamEncoding | None = None
        self._model_id = self._encoder.model_id
        self._encode_lock = threading.Lock()
        self._decode_lock = threading.Lock()

    @property
    def name(self) -> str:
        family = "MobileSAM" if self.model_type == "vit_t" else "SAM"
        return f"{family} {self.model_type}"

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def device(self) -> torch.device:
        return self._encoder.device

    def encode(self, image: np.ndarray) -> SamEncoding:
        image = check_rgb_image(image)
        with self._encode_lock:
            self._encoder.set_image(image)
            embedding = self._encoder.export_embedding()
            self._encoder.reset_image()  # the features live on in the embedding only
        return SamEncoding(embedding)

    def restore(self, embedding: ImageEmbedding) -> SamEncoding:
        """An encoding from a stored embedding (e.g. the disk cache); checks the model."""
        if embedding.model_id != self.model_id:
            raise ValueError(
                f"the embedding was computed by {embedding.model_id}, not by {self.model_id}"
            )
        return SamEncoding(embedding)

    def decode(
        self,
        encoded: SamEncoding,
        prompts: PromptSet,
        *,
        multimask: bool = True,
        with_single: bool = False,
    ) -> list[Candidate]:
        """SAM's 3 multimask candidates (plus the single output with ``with_single``; only
        that one with ``multimask=False``), best first, from ONE decoder call: the decoder
        always computes all four outputs. Low-res logits, read-only, nothing upsampled."""
        self._check_encoding(encoded)
        if not prompts.defines_object:
            return []
        with self._decode_lock:
            if self._decoder_encoding is not encoded:
                self._decoder.set_embedding(encoded.embedding)
                self._decoder_encoding = encoded
            low_res, scores = self._decoder.predict_low_res(**_predictor_prompts(prompts))
        low_res.setflags(write=False)  # candidates are immutable and shared
        indexes = [*range(SINGLE_MASK_INDEX)] if multimask else []
        if with_single or not multimask:
            indexes.append(SINGLE_MASK_INDEX)
        candidates = [
            Candidate(score=float(scores[i]), low_res_logits=low_res[i], index=i) for i in indexes
        ]
        candidates.sort(key=lambda c: c.score, reverse=True)
        return candidates

    def render(
        self, encoded: SamEncoding, candidate: Candidate, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        self._check_encoding(encoded)
        if candidate.low_res_logits is None:
            raise ValueError("this candidate has no SAM logits (it comes from another engine)")
        height, width = check_size(size, encoded.original_size)
        logits = np.asarray(candidate.low_res_logits, dtype=np.float32)
        if (height, width) == encoded.original_size:
            return self._render_official(encoded, logits)
        resampled = _resample_logits(logits, encoded.embedding.input_size, (height, width))
        return resampled > self.model.mask_threshold

    def _render_official(self, encoded: SamEncoding, logits: np.ndarray) -> np.ndarray:
        embedding = encoded.embedding
        with torch.inference_mode():
            tensor = torch.tensor(logits)[None, None]  # a copy: logits may be read-only
            masks = self.model.postprocess_masks(
                tensor, embedding.input_size, embedding.original_size
            )
        return (masks[0, 0] > self.model.mask_threshold).numpy()

    def _check_encoding(self, encoded: object) -> None:
        if not isinstance(encoded, SamEncoding):
            raise ValueError(f"SAM cannot use an encoding of type {type(encoded).__name__}")
        if encoded.model_id != self.model_id:
            raise ValueError(
                f"this image was encoded by {encoded.model_id}, not by {self.model_id}"
            )


def _predictor_prompts(prompts: PromptSet) -> dict[str, np.ndarray | None]:
    """A PromptSet (continuous image coordinates) -> SamPredictor keyword arguments
    (pixel indexes: minus PIXEL_CENTRE; mask_input as is: the predictor copies it)."""
    coords = prompts.point_coords()
    box = prompts.box_array()
    return {
        "point_coords": None if coords is None else coords - PIXEL_CENTRE,
        "point_labels": prompts.point_labels(),
        "box": None if box is None else box - PIXEL_CENTRE,
        "mask_input": prompts.mask_input,
    }


def _resample_logits(
    logits: np.ndarray, input_size: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """256x256 low-res logits -> logits of the original image at `size`, one bilinear step.

    The low-res grid covers the padded square input; the image occupies its top-left
    input_size/4 part (not a whole number of cells in general). Output pixel (i, j) samples
    the grid at ``((j + 0.5) * sx - 0.5, (i + 0.5) * sy - 0.5)`` with ``sx = part width /
    width``, bilinear, edges replicated: an affine warp, computed as ``cv2.resize`` with the
    exact scale factors (several times faster than ``warpAffine``). The crop keeps one
    cell beyond the image part, so the last samples interpolate real neighbours.
    """
    side = logits.shape[0]
    padded = 1024.0  # the square SAM input the low-res grid spans
    valid_h = input_size[0] * side / padded
    valid_w = input_size[1] * side / padded
    height, width = size
    crop = logits[: min(side, math.ceil(valid_h) + 1), : min(side, math.ceil(valid_w) + 1)]
    # With dsize (0, 0), resize uses fx, fy exactly and makes round(crop * f) pixels: at
    # least `size`, as the crop is at least the image part.
    scaled = cv2.resize(
        crop, (0, 0), fx=width / valid_w, fy=height / valid_h, interpolation=cv2.INTER_LINEAR
    )
    return scaled[:height, :width]


def load_sam_segmenter(
    checkpoint: str | Path, model_type: str | None = None, device: str = "cpu"
) -> SamSegmenter:
    """Load a checkpoint (type detected from its shapes unless given) as a SamSegmenter.

    Raises sam_core's CheckpointError (a ValueError) with a specific message.
    """
    model = load_sam(checkpoint, model_type=model_type, device=device)
    return SamSegmenter(model)
