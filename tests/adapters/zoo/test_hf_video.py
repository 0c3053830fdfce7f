"""Hugging Face video transformers by name (zoo/hf_video.py), offline on tiny random configs."""

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import stviz_core as sv  # noqa: E402
from stviz_adapters.model_loading import load_model  # noqa: E402
from stviz_adapters.zoo import hf_video  # noqa: E402
from stviz_backends.torch import create  # noqa: E402
from stviz_core.layouts import Frames3D, from_model, to_model  # noqa: E402

SMALL = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24)
LABELS = {0: "walking", 1: "juggling", 2: "swimming"}
#: tiny configs: 4 frames of 32 x 32, 8 x 8 patches (tubelets of 2 frames where the family has them)
CONFIGS = {
    "videomae": dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, id2label=LABELS,
                     **SMALL),
    "timesformer": dict(image_size=32, patch_size=8, num_frames=4, id2label=LABELS, **SMALL),
    "vivit": dict(image_size=32, tubelet_size=[2, 8, 8], num_frames=4, id2label=LABELS, **SMALL),
    "xclip": dict(projection_dim=12,
                  text_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=24),
                  vision_config=dict(image_size=32, patch_size=8, num_frames=4,
                                     mit_hidden_size=12, mit_intermediate_size=24,
                                     mit_num_hidden_layers=1, mit_num_attention_heads=2, **SMALL)),
}
#: per family: a block's MLP hidden layer, a block's output (residual stream), the grid
LAYERS = {
    "videomae": ("videomae.encoder.layer.0.intermediate.dense", "videomae.encoder.layer.1",
                 (2, 4, 4)),
    "timesformer": ("timesformer.encoder.layer.0.intermediate.dense",
                    "timesformer.encoder.layer.1", (4, 4, 4)),
    "vivit": ("vivit.layers.0.mlp.fc1", "vivit.layers.1", (2, 4, 4)),
    "xclip": ("vision_model.encoder.layers.0.mlp.fc1", "vision_model.encoder.layers.1", (4, 4, 4)),
}


def tiny(family, **changes):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return hf_video.load(family, **{**CONFIGS[family], **changes})


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def family(request):
    return request.param, tiny(request.param)


def test_random_weights_are_warned_in_one_line():
    with pytest.warns(UserWarning, match=r"^hf:vivit: no weights given .*: random weights$"):
        hf_video.vivit(**CONFIGS["vivit"])


def test_the_contract_comes_from_the_config(family):
    name, model = family
    contract = sv.contract_of(model)
    assert contract.inputs == {"pixel_values": (4, 32, 32, 3)}
    assert contract.layout.tokens.grid == LAYERS[name][2]
    if name == "xclip":
        assert contract.labels is None  # X-CLIP classifies against text prompts
    else:
        assert contract.labels == ("walking", "juggling", "swimming")
    assert not model.training


def test_every_family_runs_a_few_steps_at_a_token_and_over_tokens(family):
    name, model = family
    hidden, block, (t, h, w) = LAYERS[name]
    token = sv.neuron(3, location=(t - 1, h - 1, 0))
    result = sv.visualize(model, hidden, objective=[sv.channel(5), token], preset="fourier",
                          steps=3, seed=0)
    x = np.asarray(result.inputs["pixel_values"])
    assert x.shape == (2, 4, 32, 32, 3) and np.all(np.isfinite(x))
    assert result.config["jitter"]["stride"] == 8  # the jitter moves whole patches
    assert result.config["rho"] == 32  # every token sees the whole clip
    result = sv.visualize(model, block, channels=[1], preset="paper", steps=2, seed=0)
    bound = sv.presets.PAPER_BOUND  # in pixel units: the normalization is inside the model
    assert np.all(np.linalg.norm(result.inputs["pixel_values"], axis=-1) <= bound * (1 + 1e-6))


@pytest.mark.parametrize("name", ["videomae", "vivit"])
def test_float64_runs(name):
    model = tiny(name).double()
    result = sv.visualize(model, LAYERS[name][1], channels=[0], preset="paper", steps=2, seed=0)
    assert np.asarray(result.inputs["pixel_values"]).dtype == np.float64


def test_a_class_by_its_name_from_id2label():
    model = tiny("videomae")
    result = sv.visualize(model, "classifier", objective=sv.class_logit("juggling"),
                          preset="paper", steps=2, seed=0)
    assert result.config["objective"].startswith("class_logit('juggling'")
    with pytest.raises(ValueError, match="closest names: juggling"):
        sv.visualize(model, "classifier", objective=sv.class_logit("jugling"), preset="paper",
                     steps=1)


