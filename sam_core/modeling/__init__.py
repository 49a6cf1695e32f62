"""SAM's networks, with the official class names and state_dict layout."""

from sam_core.modeling.common import LayerNorm2d, MLPBlock
from sam_core.modeling.image_encoder import ImageEncoderViT
from sam_core.modeling.mask_decoder import MaskDecoder
from sam_core.modeling.prompt_encoder import PositionEmbeddingRandom, PromptEncoder
from sam_core.modeling.sam import Sam
from sam_core.modeling.tiny_vit import TinyViT
from sam_core.modeling.transformer import TwoWayTransformer

__all__ = [
    "ImageEncoderViT",
    "LayerNorm2d",
    "MLPBlock",
    "MaskDecoder",
    "PositionEmbeddingRandom",
    "PromptEncoder",
    "Sam",
    "TinyViT",
    "TwoWayTransformer",
]
