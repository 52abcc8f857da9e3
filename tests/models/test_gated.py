"""Gated and missing hub repositories give one line; local weights folders load."""

import inspect

import pytest
import torch
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from breastbench.cli import main
from breastbench.errors import MissingWeightsError
from breastbench.models import create


def _hub_error(cls, repo):
    httpx = inspect.getmodule(HfHubHTTPError.__bases__[0])  # the HTTP client the hub uses
    url = f"https://huggingface.co/{repo}/resolve/main/model.safetensors"
    response = httpx.Response(403, request=httpx.Request("GET", url))
    return cls(f"Access to model {repo} is restricted.", response=response)


@pytest.fixture
def hub_raises(monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))

    def install(cls, repo):
        def fail(*args, **kwargs):
            raise _hub_error(cls, repo)

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)

    return install


def test_gated_repo_names_the_access_page_and_login(hub_raises, capsys):
    hub_raises(GatedRepoError, "MahmoodLab/uni")
    assert main(["models", "info", "vit/uni", "--weights", "pretrained"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "gated" in err and "https://huggingface.co/MahmoodLab/uni" in err
    assert "hf auth login" in err and "HF_TOKEN" in err and "weights:" in err


def test_gated_snapshot_repo(hub_raises):
    hub_raises(GatedRepoError, "owkin/phikon-v2")
    with pytest.raises(MissingWeightsError, match=r"https://huggingface.co/owkin/phikon-v2"):
        create("vit/phikon-v2", 2, weights="pretrained")


def test_missing_repo(hub_raises):
    hub_raises(RepositoryNotFoundError, "vinid/plip")
    with pytest.raises(MissingWeightsError, match="repository 'vinid/plip' not found") as err:
        create("clip/plip", 2, weights="pretrained")
    assert "\n" not in str(err.value)


def test_local_weights_folder_loads_timm(tmp_path):
    from safetensors.torch import save_file

    src = create("vit/test-uni", 2)
    (tmp_path / "uni").mkdir()
    save_file(src.encoder.state_dict(), str(tmp_path / "uni" / "model.safetensors"))
    model = create("vit/test-uni", 2, weights=tmp_path / "uni").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.features(x), src.eval().features(x))
    assert model.weights_source == str(tmp_path / "uni" / "model.safetensors")


def test_local_weights_folder_loads_transformers(tmp_path):
    src = create("vit/test-phikon-v2", 2).eval()
    src.encoder.save_pretrained(tmp_path / "phikon")
    model = create("vit/test-phikon-v2", 2, weights=tmp_path / "phikon").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.features(x), src.features(x), atol=1e-6)


def test_local_weights_folder_loads_plip(tmp_path):
    src = create("clip/test-plip", 2).eval()
    hf = src.clip
    from transformers import CLIPModel

    from breastbench.models.encoders import hf_vision_config
    from breastbench.models.pathology import TINY_PLIP

    full = CLIPModel(hf_vision_config(TINY_PLIP))
    full.vision_model, full.visual_projection = hf.visual["model"], hf.visual["proj"]
    full.text_model, full.text_projection = hf.text["model"], hf.text["proj"]
    full.logit_scale = hf.logit_scale
    full.save_pretrained(tmp_path / "plip")
    model = create("clip/test-plip", 2, weights=tmp_path / "plip").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.features(x), src.features(x), atol=1e-6)