def _tubelet_energy(grad, grid):
    """``(T', H', W')``: the squared gradient summed over each tubelet."""
    g = (grad.detach().double() ** 2).sum(-1)[0]  # (T, H, W)
    t, h, w = grid
    return g.reshape(t, g.shape[0] // t, h, g.shape[1] // h, w, g.shape[2] // w).sum((1, 3, 5))


@pytest.mark.parametrize("which", [0, 1], ids=["mlp-hidden", "block-output"])
def test_a_token_unit_reads_its_own_tubelet(family, which):
    """A unit at token (t, y, x): the input gradient lies mostly inside that tubelet."""
    name, model = family
    layer, grid = LAYERS[name][which], LAYERS[name][2]
    planted = (grid[0] - 1, 2, 1)  # y != x, t at the end: a wrong axis order misses it
    with create(model, layer=layer) as backend:
        x = torch.randn((1, 4, 32, 32, 3), dtype=backend.dtype, generator=torch.Generator().manual_seed(1)) * 50
        acts = backend.activations({"pixel_values": x})
        assert tuple(acts.shape[1:4]) == grid
        cotangent = torch.zeros_like(acts)
        cotangent[(0, *planted, 2)] = 1.0
        energy = _tubelet_energy(backend.vjp(cotangent)["pixel_values"], grid)
    assert tuple(np.unravel_index(int(energy.argmax()), grid)) == planted
    assert float(energy[planted] / energy.sum()) > 0.5


def test_a_tubelet_changed_moves_its_own_token_most(family):
    """The converse: a bright patch in one tubelet changes the grid most at that token."""
    name, model = family
    layer, grid = LAYERS[name][0], LAYERS[name][2]
    planted = (0, 1, 3)
    frames = 4 // grid[0]
    x = torch.zeros((1, 4, 32, 32, 3))
    changed = x.clone()
    t, y, w = planted
    changed[0, t * frames:(t + 1) * frames, y * 8:(y + 1) * 8, w * 8:(w + 1) * 8] = 100.0
    with create(model, layer=layer) as backend:
        a0 = backend.activations({"pixel_values": x}, for_vjp=False)
        a1 = backend.activations({"pixel_values": changed}, for_vjp=False)
    moved = ((a1 - a0) ** 2).sum(-1)[0]
    assert tuple(np.unravel_index(int(moved.argmax()), grid)) == planted


def test_receptive_field_is_the_clip_for_tokens_and_a_patch_for_the_patch_embedding():
    model = tiny("videomae")
    with create(model, layer="videomae.encoder.layer.0.output.dense") as backend:
        assert backend.receptive_field() == (32, 8)
    with create(model, layer="videomae.embeddings.patch_embeddings.projection") as backend:
        assert backend.receptive_field() == (8, 8)


def test_a_layer_not_in_the_model_lists_the_closest_names():
    model = tiny("vivit")
    with pytest.raises(ValueError, match=r"vivit\.layers\.0\.mlp\.fc1"):
        sv.visualize(model, "vivit.layers.0.mlp.fc", channels=[0], preset="paper", steps=1)


def test_a_token_outside_the_grid_states_the_grid():
    model = tiny("videomae")
    with pytest.raises(ValueError, match=r"\(2, 4, 4\)"):
        sv.visualize(model, "videomae.encoder.layer.1", objective=sv.neuron(0, location=(2, 0, 0)),
                     preset="paper", steps=1)


def _input(seed=3):
    return torch.randn((2, 4, 32, 32, 3), generator=torch.Generator().manual_seed(seed)) * 60


def _out(model, x):
    with torch.no_grad():
        out = model(*to_model(model.stviz_layout, {"pixel_values": x}, _xp()))
    return out if isinstance(out, torch.Tensor) else out.logits


def _xp():
    from array_api_compat import torch as xp

    return xp


@pytest.mark.parametrize("name", ["videomae", "timesformer", "vivit"])
def test_a_save_pretrained_folder_loads_back_with_the_same_logits(tmp_path, name):
    model = tiny(name)
    model.save_pretrained(tmp_path)
    again = hf_video.load(name, weights=tmp_path)
    assert sv.contract_of(again).labels == sv.contract_of(model).labels
    torch.testing.assert_close(_out(again, _input()), _out(model, _input()), rtol=0, atol=0)


def test_an_xclip_folder_loads_its_video_tower(tmp_path):
    torch.manual_seed(0)
    full = transformers.XCLIPModel(transformers.XCLIPConfig(**CONFIGS["xclip"])).eval()
    full.save_pretrained(tmp_path)
    tower = hf_video.xclip(weights=tmp_path)
    x = _input()
    pixels = to_model(tower.stviz_layout, {"pixel_values": x}, _xp())[0]
    scale = torch.tensor(hf_video.FAMILIES["xclip"].normalization.scale).reshape(1, 1, 3, 1, 1)
    with torch.no_grad():
        expected = full.get_video_features(pixel_values=pixels * scale).pooler_output
    torch.testing.assert_close(_out(tower, x), expected)


def test_the_folder_normalization_and_preprocessing(tmp_path):
    model = tiny("vivit")
    model.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"do_rescale": True, "rescale_factor": 1 / 255, "offset": False, "do_normalize": True,
         "image_mean": [0.5, 0.4, 0.3], "image_std": [0.25, 0.2, 0.1]}))
    loaded = hf_video.vivit(weights=tmp_path)
    frames = np.full((4, 32, 32, 3), 200, np.uint8)
    canonical = loaded.stviz_preprocess(frames, (32, 32))
    np.testing.assert_allclose(canonical[0, 0, 0], 200 - 255 * np.array([0.5, 0.4, 0.3]), rtol=1e-6)
    # the model sees (x / 255 - mean) / std, as the checkpoint's processor gives it
    seen = {}
    hook = loaded.vivit.embeddings.register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    _out(loaded, torch.from_numpy(canonical)[None])
    hook.remove()
    expected = (200 / 255 - np.array([0.5, 0.4, 0.3])) / np.array([0.25, 0.2, 0.1])
    np.testing.assert_allclose(seen["x"][0, 0, :, 0, 0].numpy(), expected, rtol=1e-5)


