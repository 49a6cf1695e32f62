"""sam_core: a PyTorch implementation of Segment Anything with the official API.

Official checkpoints (``sam_vit_b_01ec64.pth``, ``sam_vit_l_0b3195.pth``,
``sam_vit_h_4b8939.pth``, MobileSAM's ``mobile_sam.pt`` as ``vit_t``, and SAM 2 / 2.1's
``sam2.1_hiera_{tiny,small,base_plus,large}.pt`` for images and video:
:mod:`sam_core.sam2`) load unchanged;
checkpoints are read with ``weights_only=True`` and never run code.
"""

from sam_core.automatic_mask_generator import GenerationCancelled, SamAutomaticMaskGenerator
from sam_core.build_sam import (
    build_sam,
    build_sam_vit_b,
    build_sam_vit_h,
    build_sam_vit_l,
    build_sam_vit_t,
    build_sam_vit_tiny_test,
    load_sam,
    sam_model_registry,
)
from sam_core.checkpoint import (
    CheckpointError,
    CheckpointKeysError,
    CheckpointNotFoundError,
    ModelTypeMismatchError,
    NonFiniteWeightsWarning,
    NotACheckpointError,
    TruncatedCheckpointError,
    UnknownModelTypeError,
    UnsafeCheckpointError,
    detect_model_type,
    read_state_dict,
)
from sam_core.embedding import PREPROCESSING_VERSION, ImageEmbedding, model_id
from sam_core.mask_logits import logits_to_size, mask_to_logits
from sam_core.predictor import SINGLE_OUTPUT, ImageNotSetError, SamPredictor
from sam_core.sam2 import (
    Sam2,
    SAM2AutomaticMaskGenerator,
    SAM2ImagePredictor,
    build_sam2,
    sam2_model_registry,
)
from sam_core.sam2.video_predictor import SAM2VideoPredictor, build_sam2_video_predictor

__all__ = [
    "PREPROCESSING_VERSION",
    "SAM2AutomaticMaskGenerator",
    "SAM2ImagePredictor",
    "SAM2VideoPredictor",
    "Sam2",
    "SINGLE_OUTPUT",
    "CheckpointError",
    "CheckpointKeysError",
    "CheckpointNotFoundError",
    "GenerationCancelled",
    "ImageEmbedding",
    "ImageNotSetError",
    "ModelTypeMismatchError",
    "NonFiniteWeightsWarning",
    "NotACheckpointError",
    "SamAutomaticMaskGenerator",
    "SamPredictor",
    "TruncatedCheckpointError",
    "UnknownModelTypeError",
    "UnsafeCheckpointError",
    "build_sam",
    "build_sam2",
    "build_sam2_video_predictor",
    "build_sam_vit_b",
    "build_sam_vit_h",
    "build_sam_vit_l",
    "build_sam_vit_t",
    "build_sam_vit_tiny_test",
    "detect_model_type",
    "load_sam",
    "logits_to_size",
    "mask_to_logits",
    "model_id",
    "read_state_dict",
    "sam2_model_registry",
    "sam_model_registry",
]
