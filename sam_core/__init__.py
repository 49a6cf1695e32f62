"""sam_core: a PyTorch implementation of Segment Anything with the official API.

Official checkpoints (``sam_vit_b_01ec64.pth``, ``sam_vit_l_0b3195.pth``,
``sam_vit_h_4b8939.pth``, and MobileSAM's ``mobile_sam.pt`` as ``vit_t``) load unchanged;
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

__all__ = [
    "PREPROCESSING_VERSION",
    "SINGLE_OUTPUT",
    "CheckpointError",
    "CheckpointKeysError",
    "CheckpointNotFoundError",
    "GenerationCancelled",
    "ImageEmbedding",
    "ImageNotSetError",
    "ModelTypeMismatchError",
    "NotACheckpointError",
    "SamAutomaticMaskGenerator",
    "SamPredictor",
    "TruncatedCheckpointError",
    "UnknownModelTypeError",
    "UnsafeCheckpointError",
    "build_sam",
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
    "sam_model_registry",
]
