"""``python -m jaxvision.style CONTENT [STYLE] --out=OUT.png ...``: style one image.

Methods:

- ``gatys`` (default): optimises the pixels (``jaxvision.style.gatys``); needs STYLE and
  ``--vgg_weights`` (torchvision's ``vgg19-dcbb9e9d.pth``; a missing file is an error naming
  it and where it comes from). ``--steps``, ``--style_weight``, ``--content_weight``,
  ``--tv_weight``, ``--optimizer`` (lbfgs | adam), ``--learning_rate``, ``--levels``
  (coarse to fine), ``--init`` (content | noise) apply. A bar shows the loss;
  ``--save_every=K`` writes the image every K steps to ``OUT_step00050.png`` (with
  ``--levels`` > 1: ``OUT_level0_step00050.png``). A NaN loss stops the run, says so, and
  writes the last image with a finite loss.
- ``adain``: a trained AdaIN decoder (``--workdir`` of a ``train/configs/adain_small.py``
  run) styles CONTENT with any STYLE; ``--alpha`` trades content for style.
- ``fast``: a trained feed-forward network (``--workdir`` of a
  ``train/configs/fast_style_small.py`` run) styles CONTENT with its own style; no STYLE.

Sizes: ``--size=S`` resizes the content to a longer side of S pixels (default: its own
size); the style image is resized to the content's longer side times ``--style_scale``
(aspect ratios kept; ``jaxvision.style.images``). The output has the content's size.

Example:
  python -m jaxvision.style photo.jpg painting.jpg --out=styled.png \
    --vgg_weights=vgg19-dcbb9e9d.pth --size=256 --steps=300 --save_every=50
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

from jaxvision.style import images as images_lib
from jaxvision.style.optimize import DEFAULT_CHUNK, OPTIMIZERS

METHODS = ("gatys", "adain", "fast")
# Options of the optimisation only.
GATYS_ONLY = ("steps", "style_weight", "content_weight", "tv_weight", "levels", "save_every")


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    p = argparse.ArgumentParser(
        prog="python -m jaxvision.style", description="Neural style transfer of one image."
    )
    p.add_argument("content", help="the content image file")
    p.add_argument("style", nargs="?", help="the style image file (gatys, adain)")
    p.add_argument("--out", required=True, help="the output image file (.png)")
    p.add_argument("--method", choices=METHODS, default="gatys")
    p.add_argument(
        "--vgg_weights",
        help="torchvision's VGG-19 state dict, vgg19-dcbb9e9d.pth (gatys; adain: instead of "
        "the run's), or 'random' (random weights: tests only)",
    )
    p.add_argument("--workdir", help="the training run of --method=adain|fast")
    p.add_argument("--size", type=int, help="the output's longer side (default: the content's)")
    p.add_argument(
        "--style_scale", type=float, default=1.0, help="the style's longer side / the content's"
    )
    p.add_argument("--steps", type=int, help="optimisation steps (default 300)")
    p.add_argument("--style_weight", type=float, help="default 1e6")
    p.add_argument("--content_weight", type=float, help="default 1")
    p.add_argument("--tv_weight", type=float, help="default 1 (squared total variation)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    p.add_argument("--learning_rate", type=float, help="adam's (default 0.02); lbfgs: line search")
    p.add_argument("--levels", type=int, help="resolutions, coarse to fine (default 1)")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument("--save_every", type=int, help="write the image every K steps")
    p.add_argument("--alpha", type=float, help="adain's content-style trade-off in [0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _check(args: argparse.Namespace) -> None:
    """Raises ValueError for options that do not go with the method."""
    if args.method in ("gatys", "adain") and not args.style:
        raise ValueError(f"--method={args.method} needs a STYLE image")
    if args.method == "fast" and args.style:
        raise ValueError("--method=fast styles with its run's own style: give no STYLE image")
    if args.method != "gatys":
        if not args.workdir:
            raise ValueError(f"--method={args.method} needs --workdir, a trained run")
        given = [name for name in GATYS_ONLY if getattr(args, name) is not None]
        if given:
            raise ValueError(f"--{', --'.join(given)}: options of --method=gatys only")
    elif args.vgg_weights is None:
        from jaxvision.style.vgg_weights import missing_weights_message

        raise FileNotFoundError(missing_weights_message(""))
    if args.save_every is not None and args.save_every < 1:
        raise ValueError(f"--save_every must be >= 1, got {args.save_every}")


def _gatys(args: argparse.Namespace, content, style):
    """Runs the optimisation; returns the image and a line to print."""
    from jaxvision.style import gatys
    from jaxvision.style.vgg_weights import vgg19_variables

    given = {
        k: getattr(args, k)
        for k in ("steps", "style_weight", "content_weight", "tv_weight", "levels")
        if getattr(args, k) is not None
    }
    options = gatys.GatysOptions(
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        init=args.init,
        size=args.size,
        style_scale=args.style_scale,
        seed=args.seed,
        **given,
    )
    layers = [*options.content_layers, *options.style_layers]
    variables = vgg19_variables(args.vgg_weights, args.seed, layers)
    out = pathlib.Path(args.out)

    def save(level, step, image):
        if step % args.save_every == 0:
            tag = f"level{level}_" if options.levels > 1 else ""
            images_lib.save_image(image, out.with_name(f"{out.stem}_{tag}step{step:05d}.png"))

    chunk = math.gcd(DEFAULT_CHUNK, args.save_every) if args.save_every else DEFAULT_CHUNK
    result = gatys.transfer(
        content, style, variables, options, not args.quiet, save if args.save_every else None, chunk
    )
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.final_losses.items())
    if result.nan_step is not None:
        level, step = result.nan_step
        where = f"step {step - 1}" if step else "the initial image"
        print(
            f"stopped: the loss became NaN or infinite at step {step} (level {level}); "
            f"kept the last image with a finite loss ({where})"
        )
    return result.image, f"final losses: {losses}"


def _trained(args: argparse.Namespace, content, style):
    from jaxvision.style import trained

    stylizer = trained.load(args.workdir, args.vgg_weights, args.alpha)
    image = stylizer(content, style, args.size, args.style_scale)
    return image, f"{args.method} run {args.workdir} at step {stylizer.step}"


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns the exit status (errors are printed, not raised)."""
    args = parser().parse_args(argv)
    try:
        _check(args)
        content = images_lib.read_image(args.content)
        style = images_lib.read_image(args.style) if args.style else None
        run = _gatys if args.method == "gatys" else _trained
        image, summary = run(args, content, style)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    images_lib.save_image(image, args.out)
    print(f"{summary}\nwrote {args.out} ({image.shape[0]} x {image.shape[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
