"""``Sam2``: SAM 2's image model (image encoder, prompt encoder, mask decoder).

What the official ``SAM2Base`` does for an image without video memory: the encoder's
three levels; the two high-resolution ones go through the decoder's ``conv_s0`` /
``conv_s1``; the lowest-resolution one gets the learned ``no_mem_embed`` added (what the
memory attention would add on a video's first frame). The video parts of a checkpoint
(memory attention and encoder, object pointers) are not modules here; see
``sam_core.sam2.build``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sam_core.sam2.decoding import Sam2MaskDecoder, Sam2PromptEncoder
from sam_core.sam2.hiera import Hiera
from sam_core.sam2.image_encoder import FpnNeck, Sam2ImageEncoder
from sam_core.sam2.specs import D_MODEL, EMBEDDING_GRID, IMAGE_SIZE, MASK_IN_CHANS, Sam2Spec

#: SAM 2's input normalisation (ImageNet statistics, RGB in 0-1).
PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Sam2Features:
    """An image's features as the heads use them.

    image_embed: ``Bx256x64x64`` (``no_mem_embed`` added); high_res_feats:
    ``[Bx32x256x256, Bx64x128x128]`` (through ``conv_s0`` / ``conv_s1``).
    """

    image_embed: torch.Tensor
    high_res_feats: list[torch.Tensor]


class Sam2(nn.Module):
    """SAM 2 for images (parameter names as the official ``SAM2Base``)."""

    image_size = IMAGE_SIZE
    mask_threshold = 0.0

    def __init__(self, spec: Sam2Spec, model_type: str) -> None:
        super().__init__()
        self.spec = spec
        self.model_type = model_type  # "sam2.1_hiera_t", ...: 2.0 / 2.1 differ in video parts
        trunk = Hiera(
            embed_dim=spec.embed_dim,
            num_heads=spec.num_heads,
            stages=spec.stages,
            global_att_blocks=spec.global_att_blocks,
            window_pos_embed_bkg_spatial_size=spec.window_pos_embed_bkg_spatial_size,
            window_spec=spec.window_spec,
        )
        neck = FpnNeck(D_MODEL, spec.channel_list, fpn_top_down_levels=(2, 3))
        self.image_encoder = Sam2ImageEncoder(trunk, neck, scalp=1)
        self.sam_prompt_encoder = Sam2PromptEncoder(
            embed_dim=D_MODEL,
            image_embedding_size=(EMBEDDING_GRID, EMBEDDING_GRID),
            input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
            mask_in_chans=MASK_IN_CHANS,
        )
        self.sam_mask_decoder = Sam2MaskDecoder(D_MODEL)
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, D_MODEL))

    @property
    def device(self) -> torch.device:
        return self.no_mem_embed.device

    def image_features(self, image: torch.Tensor) -> Sam2Features:
        """``Bx3x1024x1024`` normalised input -> the features the heads use."""
        feat_s0, feat_s1, low = self.encoder_levels(image)
        image_embed = low + self.no_mem_embed.view(1, -1, 1, 1)
        return Sam2Features(image_embed, [feat_s0, feat_s1])

    def encoder_levels(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``Bx3x1024x1024`` normalised input -> the encoder's three levels, the two
        high-resolution ones through the decoder's ``conv_s0`` / ``conv_s1``:
        ``[Bx32x256x256, Bx64x128x128, Bx256x64x64]``."""
        decoder = self.sam_mask_decoder
        return self.image_encoder.projected_levels(image, (decoder.conv_s0, decoder.conv_s1))
