"""`tdnn export`: write a trained run as ONNX or a torch.export program, checked for parity."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError


def register(subparsers) -> None:
    """Add the `export` subcommand."""
    p = subparsers.add_parser(
        "export", help="export a trained run to ONNX or torch.export (.pt2)",
        description="Export the model of a run folder, frontend included (input: 16 kHz float "
                    "waveforms [batch, samples]; output: logits [batch, classes]), then check the "
                    "exported model against the PyTorch one on noise clips and print max |diff| "
                    "of the logits. A sidecar OUT.json holds the labels, sample rate and check.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `tdnn train` or `tdnn recipe`")
    p.add_argument("--out", type=Path, default=None,
                   help="output file (default: RUN/model.onnx or RUN/model.pt2)")
    p.add_argument("--format", choices=["onnx", "torch-export"], default="onnx",
                   help="onnx (run with onnxruntime) or torch-export (torch.export.load)")
    p.add_argument("--no-frontend", action="store_true",
                   help="export the network alone; input is features [batch, dim, frames]")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="fail (exit 1) when max |diff| of the logits exceeds this")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    """Load, export, check, write the sidecar, report."""
    from ..export import export_run
    from .. import ensemble
    from ..runs import load_run

    if args.opset < 13:
        raise UserError(f"--opset {args.opset}: use 13 or newer (17 recommended)")
    loaded = load_run(args.run)
    ensemble.refuse(loaded, "tdnn export")
    out = args.out or args.run / ("model.onnx" if args.format == "onnx" else "model.pt2")
    report = export_run(loaded, out, args.format, not args.no_frontend, args.opset)
    report["run"] = str(args.run)
    Path(out).with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['path']}: {report['format']}, input '{report['input']}' "
              f"{report['input_shape']}, {len(report['labels'])} classes; parity max |diff| "
              f"{report['max_abs_diff']:.2e} (logits up to {report['max_abs_logit']:.2f})")
        if "frontend_not_included" in report:
            print(f"frontend not included: {report['frontend_not_included']}")
    return 0 if report["max_abs_diff"] <= args.tolerance else 1
