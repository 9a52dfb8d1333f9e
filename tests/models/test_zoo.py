"""Every zoo architecture: builds, trains a step, exposes its CAM and classifier layers."""

import pytest
import torch
import torchvision
from torch import nn

from camviz.errors import ConfigError, UnknownNameError
from camviz.models import MODELS, build_model

NAMES = ["lenet5", "alexnet", "vgg11", "vgg16", "nin", "googlenet", "resnet14", "resnet18",
         "resnet34", "resnet50", "mobilenet_v1", "densenet121"]
SHAPES = [(1, 28), (3, 32), (3, 64), (3, 224)]
NUM_CLASSES = 7  # not 10, so a hard-coded class count shows
# At full width the fully connected layers of VGG and AlexNet hold 25-160 M parameters; the
# training-step test runs them narrower (same code paths) and the full-width shapes are checked
# on the meta device below.
LIGHT = {"alexnet": {"width": 0.25}, "vgg11": {"width": 0.25}, "vgg16": {"width": 0.25}}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_holds_exactly_the_zoo():
    assert MODELS.names() == NAMES


@pytest.mark.parametrize("channels, size", SHAPES, ids=[f"{c}x{s}" for c, s in SHAPES])
@pytest.mark.parametrize("name", NAMES)
def test_builds_trains_and_exposes_cam_and_classifier(name, channels, size):
    spec = MODELS.get(name)
    if size < spec.min_input_size:
        with pytest.raises(ConfigError, match=str(spec.min_input_size)):
            build_model(name, NUM_CLASSES, channels, size)
        return
    torch.manual_seed(0)
    model = build_model(name, NUM_CLASSES, channels, size, **LIGHT.get(name, {}))
    modules = dict(model.named_modules())
    assert spec.cam_layer in modules and spec.classifier in modules
    seen = {}
    hooks = [modules[spec.cam_layer].register_forward_hook(lambda m, i, o: seen.setdefault("cam", o)),
             modules[spec.classifier].register_forward_hook(lambda m, i, o: seen.setdefault("cls", o))]
    try:
        out = model(torch.randn(2, channels, size, size))
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (2, NUM_CLASSES)
    cam = seen["cam"]
    assert cam.dim() == 4 and cam.shape[0] == 2 and min(cam.shape[-2:]) >= 1
    assert seen["cls"].shape[1] == NUM_CLASSES  # the classifier layer makes the logits
    out.logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", NAMES)
def test_default_width_shapes_at_every_size(name):
    spec = MODELS.get(name)
    cam = {}
    with torch.device("meta"):
        for channels, size in SHAPES:
            model = build_model(name, NUM_CLASSES, channels, size)
            layer = dict(model.named_modules())[spec.cam_layer]
            handle = layer.register_forward_hook(lambda m, i, o, size=size: cam.update({size: o.shape}))
            try:
                assert model(torch.zeros(2, channels, size, size)).shape == (2, NUM_CLASSES)
            finally:
                handle.remove()
        assert len(cam) == len(SHAPES)
        assert all(len(shape) == 4 and min(shape[-2:]) >= 1 for shape in cam.values())


@pytest.mark.parametrize("name", NAMES)
def test_no_layer_output_is_modified_after_it_is_produced(name):
    """What a hook captures (without cloning) must still hold after forward and backward."""
    torch.manual_seed(0)
    model = build_model(name, NUM_CLASSES, width=0.25)
    assert not [n for n, m in model.named_modules() if getattr(m, "inplace", False)]
    captured = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: captured.append((n, o, o.detach().clone())))
             for n, m in model.named_modules() if n]
    try:
        model(torch.randn(2, 1, 28, 28)).sum().backward()
    finally:
        for h in hooks:
            h.remove()
    assert len(captured) >= 10
    changed = [n for n, live, copy in captured if not torch.equal(live, copy)]
    assert changed == []


