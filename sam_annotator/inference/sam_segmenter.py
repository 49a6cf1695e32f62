"""SAM, MobileSAM and SAM 2 / 2.1 behind the Segmenter interface (see segmenter.py for
the contract). The families differ only in their predictor (``SamPredictor`` or
``SAM2ImagePredictor``, the same methods here), the frame of their low-res logits
(SAM 2 squashes the image to the square: ``single_resize``) and their mask generator
(``SamAutomaticMaskGenerator`` or ``SAM2AutomaticMaskGenerator``) for "segment
everything".

- `encode`: `SamPredictor.set_image` + `export_embedding` -> `SamEncoding` (slow).
- `decode`: restores that embedding in a second predictor and runs the prompt encoder
  and mask decoder ONCE per prompt set: the decoder always computes the three multimask
  outputs and the single output, so `with_single=True` costs nothing extra. Nothing is
  upsampled: candidates keep SAM's 256x256 low-res logits (read-only).
- `render`: ``sam_core.logits_to_size``: at the full original size exactly the official
  post-processing (so accepted masks are the official masks); at any other size one
  affine resample of the low-res logits (cheap enough for the canvas overlay and the
  previews).
- `mask_input_from_mask`: ``sam_core.mask_to_logits``, an annotation as a mask prompt.
- `propose_all`: the family's automatic mask generator on the image, reusing its
  embedding.

Two predictors share one model, so one thread may encode (e.g. prefetch the next image)
while another decodes clicks on the current image: the encoder and the decoder are
different modules and inference does not mutate them.

Coordinates: prompts arrive in continuous image coordinates (pixel (i, j) covers
[j, j+1) x [i, i+1)); SAM expects pixel indexes (its prompt encoder adds 0.5 to reach
the pixel centre), so 0.5 is subtracted from every coordinate here.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sam_annotator.inference.sam2_tracking import track_object
from sam_annotator.inference.segmenter import (
    FrameAnswer,
    Progress,
    ProposalsCancelledError,
    ProposalSettings,
    TrackRequest,
    UnsupportedOperationError,
    check_rgb_image,
    check_size,
    proposals_from_records,
)
from sam_annotator.model.prompt_types import Candidate, PromptSet
from sam_annotator.model.proposals import Proposal
from sam_core import (
    SINGLE_OUTPUT,
    GenerationCancelled,
    ImageEmbedding,
    SamAutomaticMaskGenerator,
    SamPredictor,
    detect_model_type,
    load_sam,
    logits_to_size,
    mask_to_logits,
)
from sam_core.modeling import Sam
from sam_core.sam2 import Sam2, SAM2AutomaticMaskGenerator, SAM2ImagePredictor
from sam_core.sam2.tracker import Sam2Tracker

PIXEL_CENTRE = 0.5


@dataclass(frozen=True, eq=False)
class SamEncoding:
    """One encoded image: the model's embedding (every feature level) and the sizes needed
    to decode prompts."""

    embedding: ImageEmbedding

    @property
    def original_size(self) -> tuple[int, int]:
        return self.embedding.original_size

    @property
    def model_id(self) -> str:
        return self.embedding.model_id

    @property
    def nbytes(self) -> int:
        return self.embedding.nbytes  # SAM 2: its high-resolution levels too


class SamSegmenter:
    """SAM (any registry type: SAM, MobileSAM, SAM 2 / 2.1) as a Segmenter.

    The segmenter identifies its model's weights once, when built (hashing the weights
    again on every click would cost ~1 ms): to use other weights, build another segmenter,
    as the app does. An encoding made after the weights were changed in place carries a
    different id and is refused.
    """

    mask_input_supported = True
    score_name = "IoU"  # Candidate.score is SAM's predicted IoU

    def __init__(self, model: Sam | Sam2, model_type: str | None = None) -> None:
        self.model = model.eval()
        self.is_sam2 = isinstance(model, Sam2)
        if isinstance(model, Sam2):
            self.model_type = model.model_type
            self._encoder: SamPredictor | SAM2ImagePredictor = SAM2ImagePredictor(model)
            self._decoder: SamPredictor | SAM2ImagePredictor = SAM2ImagePredictor(model)
            self._image_size = model.image_size
            self._mask_input_size = tuple(model.sam_prompt_encoder.mask_input_size)
        else:
            self.model_type = model_type or detect_model_type(model.state_dict())
            self._encoder = SamPredictor(model)
            self._decoder = SamPredictor(model)
            self._image_size = model.image_encoder.img_size
            self._mask_input_size = tuple(model.prompt_encoder.mask_input_size)
        self._decoder_encoding: SamEncoding | None = None
        self._model_id = self._encoder.model_id
        self._encode_lock = threading.Lock()
        self._decode_lock = threading.Lock()

    @property
    def name(self) -> str:
        if self.is_sam2:  # "sam2.1_hiera_t" -> "SAM 2.1 hiera_t"
            version, size = self.model_type.split("_", 1)
            return f"SAM {version[3:]} {size}"
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
            # The features live on in the embedding only.
            if isinstance(self._encoder, SAM2ImagePredictor):
                self._encoder.reset_predictor()
            else:
                self._encoder.reset_image()
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
        self._check_mask_input(prompts.mask_input)
        with self._decode_lock:
            if self._decoder_encoding is not encoded:
                self._decoder.set_embedding(encoded.embedding)
                self._decoder_encoding = encoded
            low_res, scores = self._decoder.predict_low_res(**_predictor_prompts(prompts))
        low_res.setflags(write=False)  # candidates are immutable and shared
        indexes = [*range(SINGLE_OUTPUT)] if multimask else []
        if with_single or not multimask:
            indexes.append(SINGLE_OUTPUT)
        candidates = [
            Candidate(
                score=float(scores[i]),
                low_res_logits=low_res[i],
                index=i,
                description="single" if i == SINGLE_OUTPUT else "",
            )
            for i in indexes
        ]
        candidates.sort(key=lambda c: c.score, reverse=True)
        return candidates

    def render(
        self, encoded: SamEncoding, candidate: Candidate, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        self._check_encoding(encoded)
        if candidate.low_res_logits is None:
            raise ValueError("this candidate has no SAM logits (it comes from another engine)")
        size = check_size(size, encoded.original_size)
        embedding = encoded.embedding
        logits = logits_to_size(
            candidate.low_res_logits,
            embedding.input_size,
            embedding.original_size,
            self._image_size,
            size,
            single_resize=self.is_sam2,
        )
        return logits > self.model.mask_threshold

    def mask_input_from_mask(self, encoded: SamEncoding, mask: np.ndarray) -> np.ndarray:
        self._check_encoding(encoded)
        mask = np.asarray(mask)
        if mask.shape != encoded.original_size:
            raise ValueError(
                f"the mask is {mask.shape}, the image {encoded.original_size} (height, width)"
            )
        side = self._mask_input_size[0]
        return mask_to_logits(mask, encoded.embedding.input_size, self._image_size, side)

    def propose_all(
        self,
        encoded: SamEncoding,
        image: np.ndarray,
        settings: ProposalSettings | None = None,
        *,
        progress: Progress | None = None,
        cancel: Any = None,
    ) -> list[Proposal]:
        self._check_encoding(encoded)
        image = check_rgb_image(image)
        options = asdict(settings or ProposalSettings())
        if isinstance(self.model, Sam2):
            generator: SamAutomaticMaskGenerator = SAM2AutomaticMaskGenerator(self.model, **options)
        else:
            generator = SamAutomaticMaskGenerator(self.model, **options)
        try:
            records = generator.generate(
                image, progress=progress, cancel=cancel, embedding=encoded.embedding
            )
        except GenerationCancelled:
            raise ProposalsCancelledError("segment everything was cancelled") from None
        return proposals_from_records(records)

    @property
    def tracking_supported(self) -> bool:
        return isinstance(self.model, Sam2Tracker)

    def track(self, request: TrackRequest, on_frame: FrameAnswer, *, cancel=None) -> None:
        if not self.tracking_supported:
            why = (
                "its checkpoint has no video parts" if self.is_sam2 else "SAM 1 has no video memory"
            )
            raise UnsupportedOperationError(
                f"{self.name} cannot propagate through frames ({why}): load a SAM 2.1 model"
            )
        track_object(self.model, request, on_frame, cancel)

    def _check_mask_input(self, mask_input: np.ndarray | None) -> None:
        expected = self._mask_input_size
        if mask_input is not None and tuple(mask_input.shape[-2:]) != expected:
            raise ValueError(
                f"SAM's mask prompt is 1x{expected[0]}x{expected[1]} logits, got {mask_input.shape}"
            )

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


def load_sam_segmenter(
    checkpoint: str | Path, model_type: str | None = None, device: str = "cpu"
) -> SamSegmenter:
    """Load a checkpoint of any supported family (type detected from its shapes unless
    given) as a SamSegmenter.

    Raises sam_core's CheckpointError (a ValueError) with a specific message.
    """
    model = load_sam(checkpoint, model_type=model_type, device=device)
    return SamSegmenter(model)


def check_checkpoint(checkpoint: str | Path, model_type: str) -> None:
    """Raise sam_core's CheckpointError unless ``checkpoint`` loads as ``model_type``
    (used to verify downloads that have no published digest)."""
    load_sam(checkpoint, model_type=model_type)
