"""``SamPredictor``: encode an image once, then predict masks for many prompts.

The API is the official ``segment_anything`` 1.0 one; beyond it, an image's embedding
can be exported as an :class:`~sam_core.embedding.ImageEmbedding` and restored later.
Bad input raises ``ValueError`` with a message that says what to pass instead.

Frames: prompts given to :meth:`SamPredictor.predict` are in original-image pixels (X
right, Y down; boxes XYXY); prompts given to :meth:`SamPredictor.predict_torch` are
already in the resized-input frame (``ResizeLongestSide``).
"""

from __future__ import annotations

import numpy as np
import torch

from sam_core.embedding import PREPROCESSING_VERSION, ImageEmbedding, model_id
from sam_core.inputs import (
    check_box,
    check_image,
    check_mask_input,
    check_points,
    check_torch_prompts,
    positive_pair,
)
from sam_core.mask_logits import logits_to_size
from sam_core.modeling import Sam
from sam_core.utils.transforms import ResizeLongestSide

#: Outputs of :meth:`SamPredictor.predict_low_res`: 3 multimask outputs + the single one.
ALL_OUTPUTS = 4
#: Index of the single-mask output (``multimask_output=False``) in those outputs.
SINGLE_OUTPUT = 3


class ImageNotSetError(ValueError, RuntimeError):
    """Prediction was asked for before an image (or embedding) was set.

    Both a ``ValueError`` and, as in the official predictor, a ``RuntimeError``.
    """


