"""Eigen-CAM against pytorch-grad-cam's SVD projection, and its sign convention."""

import torch
from camtest import pearson

from camviz.cam import explain
from camviz.cam.eigencam import eigencam_map


def test_projection_matches_pgc_up_to_the_sign_of_the_singular_vector():
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    acts = torch.randn(3, 8, 5, 6, generator=torch.Generator().manual_seed(0))
    ours = eigencam_map(acts)
    theirs = get_2d_projection(acts.numpy())
    for i in range(3):
        assert abs(pearson(ours[i], theirs[i])) >= 0.9999


def test_sign_follows_the_channel_sum_and_maps_repeat_over_targets(net, images):
    acts = torch.zeros(1, 4, 3, 3)
    acts[0, :, 1, 1] = 5.0  # one strongly active position in every channel
    acts[0, :2, 0, 0] = 1.0
    assert eigencam_map(acts)[0].argmax() == 4
    e = explain(net, images, layer="features", methods=("eigencam",), topk=3)
    assert torch.equal(e.maps["eigencam"][:, 0], e.maps["eigencam"][:, 2])
