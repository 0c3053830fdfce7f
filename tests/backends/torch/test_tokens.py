"""Token sequences back to their grid (backends/torch/tokens.py), on tensors laid out by hand."""

import pytest

torch = pytest.importorskip("torch")

from stviz_backends.torch.tokens import Tokens, TokenGrid, first_tensor, to_grid  # noqa: E402

GRID = (2, 3, 4)  # T', H', W': distinct sizes, so a wrong axis order cannot reshape silently right


def _coded(clips=2, channels=5):
    """``(N, C, T', H', W')`` whose every value says where it is."""
    n, c, t, h, w = torch.meshgrid(*(torch.arange(s, dtype=torch.float64)
                                     for s in (clips, channels, *GRID)), indexing="ij")
    return 10000 * n + 1000 * c + 100 * t + 10 * h + w


def _laid_out(grid_map, tokens):
    """``grid_map`` as a model holds it under ``tokens`` (the inverse of to_grid, written apart)."""
    n, c = grid_map.shape[:2]
    axes = tokens.batch + tokens.sequence
    x = grid_map.permute(0, *(2 + "thw".index(a) for a in axes), 1)  # (N, *axes, C)
    sizes = [GRID["thw".index(a)] for a in axes]
    folded = 1
    for a in tokens.batch:
        folded *= GRID["thw".index(a)]
    x = x.reshape(n * folded, -1, c)
    lead = torch.full((x.shape[0], tokens.lead, c), -1.0, dtype=x.dtype)
    trail = torch.full((x.shape[0], tokens.trail, c), -2.0, dtype=x.dtype)
    assert sizes  # every case below has an axis
    return torch.cat([lead, x, trail], dim=1)


@pytest.mark.parametrize("tokens", [
    Tokens("thw", lead=0),                       # VideoMAE
    Tokens("thw", lead=1),                       # ViViT
    Tokens("hwt", lead=1),                       # TimeSformer's blocks
    Tokens("t", batch="hw", lead=0),             # TimeSformer's temporal attention
    Tokens("hw", batch="t", lead=1, trail=1),    # X-CLIP's attention with its message token
], ids=["thw", "cls+thw", "cls+hwt", "hw|t", "t|cls+hw+msg"])
def test_to_grid_undoes_each_layout(tokens):
    coded = _coded()
    grid = TokenGrid(GRID, (1, 8, 8), tokens)
    got = to_grid(_laid_out(coded, tokens), grid, "any.layer", clips=2)
    assert got.shape == coded.shape
    assert torch.equal(got, coded)


def test_a_rule_picks_the_layout_of_its_layers_and_a_missing_axis_is_one():
    per_frame = Tokens("", batch="t", lead=0)
    grid = TokenGrid(GRID, (1, 8, 8), Tokens("thw"), (("*.message_fc", per_frame),))
    assert grid.tokens_of("enc.layers.0.message_fc") is per_frame
    assert grid.tokens_of("enc.layers.0.mlp.fc1") == Tokens("thw")
    pooled = torch.arange(2 * 2 * 3, dtype=torch.float64).reshape(2 * 2, 3)  # (N T', C)
    got = to_grid(pooled, grid, "enc.layers.0.message_fc", clips=2)
    assert got.shape == (2, 3, 2, 1, 1)
    assert torch.equal(got[1, :, 1, 0, 0], pooled[3])  # clip 1, frame 1
    logits = torch.zeros(2, 7)
    assert to_grid(logits, grid, "classifier", clips=2) is logits  # no rule: (N, K) as it is


def test_a_shape_that_is_not_the_declared_layout_states_the_grid():
    grid = TokenGrid(GRID, (2, 8, 8), Tokens("thw", lead=1))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) of 2x8x8 tubelets.*pick another layer"):
        to_grid(torch.zeros(1, 24, 5), grid, "blocks.0", clips=1)  # class token missing
    with pytest.raises(ValueError, match="frames folded into it"):
        to_grid(torch.zeros(2, 5, 3, 4), grid, "patch_embed.proj", clips=1)


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="distinct letters"):
        Tokens("thh")
    with pytest.raises(ValueError, match="token counts"):
        Tokens("thw", lead=-1)
    with pytest.raises(ValueError, match=r"grid is \(t, h, w\)"):
        TokenGrid((2, 0, 4), (1, 8, 8))


def test_receptive_field_is_the_clip_for_tokens_and_a_tubelet_for_the_patch_map():
    grid = TokenGrid(GRID, (2, 16, 16))
    assert grid.receptive_field(224) == (224, 16)
    assert grid.receptive_field(224, tokens=False) == (16, 16)


def test_first_tensor_of_a_block_output():
    x = torch.ones(1)
    assert first_tensor((x, None)) is x
    assert first_tensor(x) is x