def test_vivit_default_normalization_offsets_to_minus_one():
    norm = hf_video.FAMILIES["vivit"].normalization  # x / 127.5 - 1, then (y - 0.5) / 0.5
    np.testing.assert_allclose(norm.pixel_mean, 191.25)
    np.testing.assert_allclose(norm.scale, 1 / 63.75)


def test_a_missing_folder_or_a_folder_of_another_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"no such folder; expected a folder written by "
                                         r"save_pretrained .* VideoMAEForVideoClassification"):
        hf_video.videomae(weights=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="has no config.json"):
        hf_video.videomae(weights=tmp_path)
    tiny("vivit").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"hold a 'vivit' model; expected .*'timesformer'"):
        hf_video.timesformer(weights=tmp_path)
    with pytest.raises(ValueError, match="apply to random weights only"):
        hf_video.vivit(weights=tmp_path, num_hidden_layers=1)
    with pytest.raises(ValueError, match="unknown Hugging Face video family 'mvit'"):
        hf_video.load("mvit")


def test_by_name_with_weights_as_the_command_line_does(tmp_path):
    tiny("timesformer").save_pretrained(tmp_path)
    model = load_model("hf:timesformer", weights=tmp_path)
    assert sv.contract_of(model).layout.tokens.grid == (4, 4, 4)
    with pytest.warns(UserWarning, match="random weights"):
        small = load_model("hf:vivit(num_hidden_layers=1, hidden_size=8, num_attention_heads=2, "
                           "intermediate_size=8, image_size=32, num_frames=4, "
                           "tubelet_size=[2, 8, 8])")
    assert len(small.vivit.layers) == 1


def test_frames_layout_round_trips():
    x = torch.arange(2 * 3 * 4 * 5 * 3, dtype=torch.float32).reshape(2, 3, 4, 5, 3)
    layout = Frames3D()
    (pixels,) = to_model(layout, {"pixel_values": x}, _xp())
    assert pixels.shape == (2, 3, 3, 4, 5)  # (N, T, C, H, W)
    assert torch.equal(pixels[1, 2, 0], x[1, 2, :, :, 0])
    assert torch.equal(from_model(layout, (pixels,), _xp())["pixel_values"], x)
    assert "pixel_values (N, 3, 3, 4, 5)" in layout.describe(layout.specs({"pixel_values": (3, 4, 5, 3)}))


def test_attention_head_units_are_their_heads_channels():
    """Head 0's value projection zeroed: its channels of the head layer go to zero, head 1's not."""
    model = tiny("videomae")
    layer = "videomae.encoder.layer.0.attention.attention"
    assert hf_video.attention_heads(model)[layer] == (2, 8)
    attention = dict(model.named_modules())[layer]
    with torch.no_grad():
        attention.value.weight[:8] = 0
        if getattr(attention, "v_bias", None) is not None:
            attention.v_bias[:8] = 0
    with create(model, layer=layer) as backend:
        acts = backend.activations({"pixel_values": _input()[:1]}, for_vjp=False)
    assert float(acts[..., :8].abs().max()) == 0.0 and float(acts[..., 8:].abs().max()) > 0
    objective = hf_video.head(model, layer, 1, location=(1, 2, 3))
    cotangent = objective.cotangent(torch.ones_like(acts))
    assert torch.nonzero(cotangent).tolist() == [[0, 1, 2, 3, c] for c in range(8, 16)]
    result = sv.visualize(model, layer, objective=hf_video.head(model, layer, 0), preset="paper",
                          steps=1, seed=0)
    assert result.inputs["pixel_values"].shape == (1, 4, 32, 32, 3)


def test_head_units_refuse_other_layers_and_heads():
    model = tiny("videomae")
    with pytest.raises(ValueError, match=r"head 2 is out of range: .* has 2 heads \(0..1\)"):
        hf_video.head(model, "videomae.encoder.layer.1.attention.attention", 2)
    with pytest.raises(ValueError, match="not attention heads; head layers: videomae.encoder"):
        hf_video.head(model, "videomae.encoder.layer.1.intermediate.dense", 0)
    with pytest.raises(ValueError, match="none: this family's attention ends in its projection"):
        hf_video.head(tiny("vivit"), "vivit.layers.0.attention", 0)
