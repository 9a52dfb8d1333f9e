import pytest

from camviz.errors import CamvizError, UnknownNameError
from camviz.registry import Registry


def test_register_get_names():
    reg = Registry("thing")
    reg.register("alpha", 1)

    @reg.register("beta")
    def beta():
        return 2

    assert reg.get("alpha") == 1 and reg.get("beta") is beta
    assert reg.names() == ["alpha", "beta"] and "alpha" in reg and len(reg) == 2


def test_duplicate_is_rejected():
    reg = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(CamvizError, match="registered twice"):
        reg.register("a", 2)


def test_unknown_name_suggests_and_hints():
    reg = Registry("method", hint="run `camviz methods`")
    for name in ("gradcam", "gradcampp", "scorecam"):
        reg.register(name, name)
    with pytest.raises(UnknownNameError) as err:
        reg.get("gradcm")
    msg = str(err.value)
    assert msg.startswith("unknown method 'gradcm'; did you mean 'gradcam'")
    assert "valid: gradcam, gradcampp, scorecam" in msg and msg.endswith("run `camviz methods`")
