"""`camviz explain`: class activation maps for image files, written as PNG/NPY/JSON."""

from __future__ import annotations

import argparse
import sys

from camviz.catalog import COLORMAPS, DEFAULT_MAX_PIXELS, DEFAULT_METHODS, METHODS
from camviz.cli.commands import command_help
from camviz.cli.common import add_device_arg, add_model_args, load_from_args
from camviz.cli.explain_folder import FEW_IMAGES, add_folder_args, is_folder_run, run_folder


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain", help=command_help("explain"),
        description="Classify images and explain the chosen class(es) with CAM methods. Prints "
                    "the top predictions per image and writes OUT/<image>/: an overlay PNG per "
                    "layer x method, grid.png, the maps as .npy (normalised, and .raw.npy at layer "
                    "resolution) and manifest.json. Images are resized to the model's square "
                    "input without cropping, so the map covers the whole picture. Nothing is "
                    "written if any image fails. In the table, * marks the explained class(es). "
                    f"More than {FEW_IMAGES} images (or --resume, or torchrun) make a folder "
                    "run: images stream through, bad files are listed and skipped, each image "
                    "is recorded when its files are in place (a killed run resumes), no grid "
                    "unless --grid, and OUT/summary.csv + summary.json replace the table. "
                    "`torchrun --nproc_per_node N -m camviz explain ...` splits the images.",
        epilog=f"Images above {DEFAULT_MAX_PIXELS / 1e6:g} megapixels are refused "
               "(decompression-bomb guard); set CAMVIZ_MAX_PIXELS to change the limit.")
    p.add_argument("images", nargs="+", metavar="IMG",
                   help="image files or folders (a folder contributes its .png/.jpg/... files)")
    add_model_args(p)
    p.set_defaults(model=None)
    for action in p._actions:   # --model is repeatable here: several models, one grid per image
        if action.dest == "model":
            action.nargs, action.default = None, None
            action.__class__ = argparse._AppendAction
            action.help += ("; repeat it (--model A --model B ...) for one grid per image of every "
                            "model x method, written as OUT/<image>.png (the lab reports' figure)")
    p.add_argument("--layer", action="append", metavar="L",
                   help="layer to explain, repeatable (default: the model's CAM layer; "
                        "`camviz layers` lists them)")
    p.add_argument("--method", action="append", metavar="M",
                   help=f"CAM method, repeatable: {', '.join(METHODS)} (default: "
                        f"{', '.join(DEFAULT_METHODS)}; cam is skipped where the model has no "
                        "GAP->linear head)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--class", dest="target", action="append", metavar="C",
                       help="class to explain, by name or index, repeatable "
                            "(default: the predicted class)")
    which.add_argument("--topk", type=int, default=1, metavar="K",
                       help="explain the K most probable classes of each image (default: 1)")
    p.add_argument("--counterfactual", action="store_true",
                   help="explain the negative score: where the evidence *against* the class lies "
                        "(Grad-CAM paper, section 5); not for eigencam")
    p.add_argument("--contrast", metavar="C",
                   help="a second class, by name or index: the maps explain score(class) - "
                        "score(C), i.e. why the model says the class rather than C")
    p.add_argument("--alpha", type=float, default=0.5, metavar="A",
                   help="heat-map opacity over the image, 0..1 (default: 0.5)")
    p.add_argument("--colormap", default="jet", metavar="NAME",
                   help=f"OpenCV colour map: {', '.join(COLORMAPS)} (default: jet)")
    p.add_argument("--out", default="out/explain", metavar="DIR",
                   help="output folder, one subfolder per image (default: out/explain)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N",
                   help="images per forward pass (default: 16)")
    add_device_arg(p)
    add_folder_args(p)
    p.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    models = args.model or []
    if len(models) > 1:
        return run_compare(args, models)
    args.model = models[0] if models else None
    from tqdm import tqdm

    from camviz.explainer import iter_explanations
    from camviz.fileio import check_output
    from camviz.images import list_images
    from camviz.outputs import write_outputs
    from camviz.viz import check_style
    check_style(args.alpha, args.colormap)
    check_output(args.out)   # before the model loads, not after the explain work
    paths = list_images(args.images)
    if is_folder_run(args, len(paths)):
        return run_folder(args, paths)
    loaded = load_from_args(args)
    results = iter_explanations(loaded, paths, layers=args.layer, methods=args.method,
                                target=args.target, topk=args.topk, predictions=max(5, args.topk),
                                batch_size=args.batch_size, counterfactual=args.counterfactual,
                                contrast=args.contrast)
    bar = tqdm(total=len(paths), unit="image", leave=False,   # a bar only on a terminal
               disable=len(paths) < 8 or not sys.stderr.isatty())

    def shown(items):
        for r in items:
            bar.update()
            lines = [f"{r.source}  ({loaded.name})"] + [
                f"  {'*' if c in r.targets else ' '} {rank}. {name:<30} {prob:.4f}"
                for rank, (c, (name, prob)) in enumerate(zip(r.top_indices, r.predictions), 1)]
            lines += [f"  * -. {name:<30} {r.probs[c]:.4f}"
                      for c, name in zip(r.targets, r.target_names) if c not in r.top_indices]
            bar.write("\n".join(lines))
            yield r

    try:
        files = write_outputs(shown(results), args.out, loaded=loaded, alpha=args.alpha,
                              colormap=args.colormap)
    finally:
        bar.close()
    if args.counterfactual or args.contrast is not None:
        what = "-score(class)" if args.counterfactual else "score(class)"
        if args.contrast is not None:
            c = loaded.class_index(args.contrast)
            what = (f"-(score(class) - score({loaded.classes[c]}))" if args.counterfactual
                    else f"score(class) - score({loaded.classes[c]})")
        print(f"the maps explain {what}")
    print(f"wrote {len(files)} files for {len(paths)} image(s) to {args.out} (* = explained class)")
    return 0


def run_compare(args: argparse.Namespace, models: list[str]) -> int:
    """Several models: one labelled grid per image (models x methods), shared class."""
    from camviz.explainer import explain_models
    from camviz.fileio import check_output
    from camviz.images import list_images
    from camviz.outputs import write_comparison
    from camviz.viz import check_style
    check_style(args.alpha, args.colormap)
    check_output(args.out)
    from camviz.errors import ConfigError
    if args.topk != 1 or (args.target and len(args.target) > 1):
        raise ConfigError("comparing models explains one class per model; drop --topk and pass "
                          "at most one --class")
    if args.counterfactual or args.contrast is not None:
        raise ConfigError("--counterfactual and --contrast explain one model at a time; pass a "
                          "single --model")
    paths = list_images(args.images)
    loaded = []
    for name in dict.fromkeys(models):
        args.model = name
        loaded.append(load_from_args(args))
    groups = []
    for path in paths:
        results = explain_models(loaded, path, target=args.target[0] if args.target else None,
                                 layers=args.layer, methods=args.method, predictions=5)
        for r in results:
            print(f"{r.source}  ({r.model}): explained {r.target_names[0]} "
                  f"{r.probs[r.targets[0]]:.4f}; top: " + ", ".join(
                      f"{n} {p:.4f}" for n, p in r.predictions[:3]))
        groups.append(results)
    files = write_comparison(groups, args.out, alpha=args.alpha, colormap=args.colormap)
    print(f"wrote {len(files)} comparison grid(s) to {args.out}")
    return 0
