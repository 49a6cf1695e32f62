"""SAM 2 / 2.1 for images: Hiera trunk, FPN neck, SAM 2's prompt encoder and mask
decoder, and the official image predictor API. See ``build`` for loading checkpoints."""

from sam_core.sam2.build import (
    build_sam2,
    detect_sam2_model_type,
    is_sam2_state_dict,
    sam2_from_state_dict,
    sam2_model_registry,
)
from sam_core.sam2.mask_generator import SAM2AutomaticMaskGenerator
from sam_core.sam2.model import Sam2, Sam2Features
from sam_core.sam2.predictor import SAM2ImagePredictor

__all__ = [
    "SAM2AutomaticMaskGenerator",
    "SAM2ImagePredictor",
    "Sam2",
    "Sam2Features",
    "build_sam2",
    "detect_sam2_model_type",
    "is_sam2_state_dict",
    "sam2_from_state_dict",
    "sam2_model_registry",
]
