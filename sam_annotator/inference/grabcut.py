"""GrabCut segmenter: the classical fallback that needs no model weights.

It sits behind the same :class:`~sam_annotator.inference.segmenter.Segmenter` interface
as SAM, so the app is useful offline and the GUI tests can segment real photos.

How a decode works (in a downscaled working frame, never at full resolution):

1. ``encode`` keeps a working copy of the image whose long side is at most
   ``WORK_LONG_SIDE`` pixels (INTER_AREA). That is all the per-image work GrabCut has.
2. ``decode`` picks a region: with a box, the box grown by ``BOX_MARGIN`` (plus any
   clicks), so the background colour model learns from the object's surroundings and a
   small box costs little; with clicks only, the whole image. A region with more than
   ``PIXEL_BUDGET`` pixels is downscaled to that budget, which bounds the decode time.
3. It runs ``cv2.grabCut`` twice (``RUNS``), each run with its own RNG seed, and for
   clicks only with its own object scale, because GrabCut's answer depends on its random
   k-means initialisation and, without a box, on the guessed object size. (On cars.jpg
   with a box around the red car, 5 of 13 seeds collapse to the chrome bumper.) With a
   box, while the best score is below ``RETRY_BELOW``, it tries ``RETRY_SEEDS`` too.
   Each run is:
   - box: pass 1 starts from sure background outside the box and probable foreground
     inside (what ``GC_INIT_WITH_RECT`` sets up). With clicks, they are painted into
     pass 1's result and pass 2 (``GC_INIT_WITH_MASK``) refines it. (Painting them into
     pass 1 instead saves a pass but is unstable: on cars.jpg one negative click made the
     result collapse to the chrome bumper for some seeds; refining a good cut did not.)
   - clicks only: one pass from probable background everywhere, sure background along
     the border and probable foreground in a disc of the run's radius around each
     positive click, with the clicks painted in.
   - mask prompt (an annotation being refined, see ``mask_input_from_mask``), without
     a box: the region is the mask's bounds grown by ``BOX_MARGIN``; one pass starts from
     the mask as probable foreground, the rest as probable background and the region's
     edge as sure background, with the clicks painted in. With a box, the mask sets the
     probable labels inside the box. The parts kept are those with a positive click or
     overlapping the mask, so a negative click alone cuts a part away.
   A click is painted as a sure-label disc plus its colour-similar neighbourhood: the
   pixels within ``WAND_RADIUS`` reachable from the click through colours within
   ``WAND_TOLERANCE`` of the clicked colour (a "magic wand"). So a negative click on a
   part GrabCut wrongly kept removes that part, not only a dot, and a positive click on
   a missed part adds it.
4. Each run gives three masks: the connected parts containing a positive click (with a
   box and no positive click, the largest part); all of GrabCut's foreground; and the
   first one with holes filled and its outline smoothed (morphological close and open).
   They are scored, sorted best first, deduplicated (a mask whose IoU with a better one
   exceeds ``DUPLICATE_IOU`` is dropped) and the best ``MAX_CANDIDATES`` returned with
   ``index`` 0, 1, 2 in that order. With ``multimask=False`` only the best one is
   returned (``index`` 0).

The score is a cheap, honest estimate of mask quality in [0, 1], not a learned IoU:

- with a box: ``clicks * box_fit * min(1, fill / MIN_FILL)``, where ``box_fit`` is the
  IoU of the mask's bounding box with the prompt box (a box prompt is meant to be the
  object's tight box) and ``fill`` the fraction of the box the mask covers (objects
  rarely fill less than ``MIN_FILL`` of their box; a collapsed result does). On the
  large COCO objects in tests/inference this tracks the true IoU within about 0.1 except
  on thin objects (a skateboard: 0.8 for 0.45).
- clicks only: ``clicks * (0.3 + 0.5 * separation)``: GrabCut has to guess the object's
  extent, so the score stays low; ``separation`` (one minus the Bhattacharyya
  coefficient of the colour histograms of the mask and of a thin ring around it) says
  how distinct the mask is from its surroundings.

``clicks`` is the fraction of clicks the mask agrees with (positive inside, negative
outside).

Determinism: OpenCV's RNG (GrabCut's k-means initialisation) is seeded with
``cv2.setRNGSeed`` before every pass, so the same inputs give the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from sam_annotator.inference.grabcut_region import GrabCutRegion
from sam_annotator.inference.segmenter import (
    EncodedImage,
    ProposalSettings,
    UnsupportedOperationError,
    check_rgb_image,
    check_size,
)
from sam_annotator.model.prompt_types import Candidate, PromptSet
from sam_annotator.model.proposals import Proposal

WORK_LONG_SIDE = 640
#: (RNG seed, object radius for clicks only) of each GrabCut run.
RUNS = ((1, 0.07), (2, 0.22))
#: With a box, more seeds are tried while the best score stays below RETRY_BELOW.
RETRY_SEEDS = (3, 4)
RETRY_BELOW = 0.3
MAX_CANDIDATES = 3
DUPLICATE_IOU = 0.95
MIN_FILL = 0.3

#: Side of GrabCut's square mask prompt (the whole image, squashed): the working frame's.
MASK_PROMPT_SIDE = WORK_LONG_SIDE

_MODEL_ID = f"grabcut-v1-{WORK_LONG_SIDE}"


def _check_mask_prompt(mask_input: np.ndarray | None) -> None:
    side = MASK_PROMPT_SIDE
    if mask_input is not None and mask_input.shape != (1, side, side):
        raise ValueError(
            f"GrabCut's mask prompt is 1x{side}x{side} (mask_input_from_mask makes one), "
            f"got {'x'.join(map(str, mask_input.shape))}"
        )


@dataclass(frozen=True, eq=False)
class GrabCutEncoding:
    """A working copy of one image: ``image`` is hxwx3 uint8 RGB, long side <= 640."""

    image: np.ndarray = field(repr=False)
    original_size: tuple[int, int]
    model_id: str = _MODEL_ID

    @property
    def nbytes(self) -> int:
        return int(self.image.nbytes)

    @property
    def scale(self) -> tuple[float, float]:
        """(sy, sx): working-frame pixels per original pixel along y and x."""
        return (
            self.image.shape[0] / self.original_size[0],
            self.image.shape[1] / self.original_size[1],
        )


@dataclass(frozen=True, eq=False)
class _MaskPayload:
    """A candidate's mask: ``mask`` (h x w bool) covers ``roi`` (XYXY, original pixels)."""

    mask: np.ndarray
    roi: tuple[float, float, float, float]
    original_size: tuple[int, int]


