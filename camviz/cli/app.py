"""`camviz app`: serve the Gradio app (Explain and Compare tabs) on this machine."""

from __future__ import annotations

import argparse

from camviz.cli.commands import command_help
from camviz.cli.common import add_device_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app", help=command_help("app"),
        description="Serve the camviz Gradio app until Ctrl-C. It offers the checkpoints in the "
                    "checkpoints folder and the torchvision ImageNet models (downloaded when first "
                    "chosen, unless --offline); without --share it makes no other outbound "
                    "connection, and it never opens a path typed in the page. "
                    "Uploads are capped at 20 MB and decoded with the same guards as "
                    "`camviz explain`.")
    p.add_argument("--host", metavar="ADDR",
                   help="interface to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1, "
                        "this machine only; 0.0.0.0 opens it to your network)")
    p.add_argument("--port", type=int, metavar="N",
                   help="port (default: $GRADIO_SERVER_PORT, else 7860 or the next free one)")
    p.add_argument("--checkpoints-dir", metavar="DIR",
                   help="the only folder whose checkpoints the app offers (default: "
                        "$CAMVIZ_CHECKPOINTS, else ./checkpoints)")
    p.add_argument("--model", metavar="NAME",
                   help="the model chosen when the page opens (default: resnet18-fashion-mnist, "
                        "the README's quick-start checkpoint, when offered)")
    p.add_argument("--offline", action="store_true",
                   help="never download: ImageNet models whose weights are not in torchvision's "
                        "cache are listed as such and refused (also: CAMVIZ_OFFLINE=1). Without "
                        "it, such a model is downloaded once, with progress in the page, when "
                        "first chosen")
    p.add_argument("--share", action="store_true",
                   help="also create a public *.gradio.live link through Gradio's servers "
                        "(needs internet; off by default)")
    add_device_arg(p)
    p.set_defaults(func=run_app)


def run_app(args: argparse.Namespace) -> int:
    import logging

    from camviz.device import resolve_device
    from camviz.errors import ConfigError
    from camviz.hub import checkpoints_folder
    if args.port is not None and not 1 <= args.port <= 65535:   # before Gradio loads
        raise ConfigError(f"--port {args.port} is not a TCP port; pass 1..65535, e.g. --port 7860")
    checkpoints_folder(args.checkpoints_dir)
    resolve_device(args.device)
    from camviz.app import build_app, launch
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes
    demo = build_app(args.checkpoints_dir, device=args.device, model=args.model,
                     offline=True if args.offline else None)
    launch(demo, host=args.host, port=args.port, share=args.share)
    return 0