class SamPredictor:
    """Computes the image embedding once, then predicts masks for prompts quickly.

    Attributes:
        model: the :class:`Sam` model.
        transform: the ``ResizeLongestSide`` used for images and prompts.
        features: ``1xCxhxw`` embedding of the current image, or None.
        original_size: (H, W) of the current image, or None.
        input_size: (h, w) of the resized current image, or None.
        is_image_set: whether an image (or an embedding) is set.
    """

    def __init__(self, sam_model: Sam) -> None:
        self.model = sam_model
        self.transform = ResizeLongestSide(sam_model.image_encoder.img_size)
        self.reset_image()

    # ----------------------------------------------------------------- image

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Compute the embedding of an ``HxWx3`` uint8 image (values 0-255).

        Args:
            image: the image; ``image_format`` says its channel order.
            image_format: "RGB" or "BGR" (as OpenCV loads images).
        """
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
        image = check_image(image)
        if image_format != self.model.image_format:
            image = image[..., ::-1]
        input_image = self.transform.apply_image(image)
        input_torch = torch.as_tensor(input_image, device=self.device)
        input_torch = input_torch.permute(2, 0, 1).contiguous()[None, :, :, :]
        self.set_torch_image(input_torch, image.shape[:2])

    @torch.inference_mode()
    def set_torch_image(
        self, transformed_image: torch.Tensor, original_image_size: tuple[int, ...]
    ) -> None:
        """Compute the embedding of an image already resized by ``ResizeLongestSide``.

        Args:
            transformed_image: ``1x3xhxw`` tensor (0-255 scale, uint8 or float) whose
                long side is the model's ``img_size``.
            original_image_size: (H, W) of the image before resizing.
        """
        side = self.model.image_encoder.img_size
        if not torch.is_tensor(transformed_image):
            raise ValueError("transformed_image must be a torch tensor")
        shape = tuple(transformed_image.shape)
        if len(shape) != 4 or shape[0] != 1 or shape[1] != 3 or max(shape[2:]) != side:
            raise ValueError(
                f"set_torch_image expects a 1x3xhxw tensor with long side {side}, got {shape}"
            )
        original_size = positive_pair(original_image_size, "original_image_size")
        self.reset_image()
        self.original_size = original_size
        self.input_size = (shape[2], shape[3])
        self.features = self.model.image_encoder(self.model.preprocess(transformed_image))
        self.is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """The current image's embedding, ``1xCxhxw`` (``1x256x64x64`` for SAM)."""
        self._require_image()
        return self.features

    def reset_image(self) -> None:
        """Forget the current image."""
        self.is_image_set = False
        self.features: torch.Tensor | None = None
        self._decoder_copy: tuple[torch.Tensor, torch.Tensor] | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    def decoder_features(self) -> torch.Tensor:
        """The current embedding in the memory layout the mask decoder reads fastest:
        channels-last, each cell's C values adjacent (the decoder's token rows). Same shape
        and values as ``features``, which keeps the official contiguous layout.

        Made once per image rather than transposed on every click. ``features`` is not
        modified in place (nor is it by the official predictor); a new tensor assigned to
        it is noticed.
        """
        self._require_image()
        cached = self._decoder_copy
        if cached is None or cached[0] is not self.features:
            with torch.inference_mode():
                copy = self.features.contiguous(memory_format=torch.channels_last)
            cached = self._decoder_copy = (self.features, copy)
        return cached[1]

    # ------------------------------------------------------------- embedding

    @property
    def model_id(self) -> str:
        """Identity of the model's weights (see :func:`sam_core.embedding.model_id`)."""
        return model_id(self.model)

    def export_embedding(self) -> ImageEmbedding:
        """The current image's embedding as a value (features copied to the CPU)."""
        self._require_image()
        return ImageEmbedding(
            features=self.features.detach().to("cpu", copy=True),
            original_size=self.original_size,
            input_size=self.input_size,
            model_id=self.model_id,
            preprocessing=PREPROCESSING_VERSION,
        )

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Restore the state ``set_image`` gave when ``embedding`` was exported.

        Raises:
            ValueError: the embedding comes from another model or preprocessing version,
                or its sizes do not fit this model.
        """
        if not isinstance(embedding, ImageEmbedding):
            raise ValueError(f"expected an ImageEmbedding, got {type(embedding).__name__}")
        if embedding.model_id != self.model_id:
            raise ValueError(
                f"this embedding was computed by model {embedding.model_id}, but this "
                f"predictor runs {self.model_id}; compute it again with set_image"
            )
        if embedding.preprocessing != PREPROCESSING_VERSION:
            raise ValueError(
                f"this embedding was made with preprocessing {embedding.preprocessing!r}, "
                f"not the current {PREPROCESSING_VERSION!r}; compute it again with set_image"
            )
        expected = self._embedding_shape()
        if tuple(embedding.features.shape) != expected:
            raise ValueError(
                f"embedding features are {tuple(embedding.features.shape)}, expected {expected}"
            )
        resized = self.transform.get_preprocess_shape(
            *embedding.original_size, self.transform.target_length
        )
        if resized != embedding.input_size:
            raise ValueError(
                f"input_size {embedding.input_size} does not match original_size "
                f"{embedding.original_size} (expected {resized})"
            )
        self.reset_image()
        with torch.inference_mode():
            self.features = embedding.features.to(self.device, copy=True)
        self.original_size = embedding.original_size
        self.input_size = embedding.input_size
        self.is_image_set = True

    # -------------------------------------------------------------- prompts

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict masks for prompts on the current image.

        Args:
            point_coords: ``Nx2`` (x, y) points in original-image pixels.
            point_labels: ``N`` labels, 1 foreground / 0 background.
            box: 4 numbers, XYXY in original-image pixels, x0 <= x1 and y0 <= y1.
            mask_input: ``1x256x256`` float logits, typically a previous
                ``low_res_logits`` entry (``low_res_logits[i:i+1]``).
            multimask_output: return 3 candidate masks instead of 1.
            return_logits: return float logits instead of bool masks.

        Returns:
            ``CxHxW`` masks (bool, or float32 logits), ``C`` float32 IoU predictions and
            ``Cx256x256`` float32 low-resolution logits; C is 3 or 1, (H, W) the
            original image size.
        """
        self._require_image()
        prompts = self._prompt_tensors(point_coords, point_labels, box, mask_input)
        masks, iou_predictions, low_res_logits = self.predict_torch(
            *prompts, multimask_output, return_logits=return_logits
        )
        return (
            masks[0].detach().cpu().numpy(),
            iou_predictions[0].detach().cpu().numpy(),
            low_res_logits[0].detach().cpu().numpy(),
        )

    @torch.inference_mode()
    def predict_torch(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict masks for a batch of prompt sets, already in the resized-input frame.

        Args:
            point_coords: ``BxNx2`` (x, y) points, or None.
            point_labels: ``BxN`` labels (1 foreground, 0 background), or None.
            boxes: ``Bx4`` XYXY boxes, or None.
            mask_input: ``Bx1x256x256`` logits, or None.
            multimask_output: return 3 candidate masks per prompt set instead of 1.
            return_logits: return float logits instead of bool masks.

        Returns:
            ``BxCxHxW`` masks at the original size, ``BxC`` IoU predictions and
            ``BxCx256x256`` low-resolution logits.
        """
        low_res_logits, iou_predictions = self.predict_low_res_torch(
            point_coords, point_labels, boxes, mask_input
        )
        # Decoder outputs reordered as multimask 0..2, single: pick the asked ones.
        outputs = slice(0, ALL_OUTPUTS - 1) if multimask_output else slice(SINGLE_OUTPUT, None)
        low_res_logits = low_res_logits[:, outputs]
        iou_predictions = iou_predictions[:, outputs]
        masks = self.model.postprocess_masks(low_res_logits, self.input_size, self.original_size)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, iou_predictions, low_res_logits

    # --------------------------------------------------------- low-res path

    def predict_low_res(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every decoder output for one prompt set, in one decoder call, without upsampling.

        The mask decoder always computes the three multimask outputs and the single
        output; :meth:`predict` returns some of them and upsamples them to the full
        image. This returns all four at 256x256, so an interactive tool can rank them
        and upsample only the one it shows, at the size it shows it (full resolution
        once, when the mask is accepted: :meth:`upsample_low_res`).

        Args: as :meth:`predict` (original-image pixels; ``mask_input`` ``1x256x256``).

        Returns:
            ``4x256x256`` float32 low-resolution logits and ``4`` float32 IoU
            predictions. Rows 0-2 equal ``predict(multimask_output=True)``'s outputs,
            row :data:`SINGLE_OUTPUT` (3) equals ``predict(multimask_output=False)``'s.
        """
        self._require_image()
        prompts = self._prompt_tensors(point_coords, point_labels, box, mask_input)
        low_res_logits, iou_predictions = self.predict_low_res_torch(*prompts)
        return low_res_logits[0].cpu().numpy(), iou_predictions[0].cpu().numpy()

    @torch.inference_mode()
    def predict_low_res_torch(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`predict_low_res` for a batch of prompt sets in the resized-input frame.

        Args: as :meth:`predict_torch`.

        Returns:
            ``Bx4x256x256`` low-resolution logits and ``Bx4`` IoU predictions: outputs
            0-2 are the multimask outputs, output :data:`SINGLE_OUTPUT` the single one.
        """
        self._require_image()
        check_torch_prompts(
            point_coords,
            point_labels,
            boxes,
            mask_input,
            self.model.prompt_encoder.mask_input_size,
        )
        points = (point_coords, point_labels) if point_coords is not None else None
        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        # The decoder's own order is [single, multimask 0, 1, 2].
        low_res_logits, iou_predictions = self.model.mask_decoder.predict_masks(
            image_embeddings=self.decoder_features(),
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
        )
        order = [*range(1, ALL_OUTPUTS), 0]
        return low_res_logits[:, order], iou_predictions[:, order]

    def upsample_low_res(self, low_res_logits: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Low-res logits ``...x256x256`` -> logits at the original image size, ``...xHxW``.

        Exactly the official post-processing of :meth:`predict` (two bilinear resizes,
        padding cropped); threshold with ``> model.mask_threshold`` for the mask.
        """
        self._require_image()
        logits = logits_to_size(
            low_res_logits, self.input_size, self.original_size, self.model.image_encoder.img_size
        )
        return torch.from_numpy(logits)

    @property
    def device(self) -> torch.device:
        return self.model.device

    # -------------------------------------------------------------- helpers

    def _prompt_tensors(
        self,
        point_coords: np.ndarray | None,
        point_labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
    ) -> tuple[torch.Tensor | None, ...]:
        """Checked numpy prompts in original-image pixels -> batch-of-one tensors in the
        resized-input frame: (coords 1xNx2, labels 1xN, box 1x4, mask 1x1x256x256)."""
        coords_torch = labels_torch = box_torch = mask_torch = None
        if point_coords is not None or point_labels is not None:
            coords, labels = check_points(point_coords, point_labels)
            coords = self.transform.apply_coords(coords, self.original_size)
            coords_torch = torch.as_tensor(coords, dtype=torch.float, device=self.device)[None]
            labels_torch = torch.as_tensor(labels, dtype=torch.int, device=self.device)[None]
        if box is not None:
            box = self.transform.apply_boxes(check_box(box), self.original_size)
            box_torch = torch.as_tensor(box, dtype=torch.float, device=self.device)
        if mask_input is not None:
            mask = check_mask_input(mask_input, self.model.prompt_encoder.mask_input_size)
            # A copy: the caller's array may be read-only (e.g. a shared candidate's logits).
            mask_torch = torch.tensor(mask, dtype=torch.float, device=self.device)[None]
        return coords_torch, labels_torch, box_torch, mask_torch

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise ImageNotSetError(
                "no image is set: call set_image(...) (or set_embedding(...)) before "
                "predicting masks"
            )

    def _embedding_shape(self) -> tuple[int, int, int, int]:
        encoder = self.model.prompt_encoder
        return (1, encoder.embed_dim, *encoder.image_embedding_size)
