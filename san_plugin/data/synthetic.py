"""Deterministic, procedurally drawn image-classification dataset.

Every image shows a shaded object (a rounded blob with a drop shadow) on a
cluttered, unevenly lit background. The class is decided only by the fine
surface detail on the object: small glyphs (dots, rings, crosses, triangles,
dashes) or a texture (fine/coarse stripes, checks, speckle, none). Position,
size, rotation, colours, contrast, clutter, lighting, blur, noise and JPEG
quality are nuisance variables. Because the deciding details are only a few
pixels wide at 96 px, classification accuracy drops as the input is resized
to lower resolutions.

Each image is drawn from its own random stream seeded by
``(seed, split, class, index)``, so generation is byte-for-byte reproducible
and independent of the number of images requested. Only numpy and PIL are
used.
"""

from __future__ import annotations

import json
import math
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_NAMES: tuple[str, ...] = (
    "checks", "coarse_stripes", "crosses", "dashes", "dots",
    "fine_stripes", "plain", "rings", "speckle", "triangles",
)
"""Class names in label order; sorted, so folder-scanning loaders (mmpretrain
``CustomDataset``, torchvision ``ImageFolder``) assign the same labels."""

FORMAT_ID = "san_plugin.data.synthetic"
FORMAT_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "val")
_SS = 2  # supersampling factor used while drawing
_GLYPHS = ("dots", "rings", "crosses", "triangles", "dashes")


def _rgb(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return rng.uniform(lo, hi, size=3)


def _smooth_noise(rng: np.random.Generator, cells: int, res: int,
                  channels: int = 3) -> np.ndarray:
    """Bicubically upsampled uniform noise in [-1, 1], shape (res, res, C)."""
    grid = rng.uniform(0, 255, size=(cells, cells, channels)).astype(np.uint8)
    mode = "RGB" if channels == 3 else "L"
    im = Image.fromarray(grid.squeeze(), mode).resize((res, res), Image.BICUBIC)
    arr = np.asarray(im, dtype=np.float32).reshape(res, res, channels)
    return arr / 127.5 - 1.0


def _background(rng: np.random.Generator, res: int) -> np.ndarray:
    """Gradient + low-frequency noise + blurred random clutter, float RGB.

    Drawn at ``res // _SS`` (it has no fine detail) and upsampled to ``res``.
    """
    low = res // _SS
    yy, xx = np.mgrid[0:low, 0:low].astype(np.float32) / low
    ang = rng.uniform(0, 2 * math.pi)
    t = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5) + 0.5)[..., None]
    bg = (1 - t) * _rgb(rng, 0.1, 0.9).astype(np.float32) + t * _rgb(rng, 0.1, 0.9).astype(np.float32)
    bg = bg + rng.uniform(0.05, 0.2) * _smooth_noise(rng, int(rng.integers(3, 8)), low)
    base = Image.fromarray(np.uint8(np.clip(bg, 0, 1) * 255), "RGB")
    layer = base.copy()
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(3, 9))):
        col = tuple(int(c) for c in rng.integers(0, 256, size=3))
        cx, cy = rng.uniform(-0.1, 1.1, size=2) * low
        r = rng.uniform(0.06, 0.25) * low
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse([cx - r, cy - r * rng.uniform(0.5, 1), cx + r, cy + r], fill=col)
        elif kind == 1:
            draw.rectangle([cx - r, cy - r / 2, cx + r, cy + r / 2], fill=col)
        else:
            x2, y2 = rng.uniform(0, 1, size=2) * low
            draw.line([cx, cy, x2, y2], fill=col, width=max(1, int(rng.uniform(0.03, 0.08) * low)))
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.01, 0.03) * low))
    alpha = float(rng.uniform(0.4, 0.8))
    mixed = Image.blend(base, layer, alpha)
    return np.asarray(mixed.resize((res, res), Image.BILINEAR), dtype=np.float32) / 255.0