class GrabCutSegmenter:
    """OpenCV GrabCut behind the Segmenter interface (see the module docstring).

    It holds no state, so one instance may serve any number of images.
    """

    name = "GrabCut (classical, no model)"
    model_id = _MODEL_ID
    mask_input_supported = True
    tracking_supported = False
    score_name = "score"  # a heuristic quality estimate, not a predicted IoU

    def encode(self, image: np.ndarray) -> GrabCutEncoding:
        """Validate an HxWx3 uint8 RGB image and keep a copy with long side <= 640."""
        image = check_rgb_image(image)
        h, w = image.shape[:2]
        factor = min(1.0, WORK_LONG_SIDE / max(h, w))
        if factor < 1.0:
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            work = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        else:
            work = image.copy()
        work.setflags(write=False)
        return GrabCutEncoding(image=work, original_size=(h, w))

    def decode(
        self,
        encoded: EncodedImage,
        prompts: PromptSet,
        *,
        multimask: bool = True,
        with_single: bool = False,
    ) -> list[Candidate]:
        """Up to 3 candidates, best first (1 with ``multimask=False``); [] without object.

        ``with_single`` adds nothing: the single answer is the best alternative."""
        enc = self._check_encoding(encoded)
        if not prompts.defines_object:
            return []
        _check_mask_prompt(prompts.mask_input)
        region = GrabCutRegion.choose(enc.image, enc.scale, prompts)
        scored: list[tuple[float, str, np.ndarray]] = []

        def run(seed: int, object_radius: float) -> None:
            labels = region.grabcut(prompts, seed, object_radius)
            if labels is not None:
                foreground = labels % 2 == 1  # GC_FGD = 1 and GC_PR_FGD = 3
                for name, mask in _variants(foreground, region, prompts):
                    scored.append((_score(region, mask, prompts), name, mask))

        for seed, object_radius in RUNS:
            run(seed, object_radius)
        for seed in RETRY_SEEDS if prompts.box is not None else ():
            if max((item[0] for item in scored), default=0.0) >= RETRY_BELOW:
                break
            run(seed, 0.0)  # the object radius is used only without a box
        scored.sort(key=lambda item: -item[0])  # stable: ties keep run and variant order
        kept = _distinct(scored)[: MAX_CANDIDATES if multimask else 1]
        return [
            Candidate(
                score=score,
                low_res_logits=None,
                index=rank,
                description=name,
                payload=_MaskPayload(_frozen(mask), region.roi, enc.original_size),
            )
            for rank, (score, name, mask) in enumerate(kept)
        ]

    def render(
        self, encoded: EncodedImage, candidate: Candidate, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """HxW bool mask at ``size`` (h, w), default the original size (bilinear, > 0.5)."""
        enc = self._check_encoding(encoded)
        payload = candidate.payload
        if not isinstance(payload, _MaskPayload) or payload.original_size != enc.original_size:
            raise ValueError("this candidate was not produced by GrabCut for this image")
        out_h, out_w = check_size(size, enc.original_size)
        mask = payload.mask
        x0, y0, x1, y1 = payload.roi
        # Affine map from output pixel centres to mask pixel centres (an inverse warp).
        kx = (x1 - x0) / mask.shape[1] * out_w / enc.original_size[1]
        ky = (y1 - y0) / mask.shape[0] * out_h / enc.original_size[0]
        ox = x0 * out_w / enc.original_size[1]
        oy = y0 * out_h / enc.original_size[0]
        matrix = np.array(
            [[1 / kx, 0, (0.5 - ox) / kx - 0.5], [0, 1 / ky, (0.5 - oy) / ky - 0.5]],
            dtype=np.float64,
        )
        warped = cv2.warpAffine(
            mask.astype(np.float32),
            matrix,
            (out_w, out_h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return warped > 0.5

    def mask_input_from_mask(self, encoded: EncodedImage, mask: np.ndarray) -> np.ndarray:
        """An HxW mask of the image -> GrabCut's 1xSxS mask prompt (S = MASK_PROMPT_SIDE):
        the whole image squashed to SxS, +10 inside the mask and -10 outside (fractions
        in between along its edge), the form of SAM's logits."""
        enc = self._check_encoding(encoded)
        mask = np.asarray(mask)
        if mask.shape != enc.original_size:
            raise ValueError(
                f"the mask is {mask.shape[0]}x{mask.shape[1]}, the image "
                f"{enc.original_size[0]}x{enc.original_size[1]}"
            )
        side = MASK_PROMPT_SIDE
        fraction = cv2.resize(mask.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
        return ((fraction - 0.5) * 20.0)[None].astype(np.float32)

    def propose_all(
        self,
        encoded: EncodedImage,
        image: np.ndarray,
        settings: ProposalSettings | None = None,
        *,
        progress=None,
        cancel=None,
    ) -> list[Proposal]:
        raise UnsupportedOperationError(
            f"Segment everything needs a SAM model; the engine is {self.name}"
        )

    def track(self, request, on_frame, *, cancel=None) -> None:
        raise UnsupportedOperationError(
            "GrabCut cannot propagate through frames: load a SAM 2.1 model (File -> Choose Model)"
        )

    def _check_encoding(self, encoded: EncodedImage) -> GrabCutEncoding:
        if not isinstance(encoded, GrabCutEncoding) or encoded.model_id != self.model_id:
            model = getattr(encoded, "model_id", type(encoded).__name__)
            raise ValueError(f"GrabCut cannot use an image encoded by {model!r}; encode it again")
        return encoded


def _variants(
    foreground: np.ndarray, region: GrabCutRegion, prompts: PromptSet
) -> list[tuple[str, np.ndarray]]:
    """(description, mask) of the object, all-foreground and smoothed variants."""
    if not foreground.any():
        return []
    count, components = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=8)
    keep = {int(components[cy, cx]) for cx, cy, label in region.clicks(prompts) if label == 1}
    if region.prior is not None:  # refining: the parts that overlap the mask prompt too
        keep |= {int(c) for c in np.unique(components[region.prior])}
    keep.discard(0)
    if not keep and not prompts.positive_points:
        sizes = np.bincount(components.ravel(), minlength=count)
        sizes[0] = 0
        keep = {int(np.argmax(sizes))}
    variants = [("all foreground", foreground)]
    if keep:
        obj = np.isin(components, sorted(keep))
        variants = [("object", obj), *variants, ("smoothed", _smoothed(obj))]
    return [(name, mask) for name, mask in variants if mask.any()]


def _smoothed(mask: np.ndarray) -> np.ndarray:
    """``mask`` with holes filled and its outline smoothed (close, then open)."""
    h, w = mask.shape
    radius = max(1, round(0.01 * max(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(closed)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return cv2.morphologyEx(filled, cv2.MORPH_OPEN, kernel).astype(bool)


def _distinct(
    scored: list[tuple[float, str, np.ndarray]],
) -> list[tuple[float, str, np.ndarray]]:
    """Drop an item whose mask has IoU > DUPLICATE_IOU with an earlier kept one."""
    kept: list[tuple[float, str, np.ndarray]] = []
    for item in scored:
        if all(_iou(item[2], other[2]) <= DUPLICATE_IOU for other in kept):
            kept.append(item)
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def _score(region: GrabCutRegion, mask: np.ndarray, prompts: PromptSet) -> float:
    """The quality estimate described in the module docstring, in [0, 1]."""
    clicks = region.clicks(prompts)
    agree = sum(1 for cx, cy, label in clicks if bool(mask[cy, cx]) == (label == 1))
    click_term = agree / len(clicks) if clicks else 1.0
    if region.box is None:
        return float(np.clip(click_term * (0.3 + 0.5 * _separation(region, mask)), 0, 1))
    x0, y0, x1, y1 = region.box
    ys, xs = np.nonzero(mask)
    box_fit = _box_iou((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), region.box)
    fill = np.count_nonzero(mask[y0:y1, x0:x1]) / ((x1 - x0) * (y1 - y0))
    return float(np.clip(click_term * box_fit * min(1.0, fill / MIN_FILL), 0, 1))


def _box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _separation(region: GrabCutRegion, mask: np.ndarray) -> float:
    """1 - Bhattacharyya coefficient of 8x8x8-bin colour histograms: mask vs. a ring."""
    h, w = mask.shape
    width = max(2, round(0.03 * max(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    ring = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask
    if not ring.any():  # the mask fills the whole region: nothing to compare with
        return 0.0
    q = (region.image >> 5).astype(np.int32)
    bins = (q[..., 0] << 6) | (q[..., 1] << 3) | q[..., 2]
    inside = np.bincount(bins[mask], minlength=512).astype(np.float64)
    outside = np.bincount(bins[ring], minlength=512).astype(np.float64)
    coefficient = np.sum(np.sqrt(inside / inside.sum() * outside / outside.sum()))
    return float(np.clip(1.0 - coefficient, 0.0, 1.0))


def _frozen(mask: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(mask, dtype=bool)
    out.setflags(write=False)
    return out