@pytest.mark.parametrize("name", NAMES)
def test_init_is_deterministic_given_the_seed(name):
    def state(seed):
        torch.manual_seed(seed)
        return build_model(name, NUM_CLASSES, width=0.25).state_dict()

    a, b, c = state(1), state(1), state(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_width_half_reduces_parameters(name):
    with torch.device("meta"):
        full = n_params(build_model(name, NUM_CLASSES))
        half = n_params(build_model(name, NUM_CLASSES, width=0.5))
    assert half < 0.5 * full


@pytest.mark.parametrize("name", NAMES)
def test_every_family_offers_the_common_study_options(name):
    options = MODELS.get(name).options()
    assert {"activation", "norm", "width", "dropout", "kernel_size"} <= set(options)


# --- parameter counts that the lab reports and torchvision pin down -------------------------

def test_lenet_classic_and_report_000_counts():
    assert n_params(build_model("lenet5", 10, 1, 28)) == 61_706
    assert n_params(build_model("lenet5", 10, 1, 28, padding=0)) == 44_426


def test_lenet_defaults_are_classic_and_options_make_the_modern_one():
    classic = build_model("lenet5")
    assert isinstance(classic.features.act1, nn.Sigmoid) and isinstance(classic.features.pool1, nn.AvgPool2d)
    assert classic.features.conv1.padding == (2, 2) and classic.features.conv1.kernel_size == (5, 5)
    modern = build_model("lenet5", activation="relu", pooling="max")
    assert isinstance(modern.features.act2, nn.ReLU) and isinstance(modern.features.pool2, nn.MaxPool2d)
    assert isinstance(modern.classifier.act1, nn.ReLU)
    mixed = build_model("lenet5", activation="relu", fc_activation="sigmoid")
    assert isinstance(mixed.features.act1, nn.ReLU) and isinstance(mixed.classifier.act1, nn.Sigmoid)


def test_alexnet_report_000_counts_and_variants():
    with torch.device("meta"):
        assert n_params(build_model("alexnet", 10, 1, 224)) == 58_299_082  # "AlexNetLarge"
        assert n_params(build_model("alexnet", 10, 1, 56)) == 43_446_122   # reduced AlexNet
        assert build_model("alexnet", 10, 1, 28).features.conv1.kernel_size == (5, 5)
        assert build_model("alexnet", 10, 3, 224).features.conv1.kernel_size == (11, 11)
    with pytest.raises(ConfigError, match="variant='small'"):
        build_model("alexnet", 10, 1, 28, variant="original")


def test_mobilenet_matches_report_000_count():
    assert n_params(build_model("mobilenet_v1", 10, 1, 28)) == 3_216_650


def test_resnet50_imagenet_shape_has_25_557_032_parameters():
    with torch.device("meta"):
        model = build_model("resnet50", num_classes=1000, in_channels=3, input_size=224, stem="imagenet")
    assert n_params(model) == 25_557_032


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "densenet121"])
def test_state_dict_keys_and_counts_equal_torchvision(name):
    with torch.device("meta"):
        ours = build_model(name, num_classes=1000, in_channels=3, input_size=224, stem="imagenet")
        theirs = getattr(torchvision.models, name)(weights=None)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert n_params(ours) == n_params(theirs)


