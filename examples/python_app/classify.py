"""Classify handwritten digits with a converted edgedistill student: onnxruntime + numpy (+ Pillow for images).

    python classify.py student.onnx --npz digits.npz          # rows of 64 pixel counts (0..16), optional labels y
    python classify.py student.onnx three.png seven.jpg       # image files, any size, dark ink on light paper or the reverse
    python classify.py student.ort --npz digits.npz --device cpu --json

The model's metadata carries its preprocessing and class names, so the app only turns pictures into
the digits data's raw format (8×8 pixel counts 0..16, ink bright) and asks the Predictor.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

try:  # inside an app, vendor edgedistill/runtime.py next to this file
    from runtime import Predictor, PredictorError
except ImportError:
    from edgedistill.runtime import Predictor, PredictorError


def image_to_digit_row(path: str) -> np.ndarray:
    """A picture → 64 pixel counts in 0..16 with bright ink on dark ground, like the UCI digits."""
    try:
        from PIL import Image
    except ImportError:
        sys.exit("error: reading image files needs Pillow: pip install pillow")
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
    if img.mean() > 0.5:  # dark ink on light paper: make the ink bright
        img = 1.0 - img
    small = Image.fromarray((img * 255).astype(np.uint8)).resize((8, 8), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32).reshape(64) / 255.0 * 16.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="student .onnx or .ort written by edgedistill convert")
    ap.add_argument("images", nargs="*", help="image files to classify")
    ap.add_argument("--npz", help=".npz with x (rows of 64 values 0..16) and optional y")
    ap.add_argument("--device", default="cpu", help="cpu, cpu-1t, cuda, ... (see edgedistill.runtime.DEVICES)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    if not args.images and not args.npz:
        ap.error("give image files or --npz")
    try:
        predictor = Predictor(args.model, device=args.device)
        if args.npz:
            with np.load(args.npz) as z:
                x, y = z["x"], (z["y"] if "y" in z.files else None)
            names = [f"sample {i}" for i in range(len(x))]
        else:
            x, y, names = np.stack([image_to_digit_row(p) for p in args.images]), None, args.images
        proba = predictor.predict_proba(x)
    except (PredictorError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    labels = predictor.class_names[proba.argmax(1)]
    if args.json:
        print(json.dumps([{"file": n, "label": str(lab), "confidence": float(p.max())} for n, lab, p in zip(names, labels, proba)]))
        return 0
    for n, lab, p in zip(names, labels, proba):
        print(f"{n}: {lab}  ({100 * p.max():.1f} %)")
    if y is not None:
        print(f"accuracy {np.mean(labels.astype(str) == y.astype(str)):.4f} on {len(y)} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
