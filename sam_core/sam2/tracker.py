"""SAM 2's tracking step: one frame's masks from its prompts and the memory of others.

``Sam2Tracker`` is the image model (:class:`~sam_core.sam2.model.Sam2`) plus the video
parts of a SAM 2 checkpoint, under their official names (``memory_attention``,
``memory_encoder``, ``mask_downsample``, ``maskmem_tpos_enc``, ``no_mem_pos_enc``,
``no_obj_ptr``, ``no_obj_embed_spatial`` (2.1), ``obj_ptr_proj``, ``obj_ptr_tpos_proj``).
``track_step`` is the official ``SAM2Base.track_step`` in evaluation, with the settings the
official video predictor builds (memories of up to 7 frames: the conditioning frames,
i.e. those with prompts, plus the 6 nearest tracked frames before the current one in the
direction of tracking; up to 16 object pointers; masks from clicks binarised before
they are memorised; multimask on frames with at most one click).

Frames and their outputs are batch-first here: a :class:`FrameFeatures` per frame, a
:class:`FrameOutput` per tracked frame. The per-video bookkeeping (which frames hold
prompts, propagation order, several objects) belongs to the video predictor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.modeling.mask_decoder import MLP
from sam_core.sam2.image_encoder import PositionEmbeddingSine
from sam_core.sam2.memory import MEMORY_DIM, MemoryAttention, MemoryEncoder
from sam_core.sam2.model import Sam2
from sam_core.sam2.specs import D_MODEL, IMAGE_SIZE, Sam2Spec

NUM_MASKMEM = 7  # memory frames: conditioning + the 6 nearest tracked ones
MAX_OBJ_PTRS = 16
NO_OBJ_SCORE = -1024.0  # mask logits where the object is predicted absent
SIGMOID_SCALE, SIGMOID_BIAS = 20.0, -10.0  # mask probabilities -> memory encoder input
MULTIMASK_MAX_POINTS = 1  # more clicks than this: one output


@dataclass
class FrameFeatures:
    """One frame's image features: ``image_embed`` ``Bx256x64x64`` (no memory added),
    ``high_res`` ``[Bx32x256x256, Bx64x128x128]`` (after ``conv_s0`` / ``conv_s1``) and
    ``pos`` ``Bx256x64x64``, the sine position encoding of ``image_embed``."""

    image_embed: torch.Tensor
    high_res: list[torch.Tensor]
    pos: torch.Tensor


@dataclass
class FrameOutput:
    """What tracking a frame gives and what later frames remember of it.

    pred_masks ``Bx1x256x256`` and pred_masks_high_res ``Bx1x1024x1024`` (None once
    stored: later frames need only the memory): mask logits in the squashed 1024 frame;
    obj_ptr ``Bx256``; object_score_logits ``Bx1``;
    maskmem_features / maskmem_pos_enc ``Bx64x64x64`` (None when not encoded).
    """

    pred_masks: torch.Tensor
    pred_masks_high_res: torch.Tensor | None
    obj_ptr: torch.Tensor
    object_score_logits: torch.Tensor
    maskmem_features: torch.Tensor | None = None
    maskmem_pos_enc: torch.Tensor | None = None


@dataclass(frozen=True)
class PointInputs:
    """Clicks ``BxPx2`` (x, y in the 1024 frame) with labels ``BxP`` (1, 0, 2/3 box)."""

    coords: torch.Tensor
    labels: torch.Tensor


def sine_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """``N`` positions -> ``N x dim`` (sines then cosines)."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * (dim_t // 2) / half)
    angles = positions.unsqueeze(-1) / dim_t
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Sam2Tracker(Sam2):
    """SAM 2 with its video memory (module docstring)."""

    def __init__(self, spec: Sam2Spec, model_type: str, version_2_1: bool) -> None:
        super().__init__(spec, model_type)
        self.version_2_1 = version_2_1
        self.memory_attention = MemoryAttention()
        self.memory_encoder = MemoryEncoder()
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(NUM_MASKMEM, 1, 1, MEMORY_DIM))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, D_MODEL))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, D_MODEL))
        if version_2_1:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, MEMORY_DIM))
        self.obj_ptr_proj = MLP(D_MODEL, D_MODEL, D_MODEL, 3)
        self.obj_ptr_tpos_proj: nn.Module = (
            nn.Linear(D_MODEL, MEMORY_DIM) if version_2_1 else nn.Identity()
        )
        self._position = PositionEmbeddingSine(D_MODEL)

    # -- features ------------------------------------------------------------------------
    def frame_features(self, image: torch.Tensor) -> FrameFeatures:
        """``Bx3x1024x1024`` normalised -> the features tracking uses."""
        feat_s0, feat_s1, low = self.encoder_levels(image)
        return FrameFeatures(low, [feat_s0, feat_s1], self._position(low))

    # -- one frame -----------------------------------------------------------------------
    def track_step(
        self,
        frame_idx: int,
        is_init_cond_frame: bool,
        features: FrameFeatures,
        point_inputs: PointInputs | None,
        mask_inputs: torch.Tensor | None,
        cond_outputs: Mapping[int, FrameOutput],
        non_cond_outputs: Mapping[int, FrameOutput],
        num_frames: int,
        track_in_reverse: bool = False,
        run_mem_encoder: bool = True,
        prev_sam_mask_logits: torch.Tensor | None = None,
    ) -> FrameOutput:
        """Track one frame: its prompts (clicks, or a ``Bx1x1024x1024`` mask taken as
        the output) and the memories of the frames in ``cond_outputs`` (with prompts)
        and ``non_cond_outputs`` (tracked), by frame index."""
        if mask_inputs is not None:
            output = self._mask_as_output(features, mask_inputs)
        else:
            pix_feat = self._with_memory(frame_idx, is_init_cond_frame, features,
                                         cond_outputs, non_cond_outputs, num_frames,
                                         track_in_reverse)  # fmt: skip
            clicks = 0 if point_inputs is None else point_inputs.labels.shape[1]
            output = self._sam_heads(
                pix_feat, features.high_res, point_inputs, prev_sam_mask_logits,
                multimask_output=clicks <= MULTIMASK_MAX_POINTS,
            )  # fmt: skip
        if run_mem_encoder:
            self._encode_memory(features, output, from_points=point_inputs is not None)
        return output

    def _sam_heads(
        self,
        pix_feat: torch.Tensor,
        high_res: list[torch.Tensor],
        point_inputs: PointInputs | None,
        mask_prompt: torch.Tensor | None,
        multimask_output: bool,
    ) -> FrameOutput:
        batch = pix_feat.shape[0]
        if point_inputs is None:  # one padding point (label -1)
            coords = torch.zeros(batch, 1, 2, device=pix_feat.device)
            labels = -torch.ones(batch, 1, dtype=torch.int32, device=pix_feat.device)
        else:
            coords, labels = point_inputs.coords, point_inputs.labels
        encoder = self.sam_prompt_encoder
        if mask_prompt is not None and mask_prompt.shape[-2:] != encoder.mask_input_size:
            mask_prompt = F.interpolate(
                mask_prompt.float(), size=encoder.mask_input_size, align_corners=False,
                mode="bilinear", antialias=True,
            )  # fmt: skip
        sparse, dense = encoder(points=(coords, labels), boxes=None, masks=mask_prompt)
        low_res, ious, tokens, object_scores = self.sam_mask_decoder(
            image_embeddings=pix_feat,
            image_pe=encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=False,
            high_res_features=high_res,
        )
        appearing = object_scores > 0
        low_res = torch.where(appearing[:, None, None], low_res, NO_OBJ_SCORE).float()
        high_res_masks = F.interpolate(low_res, size=(IMAGE_SIZE, IMAGE_SIZE),
                                       mode="bilinear", align_corners=False)  # fmt: skip
        token = tokens[:, 0]
        if multimask_output:
            best = torch.argmax(ious, dim=-1)
            rows = torch.arange(batch, device=pix_feat.device)
            low_res = low_res[rows, best][:, None]
            high_res_masks = high_res_masks[rows, best][:, None]
            if tokens.shape[1] > 1:
                token = tokens[rows, best]
        pointer = self._pointer(self.obj_ptr_proj(token), appearing.float())
        return FrameOutput(low_res, high_res_masks, pointer, object_scores)

    def _pointer(self, pointer: torch.Tensor, appearing: torch.Tensor) -> torch.Tensor:
        """The object pointer, replaced by ``no_obj_ptr`` where the object is absent."""
        return appearing * pointer + (1 - appearing) * self.no_obj_ptr

    def _mask_as_output(self, features: FrameFeatures, mask: torch.Tensor) -> FrameOutput:
        """A given mask is the frame's output (logits -10 / +10); the decoder still makes
        its object pointer from the mask."""
        mask = mask.float()
        high_res_masks = mask * 20.0 - 10.0
        size = (high_res_masks.shape[-2] // 4, high_res_masks.shape[-1] // 4)
        low_res = F.interpolate(high_res_masks, size=size, align_corners=False,
                                mode="bilinear", antialias=True)  # fmt: skip
        decoded = self._sam_heads(features.image_embed, features.high_res, None,
                                  self.mask_downsample(mask), multimask_output=False)  # fmt: skip
        appearing = torch.any(mask.flatten(1) > 0.0, dim=1)[..., None].float()
        return FrameOutput(low_res, high_res_masks, self._pointer(decoded.obj_ptr, appearing),
                           20.0 * appearing - 10.0)  # fmt: skip

    # -- memory --------------------------------------------------------------------------
    def _with_memory(
        self,
        frame_idx: int,
        is_init_cond_frame: bool,
        features: FrameFeatures,
        cond_outputs: Mapping[int, FrameOutput],
        non_cond_outputs: Mapping[int, FrameOutput],
        num_frames: int,
        reverse: bool,
    ) -> torch.Tensor:
        """The frame's ``Bx256x64x64`` features conditioned on the memories."""
        current = features.image_embed
        if is_init_cond_frame:  # nothing to remember yet
            return current + self.no_mem_embed.view(1, -1, 1, 1)
        if not cond_outputs:
            raise ValueError("tracking needs at least one frame with prompts")
        batch = current.shape[0]
        memories, positions = [], []
        frames: list[tuple[int, FrameOutput | None]] = [(0, o) for o in cond_outputs.values()]
        for t_pos in range(1, NUM_MASKMEM):
            t_rel = NUM_MASKMEM - t_pos  # frames away from the current one
            if t_rel == 1:
                previous = frame_idx + 1 if reverse else frame_idx - 1
            else:
                previous = frame_idx + 2 + (t_rel - 2) if reverse else frame_idx - 2 - (t_rel - 2)
            frames.append((t_pos, non_cond_outputs.get(previous)))
        for t_pos, output in frames:
            if output is None or output.maskmem_features is None:
                continue
            assert output.maskmem_pos_enc is not None
            memories.append(output.maskmem_features.float().flatten(2).transpose(1, 2))
            position = output.maskmem_pos_enc.float().flatten(2).transpose(1, 2)
            temporal = self.maskmem_tpos_enc[NUM_MASKMEM - t_pos - 1].view(1, 1, -1)
            positions.append(position + temporal)
        pointers = self._pointers(frame_idx, cond_outputs, non_cond_outputs, num_frames, reverse)
        pointer_tokens = 0
        if pointers is not None:
            tokens, position = pointers
            memories.append(tokens)
            positions.append(position)
            pointer_tokens = tokens.shape[1]
        memory, memory_pos = torch.cat(memories, dim=1), torch.cat(positions, dim=1)
        flat = current.flatten(2).transpose(1, 2)
        flat_pos = features.pos.flatten(2).transpose(1, 2)
        out = self.memory_attention(flat, memory, flat_pos, memory_pos, pointer_tokens)
        return out.transpose(1, 2).reshape(batch, D_MODEL, *current.shape[-2:])

    def _pointers(
        self,
        frame_idx: int,
        cond_outputs: Mapping[int, FrameOutput],
        non_cond_outputs: Mapping[int, FrameOutput],
        num_frames: int,
        reverse: bool,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Object-pointer tokens ``BxKx64`` and their temporal positions: those of the
        conditioning frames not ahead of the current one, then of up to 15 frames back."""
        limit = min(num_frames, MAX_OBJ_PTRS)
        sign = -1 if reverse else 1
        past = {
            t: o for t, o in cond_outputs.items() if (t >= frame_idx if reverse else t <= frame_idx)
        }
        pairs = [((frame_idx - t) * sign if self.version_2_1 else abs(frame_idx - t), o.obj_ptr)
                 for t, o in past.items()]  # fmt: skip
        for t_diff in range(1, limit):
            t = frame_idx + t_diff if reverse else frame_idx - t_diff
            if t < 0 or t >= num_frames:
                break
            output = non_cond_outputs.get(t)
            if output is not None:
                pairs.append((t_diff, output.obj_ptr))
        if not pairs:
            return None
        offsets, pointers = zip(*pairs, strict=True)
        stacked = torch.stack(pointers, dim=1)  # B x K x 256
        batch, count = stacked.shape[:2]
        if self.version_2_1:  # temporal position: how far each pointer's frame is
            steps = torch.tensor(offsets, dtype=torch.float32, device=stacked.device)
            position = self.obj_ptr_tpos_proj(sine_1d(steps / (limit - 1), D_MODEL))
            position = position[None].expand(batch, -1, -1)
        else:
            position = stacked.new_zeros(batch, count, MEMORY_DIM)
        # Each 256-wide pointer is 4 tokens of the memory's 64 channels.
        split = D_MODEL // MEMORY_DIM
        tokens = stacked.reshape(batch, count, split, MEMORY_DIM).flatten(1, 2)
        return tokens, position.repeat_interleave(split, dim=1)

    def _encode_memory(self, features: FrameFeatures, output: FrameOutput, from_points: bool):
        """The frame's memory from its features and mask (binarised when the mask came
        from clicks); ``no_obj_embed_spatial`` added where the object is absent (2.1)."""
        masks = output.pred_masks_high_res
        if masks is None:
            raise ValueError("memorising a frame needs its full-size mask logits")
        probability = (masks > 0).float() if from_points else torch.sigmoid(masks)
        memory, position = self.memory_encoder(
            features.image_embed, probability * SIGMOID_SCALE + SIGMOID_BIAS,
            skip_mask_sigmoid=True,
        )  # fmt: skip
        if self.version_2_1:
            absent = 1 - (output.object_score_logits > 0).float()
            memory = memory + absent[..., None, None] * self.no_obj_embed_spatial[..., None, None]
        output.maskmem_features, output.maskmem_pos_enc = memory, position