@pytest.mark.parametrize("name", ["vgg11", "vgg16"])
def test_vgg_counts_equal_torchvision(name):
    with torch.device("meta"):
        plain = build_model(name, 1000, 3, 224, norm="none")
        bn = build_model(name, 1000, 3, 224)
        assert n_params(plain) == n_params(getattr(torchvision.models, name)(weights=None))
        assert n_params(bn) == n_params(getattr(torchvision.models, name + "_bn")(weights=None))


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_torchvision_weights_load_and_compute_the_same(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    ours = build_model(name, 1000, 3, 224, stem="imagenet").eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


# --- options ------------------------------------------------------------------------------

def test_unknown_option_names_it_and_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        build_model("resnet18", residul=False)
    msg = str(err.value)
    assert "'residul'" in msg and "did you mean 'residual'" in msg and "stem" in msg


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet50'"):
        build_model("resnt50")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("option, bad, valid", [("activation", "gelu", "relu, sigmoid, tanh"),
                                                ("norm", "group", "batch, instance, none")])
def test_bad_choice_names_the_valid_ones(name, option, bad, valid):
    with pytest.raises(ConfigError) as err:
        build_model(name, **{option: bad})
    assert f"'{bad}'" in str(err.value) and valid in str(err.value)


@pytest.mark.parametrize("name, option, bad, valid", [
    ("lenet5", "pooling", "min", "max, avg"), ("vgg16", "pooling", "mean", "max, avg"),
    ("resnet18", "stem", "cifar", "auto, small, imagenet"),
    ("alexnet", "variant", "large", "auto, small, original"),
])
def test_family_specific_bad_choices(name, option, bad, valid):
    with pytest.raises(ConfigError, match=valid):
        build_model(name, **{option: bad})


@pytest.mark.parametrize("options", [{"width": 0}, {"dropout": 1.5}, {"kernel_size": 0},
                                     {"residual": "no"}])
def test_bad_numbers_are_config_errors(options):
    with pytest.raises(ConfigError, match=str(next(iter(options)))):
        build_model("resnet18", **options)


def test_residual_false_removes_the_skip_and_changes_the_output():
    torch.manual_seed(0)
    with_skip = build_model("resnet18").eval()
    torch.manual_seed(0)
    without = build_model("resnet18", residual=False).eval()
    assert any("downsample" in n for n, _ in with_skip.named_modules())
    assert not any("downsample" in n for n, _ in without.named_modules())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(with_skip(x), without(x))
    # With the residual branch silenced (bn2 -> 0), a block passes its input through only
    # when it has the skip.
    for model in (with_skip, without):
        block = model.layer1[0]
        nn.init.zeros_(block.bn2.weight)
        nn.init.zeros_(block.bn2.bias)
    h = torch.relu(torch.randn(2, 64, 8, 8))
    with torch.no_grad():
        assert torch.equal(with_skip.layer1[0](h), h)
        assert torch.equal(without.layer1[0](h), torch.zeros_like(h))


@pytest.mark.parametrize("size, stem, kernel, pooled, side", [(28, "auto", 3, False, 4),
                                                              (224, "auto", 7, True, 7),
                                                              (64, "imagenet", 7, True, 2)])
def test_resnet_stem(size, stem, kernel, pooled, side):
    model = build_model("resnet18", 10, 3, size, stem=stem)
    assert model.conv1.kernel_size == (kernel, kernel)
    assert model.conv1.stride == ((2, 2) if pooled else (1, 1))
    assert isinstance(model.maxpool, nn.MaxPool2d) == pooled
    with torch.no_grad():
        x = model.maxpool(model.relu(model.bn1(model.conv1(torch.zeros(1, 3, size, size)))))
        assert model.layer4(model.layer3(model.layer2(model.layer1(x)))).shape[-1] == side


@pytest.mark.parametrize("size, side", [(28, 7), (32, 8), (64, 8), (224, 7)])
def test_vgg_keeps_a_7px_or_larger_map(size, side):
    with torch.device("meta"):
        model = build_model("vgg11", 10, 3, size, width=0.125)
        assert model.features(torch.zeros(1, 3, size, size)).shape[-1] == side
    with pytest.raises(ConfigError, match="num_pools"):
        build_model("vgg11", num_pools=6)


def test_nin_logits_are_the_averaged_class_maps():
    torch.manual_seed(0)
    model = build_model("nin", NUM_CLASSES, width=0.25).eval()
    spec = MODELS.get("nin")
    assert dict(model.named_modules())[spec.classifier].out_channels == NUM_CLASSES
    maps = {}
    layer = dict(model.named_modules())[spec.cam_layer]
    handle = layer.register_forward_hook(lambda m, i, o: maps.setdefault("x", o))
    try:
        with torch.no_grad():
            logits = model(torch.randn(2, 1, 28, 28))
    finally:
        handle.remove()
    torch.testing.assert_close(logits, maps["x"].mean((2, 3)))


def test_stems_that_shrink_small_inputs_to_nothing_say_what_to_do():
    for name in ("nin", "densenet121"):
        with pytest.raises(ConfigError, match="stem='small'"):
            build_model(name, 10, 1, 28, stem="imagenet")


def test_build_model_rejects_inputs_below_min_size():
    with pytest.raises(ConfigError, match="at least 28"):
        build_model("resnet18", input_size=16)
