"""``SAM2VideoPredictor``: prompt objects on any frame, propagate them through a video.

The official ``sam2`` API (``init_state``, ``reset_state``, ``add_new_points_or_box``,
``add_new_mask``, ``propagate_in_video``, ``remove_object``) on our tracker
(:class:`~sam_core.sam2.tracker.Sam2Tracker`), built from a checkpoint file by
:func:`build_sam2_video_predictor`. Objects are tracked independently (a batch of one
each), as the official 1.1 predictor does; masks come back as logits at the video's
resolution, ``Nx1xHxW`` for the N objects.

What the state keeps, per object and per frame it has seen: the low-res mask logits
(``1x1x256x256`` float32: 256 KiB), the object pointer (256 floats), the object score and
the memory (``1x64x64x64`` in bfloat16: 512 KiB), about 0.8 MiB per frame and object; the
memories' position encoding is the same for every frame and kept once. The
frames themselves are read when needed (:class:`~sam_core.sam2.video_frames.VideoFrames`)
and only the last frame's image features are cached. Memories are stored in bfloat16 (as
the official does on a GPU) and read back as float32 for the arithmetic.

Not ported: the official hole filling of small mask holes (``fill_hole_area``) needs its
CUDA extension and is skipped on a CPU by the official too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from sam_core.checkpoint import read_state_dict
from sam_core.sam2.build import sam2_tracker_from_state_dict
from sam_core.sam2.specs import IMAGE_SIZE
from sam_core.sam2.tracker import NO_OBJ_SCORE, FrameFeatures, FrameOutput, PointInputs, Sam2Tracker
from sam_core.sam2.video_frames import VideoFrames

MASK_LOGIT_CLAMP = 32.0  # previous logits fed back with new clicks are clamped to +-this


@dataclass
class ObjectTrack:
    """One object's prompts and outputs, by frame index."""

    points: dict[int, PointInputs] = field(default_factory=dict)
    masks: dict[int, torch.Tensor] = field(default_factory=dict)
    cond: dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    temp_cond: dict[int, FrameOutput] = field(default_factory=dict)
    temp_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: dict[int, bool] = field(default_factory=dict)  # frame -> tracked in reverse

    def latest(self, frame_idx: int, is_cond: bool) -> FrameOutput | None:
        temp = self.temp_cond if is_cond else self.temp_non_cond
        for outputs in (temp, self.cond, self.non_cond):
            if frame_idx in outputs:
                return outputs[frame_idx]
        return None


PROMPTED_FEATURES_KEPT = 8  # frames: about 160 MiB of features at most


@dataclass
class VideoState:
    """An inference session on one video (what the official calls ``inference_state``)."""

    frames: VideoFrames
    objects: dict[object, ObjectTrack] = field(default_factory=dict)  # by object id, in order
    _features: tuple[int, FrameFeatures] | None = None
    # Features of frames prompted since the last propagation, whose memories are still to
    # be encoded (about 20 MiB a frame, dropped when they are; at most
    # PROMPTED_FEATURES_KEPT frames): so a few keyframes cost one encoder run each, not two.
    _prompted_features: dict[int, FrameFeatures] = field(default_factory=dict)
    _memory_position: torch.Tensor | None = None  # the same for every frame: kept once

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def video_height(self) -> int:
        return self.frames.height

    @property
    def video_width(self) -> int:
        return self.frames.width

    @property
    def obj_ids(self) -> list[object]:
        return list(self.objects)


def build_sam2_video_predictor(checkpoint: str | os.PathLike[str]) -> SAM2VideoPredictor:
    """The video predictor of a SAM 2 / 2.1 checkpoint file (the architecture is read from
    its tensors; the file must hold the video parts)."""
    state_dict = read_state_dict(checkpoint)
    return SAM2VideoPredictor(sam2_tracker_from_state_dict(state_dict, str(checkpoint)))


