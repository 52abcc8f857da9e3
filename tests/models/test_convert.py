"""State dicts in torchvision's layout load into the registry's timm CNNs with equal features."""

from __future__ import annotations

import pytest
import torch

from breastbench.errors import UserError
from breastbench.models import create


def test_torchvision_convnext_state_dict_gives_torchvision_features(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    tv = torchvision.models.convnext_tiny(weights=None).eval()
    with torch.no_grad():  # non-trivial norms and layer scales, so a mis-mapping shows
        for name, p in tv.named_parameters():
            if "layer_scale" in name or name.endswith("bias") or "norm" in name:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "layer_scale" in name else 0.0))
    path = tmp_path / "convnext_tiny_tv.pth"
    torch.save(tv.state_dict(), path)
    model = create("cnn/convnext_tiny", 2, weights=str(path)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = torch.flatten(tv.classifier[:2](tv.avgpool(tv.features(x))), 1)
        got = model.features(x)
    assert got.shape == expected.shape == (2, 768)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_unrecognised_convnext_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.layer1.weight": torch.zeros(4, 4)}, path)
    with pytest.raises(UserError) as err:
        create("cnn/convnext_tiny", 2, weights=str(path))
    msg = str(err.value)
    assert "\n" not in msg and "torchvision's convnext_* state_dict()" in msg
