"""One object through a sequence of frames with SAM 2's video predictor (``sam_core``).

The person's masks (the track's keyframes) are given to the predictor as mask prompts
(``add_new_mask``), so each is a conditioning frame that the memory attention of every
tracked frame reads, and its shape stays exactly as drawn. Then each span is propagated
from its keyframe (``propagate_in_video`` with ``start_frame_idx`` and
``max_frame_num_to_track``, ``reverse`` for a backward span). A request starts a fresh
session: the keyframes are the whole state, so undo, edits and a restart need no cached
tracker state (decision record 0007).

Memory: the session keeps per frame its low-res logits and a bfloat16 memory (about
0.8 MiB) and reads frames one at a time (``sam_core.sam2.video_frames``). The freed
temporaries of each frame are handed back to the system after it (``malloc_trim``):
with the app's allocator settings, the holes they left between the small per-frame
states otherwise stayed resident (2.9 MiB per frame instead of 0.8 in a 60-frame probe).
"""

from __future__ import annotations

from typing import Any

import torch

from sam_annotator.inference.allocator import release_freed_memory
from sam_annotator.inference.segmenter import (
    FrameAnswer,
    TrackingCancelledError,
    TrackingError,
    TrackRequest,
)
from sam_core.sam2.tracker import Sam2Tracker
from sam_core.sam2.video_frames import VideoFrames, VideoFramesError
from sam_core.sam2.video_predictor import SAM2VideoPredictor, VideoState

_OBJECT = 1  # the predictor's object id: one object per request


def track_object(
    model: Sam2Tracker, request: TrackRequest, on_frame: FrameAnswer, cancel: Any = None
) -> None:
    """See ``Segmenter.track``."""
    predictor = SAM2VideoPredictor(model)
    try:
        state = VideoState(VideoFrames([str(p) for p in request.frames]))
    except VideoFramesError as error:
        raise TrackingError(str(error)) from None
    size = (state.video_height, state.video_width)
    try:
        with torch.inference_mode():
            for index, mask in sorted(request.keyframes.items()):
                if mask.shape != size:
                    raise ValueError(
                        f"keyframe {index}: a {mask.shape[0]}x{mask.shape[1]} mask on "
                        f"{size[0]}x{size[1]} frames"
                    )
                _stop_if(cancel)
                predictor.add_new_mask(state, index, _OBJECT, mask)
            for span in request.spans:
                frames = predictor.propagate_in_video(
                    state, span.start, span.length, reverse=span.reverse
                )
                for frame_index, _ids, logits in frames:
                    if frame_index not in request.keyframes:
                        mask = (logits[0, 0] > 0).cpu().numpy()
                        on_frame(frame_index, mask if mask.any() else None)
                    del logits
                    release_freed_memory()  # the frame's temporaries leave no holes
                    _stop_if(cancel)
    except VideoFramesError as error:
        raise TrackingError(str(error)) from None
    finally:
        state.frames.close()


def _stop_if(cancel: Any) -> None:
    if cancel is not None and cancel.is_set():
        raise TrackingCancelledError("propagation was cancelled")