def _texture(kind: str, rng: np.random.Generator, u: np.ndarray, v: np.ndarray,
             unit: float) -> np.ndarray:
    """Texture coverage in [0, 1]; ``u, v`` are object coords in output pixels."""
    ang = rng.uniform(0, math.pi)
    a = np.cos(ang) * u + np.sin(ang) * v
    b = -np.sin(ang) * u + np.cos(ang) * v
    if kind == "plain":
        return np.zeros_like(u)
    if kind in ("fine_stripes", "coarse_stripes"):
        lo, hi = (3.0, 4.0) if kind == "fine_stripes" else (6.5, 9.0)
        period = unit * rng.uniform(lo, hi)
        return np.clip(0.5 + 1.5 * np.sin(2 * math.pi * a / period + rng.uniform(0, 7)), 0, 1)
    if kind == "checks":
        cell = unit * rng.uniform(2.8, 4.0)
        s = np.sin(math.pi * a / cell) * np.sin(math.pi * b / cell)
        return np.clip(0.5 + 2.0 * s, 0, 1)
    if kind == "speckle":
        res = u.shape[0]
        noise = _smooth_noise(rng, max(4, int(res / (_SS * unit * 2.2))), res, 1)[..., 0]
        return np.clip((noise - 0.3) * 3.0, 0, 1)
    raise ValueError(f"unknown texture {kind!r}")


def _glyph_layer(kind: str, rng: np.random.Generator, res: int, center: np.ndarray,
                 axes: np.ndarray, rot: float, unit: float) -> np.ndarray:
    """Draws 5-11 small glyphs inside the object ellipse, coverage in [0, 1]."""
    im = Image.new("L", (res, res), 0)
    draw = ImageDraw.Draw(im)
    size = unit * _SS * rng.uniform(5.0, 7.5)
    width = max(_SS, int(round(0.22 * size)))
    rmat = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    placed: list[np.ndarray] = []
    target = int(rng.integers(5, 12))
    for _ in range(target * 8):
        if len(placed) >= target:
            break
        p = rng.uniform(-0.8, 0.8, size=2)
        if p @ p > 0.64:
            continue
        pos = center + rmat @ (p * axes)
        if any(np.hypot(*(pos - q)) < 1.5 * size for q in placed):
            continue
        placed.append(pos)
        phi = rng.uniform(0, 2 * math.pi)
        _draw_glyph(draw, kind, pos, size, width, phi)
    return np.asarray(im, dtype=np.float32) / 255.0


def _rot_pts(pts: list[tuple[float, float]], pos: np.ndarray, phi: float) -> list:
    c, s = math.cos(phi), math.sin(phi)
    return [(pos[0] + c * x - s * y, pos[1] + s * x + c * y) for x, y in pts]


def _draw_glyph(draw: ImageDraw.ImageDraw, kind: str, pos: np.ndarray, size: float,
                width: int, phi: float) -> None:
    x, y = float(pos[0]), float(pos[1])
    h, w = size / 2, width / 2
    if kind == "dots":
        r = 0.38 * size
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    elif kind == "rings":
        draw.ellipse([x - h, y - h, x + h, y + h], outline=255, width=width)
    elif kind in ("crosses", "dashes"):
        bars = [0.0, math.pi / 2] if kind == "crosses" else [0.0]
        ext = h if kind == "crosses" else 0.6 * size
        for extra in bars:
            pts = [(-ext, -w), (ext, -w), (ext, w), (-ext, w)]
            draw.polygon(_rot_pts(pts, pos, phi + extra), fill=255)
    elif kind == "triangles":
        r = 0.58 * size
        pts = [(r * math.cos(k * 2 * math.pi / 3), r * math.sin(k * 2 * math.pi / 3))
               for k in range(3)]
        draw.polygon(_rot_pts(pts, pos, phi), fill=255)
    else:
        raise ValueError(f"unknown glyph {kind!r}")


