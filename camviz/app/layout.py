"""The page: two tabs (Explain, Compare) wired to :class:`~camviz.app.handlers.Handlers`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from camviz.app.display import fast_png
from camviz.app.handlers import KEEP_SECONDS, MAX_COMPARE, TOP_K, Handlers
from camviz.app.models import CAM_LAYER, PREDICTED, ModelCache, offline_from_env
from camviz.app.uploads import default_samples_dir, image_input, sample_caption, sample_images
from camviz.cam import METHODS
from camviz.device import resolve_device
from camviz.errors import CamvizError
from camviz.explainer import DEFAULT_METHODS
from camviz.hub import default_checkpoints_dir
from camviz.viz import COLORMAPS

#: An uploaded image fills its preview (a 28x28 upload used to show as a 28-pixel stamp).
CSS = ("#explain-image img, #compare-image img "
       "{ width: 100%; height: 100%; object-fit: contain; } "
       # Gradio's gallery keeps a 450 px floor (empty space below one row of overlays) and a
       # 55vh ceiling (a third row scrolls) even at height="auto"
       "#explain-gallery .grid-wrap, #compare-gallery .grid-wrap "
       "{ min-height: 0; max-height: none; } "
       # captions (method · layer · class p) wrap instead of ending in an ellipsis
       "#explain-gallery .caption-label, #compare-gallery .caption-label "
       "{ white-space: normal; overflow: visible; text-overflow: clip; } "
       # ... below their overlay, not over its bottom (Gradio draws captions on the picture)
       "#explain-gallery .thumbnail-item, #compare-gallery .thumbnail-item "
       "{ display: flex; flex-direction: column; aspect-ratio: auto; height: auto; } "
       "#explain-gallery .thumbnail-item > img, #compare-gallery .thumbnail-item > img "
       "{ aspect-ratio: 1 / 1; height: auto; flex: none; } "
       "#explain-gallery .caption-label, #compare-gallery .caption-label "
       "{ position: static; max-width: none; border-left: none; border-radius: 0; } "
       # the block's own label above the pictures, not over their top-left corner (it hid
       # the start of the Compare grid's title)
       "#explain-gallery [data-testid=block-label], #compare-gallery [data-testid=block-label], "
       "#compare-grid [data-testid=block-label] { position: static; }")
#: The README's quick-start checkpoint: what a new user sees first (its CAM layer can do CAM).
DEFAULT_MODEL = "resnet18-fashion-mnist"
#: Explain paints the overlays first, then the label, status and model input (False: one
#: event updates all four, as before; benchmarks/app_click.py times both in one run).
PAINT_OVERLAYS_FIRST = True
MAX_FILE_SIZE = "20mb"         # uploads above this are refused by Gradio (HTTP 413)
SEED_003 = ("resnet18", "resnet50", "densenet121")  # the comparison preselected when cached


_INTRO = ("# camviz — where does the network look?\n"
          "Upload an image (or click a sample), choose a model and a layer, and compare "
          "CAM, Grad-CAM, Grad-CAM++ and friends. Nothing leaves this machine.")


def build_app(checkpoints_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
              *, samples_dir: str | os.PathLike | None = None, concurrency: int = 4,
              max_pixels: int | None = None, max_models: int = 4,
              model: str | None = None, offline: bool | None = None) -> gr.Blocks:
    """The camviz Gradio app (not launched; see :func:`launch`).

    ``checkpoints_dir``: the only folder whose checkpoints can be chosen (default
    :func:`camviz.hub.default_checkpoints_dir`). ``samples_dir``: images offered as examples
    (default ``samples/``). ``concurrency``: explain/compare requests run at once.
    ``max_pixels``: the decompression-bomb guard of :func:`camviz.images.load_image`.
    ``max_models``: models kept in memory. ``model``: the model chosen when the page opens
    (default: the README's quick-start checkpoint :data:`DEFAULT_MODEL` when offered, else
    the first model that can be loaded). ``offline``: never download ImageNet weights
    (default: ``$CAMVIZ_OFFLINE``); else an uncached ImageNet model is downloaded, with
    progress in the page, when first chosen.
    """
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    cdir = Path(checkpoints_dir).expanduser() if checkpoints_dir else default_checkpoints_dir()
    cache = ModelCache(cdir, dev, max_models, offline_from_env() if offline is None else offline)
    sdir = Path(samples_dir).expanduser() if samples_dir else default_samples_dir()
    samples = sample_images(sdir)
    options = cache.options()
    choices = [(o.label, o.name) for o in options.values()]
    # what opens without a download (nothing is fetched before a user asks for it)
    available = [o.name for o in options.values() if o.cached]
    if not available:
        info = (f"No model to choose: put camviz checkpoints (`.safetensors`, written by `camviz "
                f"train`) in `{cdir}`, or cache ImageNet weights in `{Path(torch.hub.get_dir())}"
                "/checkpoints`, then reload the page.")
    if model is not None and model not in options:
        cache.option(model)   # unknown → the one-line error naming the valid models
    wanted = [m for m in (model, DEFAULT_MODEL) if m in available]
    entry, first = None, (wanted[0] if wanted else available[0] if available else None)
    if first:
        try:
            entry = cache.get(first)
            info = entry.info()
        except CamvizError as err:
            info = f"Model '{first}' cannot be loaded: {err}"
    seed = [n for n in SEED_003 if n in available and options[n].kind == "imagenet"]
    compare_default = seed if len(seed) >= 2 else available[:3]
    method_choices = [(METHODS.get(m).title, m) for m in METHODS.names()]
    class_choices = ([(PREDICTED, PREDICTED)]
                     + (list(zip(entry.class_labels, entry.class_values)) if entry else []))

    with gr.Blocks(title="camviz", delete_cache=(KEEP_SECONDS, KEEP_SECONDS)) as demo:
        h = Handlers(cache, Path(demo.GRADIO_CACHE) / "camviz", max_pixels)
        gr.Markdown(_INTRO)
        with gr.Tab("Explain", id="explain"), gr.Row():
            with gr.Column(scale=1, min_width=320):
                image = image_input(label="Image", sources=["upload", "clipboard"],
                                    elem_id="explain-image", height=220)
                run = gr.Button("Explain", variant="primary", elem_id="explain-run")
                if samples:
                    gr.Examples([[str(p)] for p in samples], inputs=[image], label="Samples",
                                example_labels=[sample_caption(p) for p in samples],
                                examples_per_page=8)
                model = gr.Dropdown(choices, value=first, label="Model", elem_id="explain-model")
                model_info = gr.Markdown(info, elem_id="explain-model-info")
                layer = gr.Dropdown(entry.layer_choices() if entry else [],
                                    value=CAM_LAYER if entry and entry.loaded.cam_layer else None,
                                    label="Target layer", allow_custom_value=True,
                                    elem_id="explain-layer",
                                    info="(CAM layer) = the chosen model's default; then its "
                                         "blocks")
                show_all = gr.Checkbox(False, label="show all layers",
                                       elem_id="explain-all-layers")
                methods = gr.CheckboxGroup(method_choices, value=list(DEFAULT_METHODS),
                                           label="CAM methods", elem_id="explain-methods")
                target = gr.Dropdown(class_choices, value=PREDICTED, label="Class to explain",
                                     allow_custom_value=True, elem_id="explain-class")
                with gr.Row():
                    alpha = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity (alpha)",
                                      elem_id="explain-alpha")
                    colormap = gr.Dropdown(COLORMAPS.names(), value="jet", label="Colour map")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="explain-status")
                gallery = fast_png(gr.Gallery(label="Overlays", format="png", columns=3,
                                              height="auto", object_fit="contain",
                                              elem_id="explain-gallery"))
                with gr.Row():
                    label = gr.Label(num_top_classes=TOP_K, label="Top-5 predictions",
                                     elem_id="explain-label")
                    seen = fast_png(gr.Image(label="What the model sees (its input, enlarged)",
                                             format="png", type="numpy", interactive=False,
                                             height=240, elem_id="explain-seen"))
                with gr.Accordion("Should I trust these maps? (faithfulness, on demand)",
                                  open=False):
                    faith = gr.Button("Compute deletion / insertion curves and sanity check",
                                      elem_id="explain-faith")
                    faith_plot = fast_png(gr.Image(
                        label="Deletion and insertion (AUC in the legend)", format="png",
                        type="numpy", interactive=False, elem_id="explain-faith-plot"))
                    faith_text = gr.Markdown(elem_id="explain-faith-table")
                files = gr.Button("Prepare downloads (.npy maps, .png overlays)", size="sm",
                                  elem_id="explain-files")
                with gr.Row():
                    maps = gr.File(label="Raw maps (.npy, layer resolution, unnormalised)",
                                   file_count="multiple", interactive=False, elem_id="explain-maps")
                    pngs = gr.File(label="Overlays (.png)", file_count="multiple",
                                   interactive=False, elem_id="explain-pngs")
        with gr.Tab("Compare", id="compare") as compare_tab:
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    c_image = image_input(label="Image", sources=["upload", "clipboard"],
                                          elem_id="compare-image", height=260)
                    c_models = gr.Dropdown(choices, value=compare_default, multiselect=True,
                                           max_choices=MAX_COMPARE, label="Models",
                                           elem_id="compare-models")
                    c_layers = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                                           label="Layers", elem_id="compare-layers",
                                           info="empty: each model's CAM layer; else layers all "
                                                "chosen models have")
                    c_methods = gr.CheckboxGroup(method_choices, value=["gradcam"], label="CAM methods",
                                                 elem_id="compare-methods")
                    with gr.Row():
                        c_alpha = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity (alpha)")
                        c_colormap = gr.Dropdown(COLORMAPS.names(), value="jet", label="Colour map")
                    c_target = gr.Dropdown([PREDICTED], value=PREDICTED, label="Class to explain",
                                           allow_custom_value=True, elem_id="compare-class",
                                           info="offered when the models share their classes")
                    c_run = gr.Button("Compare", variant="primary", elem_id="compare-run")
                with gr.Column(scale=2):
                    c_status = gr.Markdown(elem_id="compare-status")
                    c_grid = fast_png(gr.Image(label="Models × methods (download: one PNG)",
                                               format="png", type="numpy", interactive=False,
                                               elem_id="compare-grid"))
                    c_table = gr.Dataframe(headers=["model"] + [f"top {i + 1}" for i in range(TOP_K)],
                                           interactive=False, label="Predictions", wrap=True,
                                           column_widths=["20%"] + ["16%"] * TOP_K,
                                           elem_id="compare-table")
                    c_gallery = gr.Gallery(label="Each overlay (model · layer · method · class p)",
                                           format="png", columns=3, object_fit="contain",
                                           height="auto", elem_id="compare-gallery")
            if samples:
                gr.Examples([[str(p)] for p in samples], inputs=[c_image], label="Samples",
                            example_labels=[sample_caption(p) for p in samples],
                            examples_per_page=8)

        show_all.change(h.layer_list, [model, show_all, layer], layer, api_name="layer_list")
        model.change(h.choose_model, model, [layer, target, model_info], api_name="choose_model"
                     ).then(h.layer_list, [model, show_all, layer], layer,
                            api_name="layer_list_after_model", api_visibility="private")
        image.upload(h.check_upload, image, image, api_name="check_upload")
        c_image.upload(h.check_upload, c_image, c_image, api_visibility="private")
        explain_in = [image, model, layer, methods, target, alpha, colormap]
        if PAINT_OVERLAYS_FIRST:
            # the page paints the overlays as soon as they are drawn, then the label, status
            # and model input (one event updating all four held the overlays back while the
            # page rendered the other three); the API's /explain still returns all four
            shown = gr.State()
            run.click(h.explain_overlays, explain_in, [gallery, shown], api_visibility="private",
                      concurrency_limit=concurrency
                      ).success(h.explain_details, shown, [label, status, seen],
                                api_visibility="private", show_progress="hidden")
            gr.on([], h.explain, explain_in, [gallery, label, status, seen], api_name="explain",
                  concurrency_limit=concurrency)
        else:
            run.click(h.explain, explain_in, [gallery, label, status, seen], api_name="explain",
                      concurrency_limit=concurrency)
        files.click(h.downloads, [image, model, layer, methods, target, alpha, colormap],
                    [maps, pngs], api_name="downloads", concurrency_limit=concurrency)
        faith.click(h.faithfulness, [image, model, layer, methods, target], [faith_plot, faith_text],
                    api_name="faithfulness", concurrency_limit=concurrency)
        c_models.change(h.choose_models, c_models, [c_layers, c_target], api_name="choose_models")
        # the preselected models are loaded when the tab is first opened, not at start
        compare_tab.select(h.choose_models, c_models, [c_layers, c_target], api_visibility="private")
        c_run.click(h.compare, [c_image, c_models, c_layers, c_methods, c_alpha, c_colormap,
                                c_target], [c_gallery, c_grid, c_table, c_status],
                    api_name="compare", concurrency_limit=concurrency)
        demo.load(h.refresh, [model, c_models], [model, c_models], api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency)
    return demo


def launch(demo: gr.Blocks, *, host: str | None = None, port: int | None = None,
           share: bool = False, **kwargs: Any):
    """Serve ``demo`` with camviz's defaults: uploads capped at :data:`MAX_FILE_SIZE`; host
    127.0.0.1 (or ``$GRADIO_SERVER_NAME``) and port 7860 or the next free one unless given.
    ``share=True`` asks Gradio for a public link (that one needs internet)."""
    kwargs.setdefault("max_file_size", MAX_FILE_SIZE)
    kwargs.setdefault("css", CSS)
    return demo.launch(server_name=host, server_port=port, share=share, **kwargs)
