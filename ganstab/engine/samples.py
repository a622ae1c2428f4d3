"""Sample pictures for a person to look at (lesson 2: judge a run by its samples, not one loss).

Points: a scatter of generated samples (blue) over the true centres (red crosses), drawn with
Pillow and numpy so no plotting library is needed. Images: a grid. (Curves: ganstab/curves.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw


def save_scatter(
    samples: torch.Tensor,
    path: Path,
    centres: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
    size: int = 480,
    title: str = "",
) -> None:
    """Scatter of the first two coordinates of `samples` `[N, D]`, rasterized with numpy (a 3x3
    dot per sample): a search draws one per member at each evaluation, so it must cost little."""
    pts = samples[:, :2].detach().float().cpu()
    pts = pts[torch.isfinite(pts).all(dim=1)]
    frame = centres if centres is not None else reference
    frame = frame[:, :2].float().cpu() if frame is not None else pts
    if len(frame) == 0:  # no finite sample and nothing else to frame the picture
        frame = torch.zeros(1, 2)
    lo = frame.min(dim=0).values
    hi = frame.max(dim=0).values
    pad = (hi - lo).max().clamp_min(1e-3) * 0.25
    lo, hi = lo - pad, hi + pad
    span = float((hi - lo).max())
    pixels = np.full((size, size, 3), 255, dtype=np.uint8)

    def xy(p: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        u = ((p - lo) / span * (size - 1)).numpy()
        return np.round(u[:, 0]).astype(np.int64), np.round(size - 1 - u[:, 1]).astype(np.int64)

    def dots(p: torch.Tensor, colour: tuple[int, int, int], radius: int) -> None:
        x, y = xy(p)
        for dx in range(-radius, radius + 1):
            for dy in range(-radius, radius + 1):
                xx, yy = x + dx, y + dy
                inside = (xx >= 0) & (xx < size) & (yy >= 0) & (yy < size)
                pixels[yy[inside], xx[inside]] = colour

    if reference is not None:
        dots(reference[:, :2].float().cpu(), (200, 200, 200), 0)
    dots(pts, (31, 119, 180), 1)
    img = Image.fromarray(pixels)
    draw = ImageDraw.Draw(img)
    if centres is not None:
        cx, cy = xy(centres[:, :2].float().cpu())
        for x, y in zip(cx.tolist(), cy.tolist()):
            draw.line((x - 6, y - 6, x + 6, y + 6), fill=(214, 39, 40), width=2)
            draw.line((x - 6, y + 6, x + 6, y - 6), fill=(214, 39, 40), width=2)
    if title:
        draw.text((6, 4), title, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """Grid of images `[N, C, H, W]` in [-1, 1], upscaled so 8x8 digits are visible."""
    from torchvision.utils import make_grid

    x = images[: nrow * nrow].detach().float().cpu().nan_to_num(0.0).clamp(-1, 1)
    scale = max(1, 64 // x.shape[-1])
    x = x.repeat_interleave(scale, dim=-1).repeat_interleave(scale, dim=-2)
    grid = make_grid((x + 1) / 2, nrow=nrow, padding=2, pad_value=1.0)
    arr = (grid * 255).round().byte().permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr).save(path)