def render_image(class_idx: int, rng: np.random.Generator, image_size: int = 96) -> Image.Image:
    """Renders one RGB image of class ``CLASS_NAMES[class_idx]``.

    Args:
        class_idx: Label in ``range(len(CLASS_NAMES))``.
        rng: Random stream; the image is a pure function of its state.
        image_size: Output side length in pixels.

    Returns:
        A ``image_size x image_size`` RGB PIL image (before JPEG encoding).

    Example:
        >>> im = render_image(3, np.random.default_rng(0), 64)
        >>> im.size, im.mode
        ((64, 64), 'RGB')
    """
    kind = CLASS_NAMES[class_idx]
    res = image_size * _SS
    unit = image_size / 96.0  # detail sizes are specified for 96 px images
    img = _background(rng, res)
    center = rng.uniform(0.32, 0.68, size=2) * res
    axes = rng.uniform(0.24, 0.38, size=2) * res
    (cx, cy), (ax, ay) = center.tolist(), axes.tolist()
    rot = float(rng.uniform(0, math.pi))
    power = float(rng.uniform(2.0, 4.0))
    yy, xx = np.ogrid[0:res, 0:res]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    c, s = math.cos(rot), math.sin(rot)
    u = c * (xx - cx) + s * (yy - cy)
    v = -s * (xx - cx) + c * (yy - cy)
    dist = (np.abs(u / ax) ** power + np.abs(v / ay) ** power) ** (1 / power)
    mask = np.clip((1 - dist) * (min(ax, ay) / 1.5), 0, 1)[..., None]
    # Drop shadow: shifted, blurred object mask darkens the background.
    shift = (rng.uniform(-0.05, 0.05, size=2) * res).astype(int)
    shadow = np.roll(mask[..., 0], tuple(shift[::-1]), axis=(0, 1))
    shadow_im = Image.fromarray(np.uint8(shadow * 255)).filter(ImageFilter.GaussianBlur(0.03 * res))
    img = img * (1 - 0.45 * np.asarray(shadow_im, dtype=np.float32)[..., None] / 255.0)
    if kind in _GLYPHS:
        pattern = _glyph_layer(kind, rng, res, center, axes, rot, unit)
    else:
        pattern = _texture(kind, rng, u / _SS, v / _SS, unit)
    base = _rgb(rng, 0.15, 0.85)
    contrast = rng.uniform(0.2, 0.55) * rng.choice([-1.0, 1.0])
    mark = np.clip(base + contrast + rng.uniform(-0.15, 0.15, size=3), 0, 1)
    base, mark = base.astype(np.float32), mark.astype(np.float32)
    lx, ly = rng.uniform(-0.3, 0.3, size=2).tolist()
    shade = 1.05 - 0.3 * dist ** 2 + (lx / ax) * u + (ly / ay) * v
    obj = (base * (1 - pattern[..., None]) + mark * pattern[..., None]) * shade[..., None]
    img = img * (1 - mask) + obj * mask
    # Global lighting gradient, then downsample, blur and sensor noise.
    g_ang = rng.uniform(0, 2 * math.pi)
    grad = (np.cos(g_ang) * (xx / res - 0.5) + np.sin(g_ang) * (yy / res - 0.5))
    img = img * (float(rng.uniform(0.85, 1.15)) + float(rng.uniform(0.0, 0.5)) * grad)[..., None]
    out = Image.fromarray(np.uint8(np.clip(img, 0, 1) * 255 + 0.5), "RGB")
    out = out.resize((image_size, image_size), Image.BOX)
    out = out.filter(ImageFilter.GaussianBlur(unit * rng.uniform(0.0, 0.6)))
    noise = rng.normal(0.0, rng.uniform(0.0, 6.0), size=(image_size, image_size, 3))
    arr = np.clip(np.asarray(out, dtype=np.float32) + noise, 0, 255)
    return Image.fromarray(np.uint8(arr + 0.5), "RGB")


def _image_rng(seed: int, split: str, class_idx: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), class_idx, index])


def _encode_jpeg(img: Image.Image, rng: np.random.Generator) -> bytes:
    buf = BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(80, 96)), optimize=False)
    return buf.getvalue()


def _file_name(split: str, class_idx: int, index: int) -> str:
    return f"{split}_{class_idx:02d}_{index:05d}.JPEG"


def _params(num_train: int, num_val: int, image_size: int, seed: int) -> dict[str, Any]:
    return {"format": FORMAT_ID, "version": FORMAT_VERSION, "classes": list(CLASS_NAMES),
            "num_train_per_class": num_train, "num_val_per_class": num_val,
            "image_size": image_size, "seed": seed}


