"""SAM 2 / 2.1 for images: Hiera trunk, FPN neck, SAM 2's prompt encoder and mask
decoder, and the official image predictor API. See ``build`` for loading checkpoints.
For video: ``memory`` (memory encoder and attention), ``tracker`` (the tracking step),
``video_frames`` (lazy frame reading) and ``video_predictor`` (the official API)."""

from sam_core.sam2.build import (
    build_sam2,
    detect_sam2_model_type,
    is_sam2_state_dict,
    sam2_from_state_dict,
    sam2_model_registry,
    sam2_tracker_from_state_dict,
)
from sam_core.sam2.mask_generator import SAM2AutomaticMaskGenerator
from sam_core.sam2.model import Sam2, Sam2Features
from sam_core.sam2.predictor import SAM2ImagePredictor
from sam_core.sam2.tracker import FrameFeatures, FrameOutput, PointInputs, Sam2Tracker

__all__ = [
    "SAM2AutomaticMaskGenerator",
    "FrameFeatures",
    "FrameOutput",
    "PointInputs",
    "SAM2ImagePredictor",
    "Sam2",
    "Sam2Features",
    "Sam2Tracker",
    "build_sam2",
    "detect_sam2_model_type",
    "is_sam2_state_dict",
    "sam2_from_state_dict",
    "sam2_model_registry",
    "sam2_tracker_from_state_dict",
]