class SAM2VideoPredictor:
    def __init__(self, model: Sam2Tracker) -> None:
        self.model = model.eval()

    # -- session -------------------------------------------------------------------------
    @torch.inference_mode()
    def init_state(
        self,
        video_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False,
        async_loading_frames: bool = False,
    ) -> VideoState:
        """A session on a folder of frames, a video file or (our extension) a list of frame
        files in their order (VideoFramesError if it cannot be read). The official's three
        options are accepted for compatibility and change nothing: frames are always read
        lazily, one at a time, and the state is small."""
        state = VideoState(VideoFrames(video_path))
        self._features(state, 0)
        return state

    def reset_state(self, state: VideoState) -> None:
        """Forget every object, prompt and result."""
        state.objects.clear()
        state._prompted_features.clear()

    def _track(self, state: VideoState, obj_id: object) -> ObjectTrack:
        return state.objects.setdefault(obj_id, ObjectTrack())

    # -- prompts -------------------------------------------------------------------------
    @torch.inference_mode()
    def add_new_points_or_box(
        self,
        state: VideoState,
        frame_idx: int,
        obj_id: object,
        points=None,
        labels=None,
        clear_old_points: bool = True,
        normalize_coords: bool = True,
        box=None,
    ) -> tuple[int, list[object], torch.Tensor]:
        """Clicks (``Nx2`` x, y in video pixels, labels 1 / 0) and / or a box (XYXY) for
        one object on one frame -> (frame_idx, obj_ids, every object's mask logits on it
        at video resolution ``Nx1xHxW``)."""
        self._check_frame(state, frame_idx)
        if (points is None) != (labels is None):
            raise ValueError("points and labels must be provided together")
        if points is None and box is None:
            raise ValueError("at least one of points or box must be provided as input")
        coords = torch.as_tensor([] if points is None else points, dtype=torch.float32)
        kinds = torch.as_tensor([] if labels is None else labels, dtype=torch.int32)
        coords, kinds = coords.reshape(1, -1, 2), kinds.reshape(1, -1)
        if box is not None:
            if not clear_old_points:
                raise ValueError("a box must come first: use clear_old_points=True with a box")
            box_coords = torch.as_tensor(box, dtype=torch.float32).reshape(1, 2, 2)
            coords = torch.cat([box_coords, coords], dim=1)
            kinds = torch.cat([torch.tensor([[2, 3]], dtype=torch.int32), kinds], dim=1)
        if normalize_coords:
            coords = coords / torch.tensor([state.video_width, state.video_height])
        coords = (coords * IMAGE_SIZE).to(self.model.device)
        kinds = kinds.to(self.model.device)
        track = self._track(state, obj_id)
        old = None if clear_old_points else track.points.get(frame_idx)
        if old is not None:
            coords = torch.cat([old.coords, coords], dim=1)
            kinds = torch.cat([old.labels, kinds], dim=1)
        prompt = PointInputs(coords, kinds)
        track.points[frame_idx] = prompt
        track.masks.pop(frame_idx, None)
        is_init = frame_idx not in track.tracked
        previous = track.latest(frame_idx, is_init)
        prev_logits = None
        if previous is not None:
            prev_logits = previous.pred_masks.clamp(-MASK_LOGIT_CLAMP, MASK_LOGIT_CLAMP)
        self._prompted(state, track, frame_idx, is_init, prompt, None, prev_logits)
        return frame_idx, state.obj_ids, self._frame_masks(state, frame_idx, is_init)

    @torch.inference_mode()
    def add_new_mask(
        self, state: VideoState, frame_idx: int, obj_id: object, mask
    ) -> tuple[int, list[object], torch.Tensor]:
        """A mask (``HxW`` bool, any size: resized to the model's frame) for one object."""
        self._check_frame(state, frame_idx)
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.dim() != 2:
            raise ValueError(f"a mask is HxW, got shape {tuple(mask.shape)}")
        given = mask[None, None].float().to(self.model.device)
        if given.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            given = F.interpolate(given, size=(IMAGE_SIZE, IMAGE_SIZE), align_corners=False,
                                  mode="bilinear", antialias=True)  # fmt: skip
            given = (given >= 0.5).float()
        track = self._track(state, obj_id)
        track.masks[frame_idx] = given
        track.points.pop(frame_idx, None)
        is_init = frame_idx not in track.tracked
        self._prompted(state, track, frame_idx, is_init, None, given, None)
        return frame_idx, state.obj_ids, self._frame_masks(state, frame_idx, is_init)

    def _prompted(self, state, track, frame_idx, is_init, points, mask, prev_logits) -> None:
        """Run the frame with its new prompt; kept aside (no memory yet) until the next
        propagation, as the official does."""
        reverse = False if is_init else track.tracked[frame_idx]
        features = self._features(state, frame_idx)
        if len(state._prompted_features) < PROMPTED_FEATURES_KEPT:
            state._prompted_features[frame_idx] = features
        output = self.model.track_step(
            frame_idx, is_init, features, points, mask,
            track.cond, track.non_cond, state.num_frames, track_in_reverse=reverse,
            run_mem_encoder=False, prev_sam_mask_logits=prev_logits,
        )  # fmt: skip
        (track.temp_cond if is_init else track.temp_non_cond)[frame_idx] = output

    def _frame_masks(self, state: VideoState, frame_idx: int, is_cond: bool) -> torch.Tensor:
        """Every object's latest logits on a frame at video resolution (``NO_OBJ_SCORE``
        for an object without output there)."""
        size = (state.video_height, state.video_width)
        masks = torch.full((len(state.objects), 1, *size), NO_OBJ_SCORE, device=self.model.device)
        for index, track in enumerate(state.objects.values()):
            output = track.latest(frame_idx, is_cond)
            if output is not None:
                masks[index : index + 1] = self._video_res(output.pred_masks, size)
        return masks

    @staticmethod
    def _video_res(low_res: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if low_res.shape[-2:] == size:
            return low_res
        return F.interpolate(low_res, size=size, mode="bilinear", align_corners=False)

    # -- propagation ---------------------------------------------------------------------
    @torch.inference_mode()
    def propagate_in_video(
        self,
        state: VideoState,
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[int, list[object], torch.Tensor]]:
        """Yield (frame_idx, obj_ids, ``Nx1xHxW`` mask logits at video resolution) for each
        frame from ``start_frame_idx`` (default: the first prompted frame), forward or in
        ``reverse``, at most ``max_frame_num_to_track`` frames after the start."""
        self._preflight(state)
        num_frames = state.num_frames
        if start_frame_idx is None:
            start_frame_idx = min(t for track in state.objects.values() for t in track.cond)
        self._check_frame(state, start_frame_idx)
        span = num_frames if max_frame_num_to_track is None else max_frame_num_to_track
        if reverse:
            end = max(start_frame_idx - span, 0)
            order = range(start_frame_idx, end - 1, -1) if start_frame_idx > 0 else range(0)
        else:
            order = range(start_frame_idx, min(start_frame_idx + span, num_frames - 1) + 1)
        size = (state.video_height, state.video_width)
        for frame_idx in order:
            masks = []
            for track in state.objects.values():
                if frame_idx in track.cond:
                    output = track.cond[frame_idx]
                else:
                    output = self._stored(state, self.model.track_step(
                        frame_idx, False, self._features(state, frame_idx), None, None,
                        track.cond, track.non_cond, num_frames, track_in_reverse=reverse,
                    ))  # fmt: skip
                    track.non_cond[frame_idx] = output
                track.tracked[frame_idx] = reverse
                masks.append(output.pred_masks)
            yield frame_idx, state.obj_ids, self._video_res(torch.cat(masks), size)

    def _preflight(self, state: VideoState) -> None:
        """Memorise the frames prompted since the last propagation (from their low-res
        masks, binarised) and file them as conditioning or tracked frames."""
        if not state.objects:
            raise RuntimeError("no object has prompts yet: add points, a box or a mask first")
        for obj_id, track in state.objects.items():
            for temp, outputs in ((track.temp_non_cond, track.non_cond),
                                  (track.temp_cond, track.cond)):  # fmt: skip
                for frame_idx, output in temp.items():
                    if output.maskmem_features is None:
                        high_res = F.interpolate(output.pred_masks, size=(IMAGE_SIZE, IMAGE_SIZE),
                                                 mode="bilinear", align_corners=False)  # fmt: skip
                        output = replace(output, pred_masks_high_res=high_res)
                        self.model._encode_memory(
                            self._features(state, frame_idx), output, from_points=True
                        )
                    outputs[frame_idx] = self._stored(state, output)
                temp.clear()
            if not track.cond:
                raise RuntimeError(f"object {obj_id!r} has no prompts: add some or remove it")
            for frame_idx in track.cond:
                track.non_cond.pop(frame_idx, None)
        state._prompted_features.clear()

    @staticmethod
    def _stored(state: VideoState, output: FrameOutput) -> FrameOutput:
        """What the state keeps of a frame: the memory in bfloat16, the low-res logits,
        the pointer and score; no full-size logits, and one position encoding shared by
        all frames."""
        memory, position = output.maskmem_features, output.maskmem_pos_enc
        if position is not None:
            if state._memory_position is None or not torch.equal(state._memory_position, position):
                state._memory_position = position
            position = state._memory_position
        return replace(
            output,
            pred_masks_high_res=None,
            maskmem_features=None if memory is None else memory.to(torch.bfloat16),
            maskmem_pos_enc=position,
        )

    # -- objects -------------------------------------------------------------------------
    def remove_object(
        self, state: VideoState, obj_id: object, strict: bool = False, need_output: bool = True
    ) -> tuple[list[object], list[tuple[int, torch.Tensor]]]:
        """Forget an object; returns the remaining ids and, with ``need_output``, the
        masks of the frames it had prompts on."""
        track = state.objects.get(obj_id)
        if track is None:
            if strict:
                raise RuntimeError(f"cannot remove object id {obj_id!r}: it does not exist; "
                                   f"the object ids are {state.obj_ids}")  # fmt: skip
            return state.obj_ids, []
        frames = sorted(set(track.points) | set(track.masks))
        del state.objects[obj_id]
        updated = []
        if need_output and state.objects:
            for frame_idx in frames:
                is_cond = any(frame_idx in t.temp_cond for t in state.objects.values())
                updated.append((frame_idx, self._frame_masks(state, frame_idx, is_cond)))
        return state.obj_ids, updated

    # -- helpers -------------------------------------------------------------------------
    def _features(self, state: VideoState, frame_idx: int) -> FrameFeatures:
        """The frame's image features (the last frame's are kept, and those of frames
        prompted since the last propagation)."""
        if state._features is not None and state._features[0] == frame_idx:
            return state._features[1]
        if frame_idx in state._prompted_features:
            return state._prompted_features[frame_idx]
        features = self.model.frame_features(state.frames[frame_idx][None].to(self.model.device))
        state._features = (frame_idx, features)
        return features

    @staticmethod
    def _check_frame(state: VideoState, frame_idx: int) -> None:
        if not 0 <= frame_idx < state.num_frames:
            raise ValueError(f"frame {frame_idx} is not in this {state.num_frames}-frame video")
