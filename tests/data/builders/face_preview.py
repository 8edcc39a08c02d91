"""A picture of the built-in face datasets, to look at what the builders generate.

    .venv/bin/python -m tests.data.builders.face_preview [OUT.png]

Top: `jaxvision_faces_scene` train images with each face's box (green: landmarks valid,
red: a face in front hides one) and its five landmarks (left eye red, right eye blue, nose
green, left mouth corner magenta, right mouth corner cyan). Below: `jaxvision_faces_identity`
aligned64, one identity a row, its attributes (M/F, young/old, glasses) on the left and
each image's smile as S. Rendered straight from the renderers (no TFDS files written).
"""

from __future__ import annotations

import sys

from PIL import Image, ImageDraw

from jaxvision.data.builders import faces_identity, faces_scene

DEFAULT_OUT = "/tmp/jaxvision_faces_preview.png"
LANDMARK_COLOURS = ((255, 40, 40), (40, 80, 255), (40, 220, 40), (255, 0, 255), (0, 230, 230))
ZOOM = 2


def scene_tile(index: int) -> Image.Image:
    """Train scene `index`, enlarged, with boxes and landmarks drawn."""
    scene = faces_scene.render_example(faces_scene.BUILDER_CONFIGS[0], "train", index)
    size = scene["image"].shape[0] * ZOOM
    tile = Image.fromarray(scene["image"]).resize((size, size), Image.NEAREST)
    draw = ImageDraw.Draw(tile)
    faces = scene["faces"]
    for box, points, valid in zip(
        faces["bbox"], faces["landmarks"], faces["landmarks_valid"], strict=True
    ):
        y1, x1, y2, x2 = (box * size).tolist()
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=(0, 255, 0) if valid else (255, 0, 0))
        for (x, y), colour in zip(points * size, LANDMARK_COLOURS, strict=True):
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    return tile


def identity_row(identity: int, images: int = 8) -> Image.Image:
    """One identity's aligned crops, enlarged, with its attributes as captions."""
    config = faces_identity.BUILDER_CONFIGS[0]
    renders = [faces_identity.render_example(config, identity, k) for k in range(images)]
    side = config.image_size * ZOOM
    row = Image.new("RGB", (60 + images * side, side + 12), "white")
    draw = ImageDraw.Draw(row)
    attrs = renders[0]["attributes"]
    label = f"id {identity}\n{'M' if attrs['Male'] else 'F'} {'young' if attrs['Young'] else 'old'}"
    draw.text((2, 4), label + ("\nglasses" if attrs["Eyeglasses"] else ""), fill="black")
    for k, render in enumerate(renders):
        crop = Image.fromarray(render["image"]).resize((side, side), Image.NEAREST)
        row.paste(crop, (60 + k * side, 0))
        smile = "S" if render["attributes"]["Smiling"] else "-"
        draw.text((62 + k * side, side), smile, fill="black")
    return row


def preview(out: str = DEFAULT_OUT, scenes: int = 12, identities: int = 6) -> str:
    """Writes the picture to `out` and returns the path."""
    tiles = [scene_tile(i) for i in range(scenes)]
    rows = [identity_row(i) for i in range(identities)]
    per_row = 6
    tile = tiles[0].size[0]
    width = max(per_row * tile, rows[0].size[0])
    scene_rows = -(-scenes // per_row)
    height = scene_rows * tile + 10 + sum(r.size[1] for r in rows)
    canvas = Image.new("RGB", (width, height), "white")
    for i, t in enumerate(tiles):
        canvas.paste(t, ((i % per_row) * tile, (i // per_row) * tile))
    y = scene_rows * tile + 10
    for r in rows:
        canvas.paste(r, (0, y))
        y += r.size[1]
    canvas.save(out)
    return out


if __name__ == "__main__":
    print(preview(*sys.argv[1:2]))