def _read_meta(root: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((root / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT_ID else None


def _is_complete(root: Path, params: dict[str, Any]) -> bool:
    if _read_meta(root) != params:
        return False
    for split in SPLITS:
        want = params[f"num_{split}_per_class"]
        for name in CLASS_NAMES:
            folder = root / split / name
            if not folder.is_dir() or sum(1 for _ in folder.glob("*.JPEG")) != want:
                return False
    return True


def _summary(root: Path, params: dict[str, Any], generated: bool) -> dict[str, Any]:
    return {"root": str(root), "classes": list(CLASS_NAMES), "num_classes": len(CLASS_NAMES),
            "counts": {s: params[f"num_{s}_per_class"] * len(CLASS_NAMES) for s in SPLITS},
            "num_train_per_class": params["num_train_per_class"],
            "num_val_per_class": params["num_val_per_class"],
            "image_size": params["image_size"], "seed": params["seed"],
            "generated": generated}


def generate_dataset(root: str | Path, *, num_train_per_class: int = 300,
                     num_val_per_class: int = 60, image_size: int = 96, seed: int = 0,
                     overwrite: bool = False) -> dict[str, Any]:
    """Writes the synthetic dataset in ImageNet folder layout.

    Layout: ``<root>/{train,val}/<class_name>/<split>_<label>_<index>.JPEG``
    plus ``<root>/meta.json`` (written last; it marks a complete dataset).
    If ``root`` already holds a complete dataset with the same parameters,
    nothing is written. A dataset previously written by this function with
    other parameters, or left incomplete, is regenerated. A non-empty
    directory without our ``meta.json`` is refused unless ``overwrite``.

    Args:
        root: Output directory (created if missing).
        num_train_per_class: Training images per class.
        num_val_per_class: Validation images per class.
        image_size: Side length of the square RGB images.
        seed: Master seed; output is byte-for-byte deterministic in
            ``(seed, image_size)`` and each image is independent of the counts.
        overwrite: Regenerate even if complete; for a foreign directory,
            delete its ``train/``, ``val/`` and ``meta.json`` and write anyway.

    Returns:
        Dict with ``root``, ``classes``, ``num_classes``, ``counts`` (images
        per split), the parameters, and ``generated`` (False when skipped).

    Raises:
        FileExistsError: ``root`` is a non-empty directory not created by
            this function (and ``overwrite`` is False), or is a file.
        ValueError: A count or the seed is negative, or ``image_size < 16``.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()) / "demo"
        >>> info = generate_dataset(root, num_train_per_class=3,
        ...                         num_val_per_class=1, image_size=64)
        >>> info["classes"][:2], info["counts"]
        (['checks', 'coarse_stripes'], {'train': 30, 'val': 10})
    """
    if min(num_train_per_class, num_val_per_class, seed) < 0 or image_size < 16:
        raise ValueError("counts and seed must be >= 0 and image_size >= 16, got "
                         f"{num_train_per_class=}, {num_val_per_class=}, {seed=}, {image_size=}")
    root = Path(root)
    params = _params(int(num_train_per_class), int(num_val_per_class), int(image_size), int(seed))
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"dataset root {str(root)!r} exists and is not a directory")
    if not overwrite and _is_complete(root, params):
        return _summary(root, params, generated=False)
    if root.is_dir() and any(root.iterdir()) and _read_meta(root) is None and not overwrite:
        raise FileExistsError(
            f"refusing to write the synthetic dataset into {str(root)!r}: the directory is "
            "not empty and has no san_plugin meta.json; choose an empty or new directory, "
            "or pass overwrite=True to replace its train/, val/ and meta.json")
    (root / "meta.json").unlink(missing_ok=True)
    for split in SPLITS:
        shutil.rmtree(root / split, ignore_errors=True)
    for split in SPLITS:
        for label, name in enumerate(CLASS_NAMES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(params[f"num_{split}_per_class"]):
                rng = _image_rng(params["seed"], split, label, index)
                data = _encode_jpeg(render_image(label, rng, params["image_size"]), rng)
                (folder / _file_name(split, label, index)).write_bytes(data)
    tmp = root / "meta.json.tmp"
    tmp.write_text(json.dumps(params, indent=2) + "\n")
    tmp.replace(root / "meta.json")
    return _summary(root, params, generated=True)
