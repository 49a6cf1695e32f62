"""Prompt encoder: points, boxes and low-resolution masks -> sparse and dense embeddings.

Coordinate frame: points and boxes arrive in pixels of the resized model input (the
``ResizeLongestSide`` frame, long side = ``input_image_size``), X before Y.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_core.modeling.common import LayerNorm2d

# Point labels understood by the prompt encoder.
PADDING_LABEL = -1  # "not a point": pads the sequence when there is no box
NEGATIVE_LABEL = 0
POSITIVE_LABEL = 1


class PromptEncoder(nn.Module):
    """Encodes prompts for SAM's mask decoder."""

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        """
        Args:
            embed_dim: width of the prompt embeddings.
            image_embedding_size: (H, W) of the image embedding grid (64, 64 for SAM).
            input_image_size: (H, W) of the padded model input (1024, 1024 for SAM).
            mask_in_chans: hidden channels of the mask downscaling network.
            activation: activation of the mask downscaling network.
        """
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)

        # 0: negative point, 1: positive point, 2: box top-left, 3: box bottom-right.
        self.num_point_embeddings: int = 4
        self.point_embeddings = nn.ModuleList(
            nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings)
        )
        self.not_a_point_embed = nn.Embedding(1, embed_dim)

        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)
        self._dense_pe_cache: tuple[tuple, torch.Tensor] | None = None

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of every image-embedding cell: ``1 x embed_dim x H x W``.

        It depends only on the random-Fourier matrix, never on the prompts, so it is
        computed once and reused until that matrix changes (replaced, moved, or modified
        in place, e.g. by ``load_state_dict``). Do not modify the returned tensor.
        """
        matrix = self.pe_layer.positional_encoding_gaussian_matrix
        try:
            signature = (matrix.data_ptr(), matrix._version, matrix.device, matrix.dtype)
        except RuntimeError:  # an inference tensor has no version counter: do not cache
            return self.pe_layer(self.image_embedding_size).unsqueeze(0)
        cached = self._dense_pe_cache
        if cached is not None and cached[0] == signature:
            return cached[1]
        # A plain tensor without autograd history, usable inside and outside inference mode.
        # Stored token-major (the decoder's layout, a view away), shown as 1 x C x H x W.
        with torch.inference_mode(False), torch.no_grad():
            tokens = self.pe_layer(self.image_embedding_size).flatten(1).t().contiguous()
            dense_pe = tokens.t().view(1, -1, *self.image_embedding_size)
        self._dense_pe_cache = (signature, dense_pe)
        return dense_pe

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """``BxNx2`` points (input-frame pixels) and ``BxN`` labels -> ``BxN'xembed_dim``.

        With ``pad`` a "not a point" is appended (N' = N + 1), as SAM does without a box.
        """
        points = points + 0.5  # pixel index -> pixel centre
        if pad:
            padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
            padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
            points = torch.cat([points, padding_point], dim=1)
            labels = torch.cat([labels, padding_label], dim=1)
        embedding = self.pe_layer.forward_with_coords(points, self.input_image_size)
        # Padding points get only the "not a point" embedding; labelled points add
        # their label's embedding to the positional encoding. (torch.where rather than
        # boolean indexing: same values, no data-dependent shapes.)
        labels = labels.unsqueeze(-1)
        embedding = torch.where(labels == PADDING_LABEL, self.not_a_point_embed.weight, embedding)
        embedding = torch.where(
            labels == NEGATIVE_LABEL, embedding + self.point_embeddings[0].weight, embedding
        )
        return torch.where(
            labels == POSITIVE_LABEL, embedding + self.point_embeddings[1].weight, embedding
        )

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """``Bx4`` XYXY boxes (input-frame pixels) -> ``Bx2xembed_dim`` corner embeddings."""
        boxes = boxes + 0.5  # pixel index -> pixel centre
        corners = boxes.reshape(-1, 2, 2)
        embedding = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        embedding[:, 0, :] += self.point_embeddings[2].weight
        embedding[:, 1, :] += self.point_embeddings[3].weight
        return embedding

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """``Bx1x256x256`` mask logits -> ``B x embed_dim x 64 x 64``.

        The result is channels-last in memory, the layout the decoder reads (token rows):
        the last (1x1) convolution keeps its input's layout, and that input is small.
        """
        *downscale, to_embedding = self.mask_downscaling
        features = masks
        for layer in downscale:
            features = layer(features)
        return to_embedding(features.contiguous(memory_format=torch.channels_last))

    def _get_batch_size(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> int:
        """The batch size implied by the first prompt present (1 with none)."""
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def _get_device(self) -> torch.device:
        return self.point_embeddings[0].weight.device

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed prompts.

        Args:
            points: ``BxNx2`` coordinates and ``BxN`` labels (1 positive, 0 negative,
                -1 padding), or None.
            boxes: ``Bx4`` XYXY boxes, or None.
            masks: ``Bx1x(4H)x(4W)`` mask logits, or None.

        Returns:
            Sparse embeddings ``BxNxembed_dim`` (points then box corners) and dense
            embeddings ``Bxembed_dimxHxW`` (the mask, or the learned "no mask" embedding).
        """
        batch = self._get_batch_size(points, boxes, masks)
        sparse = torch.empty((batch, 0, self.embed_dim), device=self._get_device())
        if points is not None:
            coords, labels = points
            point_embedding = self._embed_points(coords, labels, pad=boxes is None)
            sparse = torch.cat([sparse, point_embedding], dim=1)
        if boxes is not None:
            sparse = torch.cat([sparse, self._embed_boxes(boxes)], dim=1)

        if masks is not None:
            dense = self._embed_masks(masks)
        else:
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                batch, -1, self.image_embedding_size[0], self.image_embedding_size[1]
            )
        return sparse, dense


class PositionEmbeddingRandom(nn.Module):
    """Positional encoding with random spatial frequencies (random Fourier features).

    A fixed ``2 x num_pos_feats`` gaussian matrix (a persistent buffer, saved in
    checkpoints) projects coordinates in [-1, 1]^2; the encoding is ``[sin, cos]`` of
    ``2*pi`` times that projection, ``2*num_pos_feats`` wide.
    """

    def __init__(self, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer(
            "positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats))
        )

    def _pe_encoding(self, coords: torch.Tensor) -> torch.Tensor:
        """``...x2`` coordinates normalised to [0, 1] -> ``...x(2*num_pos_feats)``."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Encoding of the centres of an (H, W) grid: ``Cx H x W``."""
        height, width = size
        device = self.positional_encoding_gaussian_matrix.device
        grid = torch.ones((height, width), device=device, dtype=torch.float32)
        y_centres = (grid.cumsum(dim=0) - 0.5) / height
        x_centres = (grid.cumsum(dim=1) - 0.5) / width
        encoding = self._pe_encoding(torch.stack([x_centres, y_centres], dim=-1))
        return encoding.permute(2, 0, 1)

    def forward_with_coords(
        self, coords_input: torch.Tensor, image_size: tuple[int, int]
    ) -> torch.Tensor:
        """``BxNx2`` XY pixel coordinates in an (H, W) image -> ``BxNxC`` encoding."""
        coords = coords_input.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        return self._pe_encoding(coords.to(torch.float))
