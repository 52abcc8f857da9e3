"""The ``breastbench data`` command group: inspect, folds, audit, synth.

Handlers are thin: they turn arguments into calls of the public data API and print the
result as rich tables (or one JSON object with ``--json``, for scripts and tests).
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from breastbench import jsonio
from breastbench.errors import UserError


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        metavar="SOURCE",
        help="breakhis, bach, bracs, pcam, busi, breastmnist, folder, density-csv, vindr, rsna, "
        "cbis-ddsm, inbreast, mias, cmmd, embed, "
        "synthetic-breakhis|bach|density|bracs|pcam|cmmd|embed",
    )
    p.add_argument("root", metavar="ROOT", help="the dataset's top folder")
    p.add_argument(
        "--task",
        help="breakhis: binary|subtype; bach, busi: multiclass|binary; "
        "bracs: multiclass|3class|binary; cmmd: binary|subtype",
    )
    p.add_argument("--magnification", help="breakhis: keep one of 40, 100, 200, 400")
    p.add_argument(
        "--group-by",
        dest="group_by",
        help="breakhis fold groups: patient (default, numeric id), slide or folder",
    )
    p.add_argument("--csv", help="label file for CSV sources (default: the dataset's own name)")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        default=None,
        help="exclude (and count) rows with an unknown density instead of failing",
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        default=None,
        help="exclude (and count) rows whose image file is missing",
    )
    p.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="do not check that every image file exists",
    )
    p.add_argument(
        "-O",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other source option, e.g. -O mapping=Normal=benign or "
        "-O patient_regex='^(\\d+)_' or -O density_col=ACR",
    )


def _load(args):
    from breastbench.data.sources import load_manifest

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option {item!r}: expected KEY=VALUE")
        if key.strip() in options:
            raise UserError(
                f"--option {key.strip()}: given twice; give it once (for several mappings use "
                "one value, e.g. -O mapping=Normal=benign,Benign=benign)"
            )
        options[key.strip()] = value
    for name in ("task", "magnification", "group_by", "csv", "skip_invalid", "skip_missing"):
        options[name] = getattr(args, name)
    return load_manifest(args.source, args.root, check_files=args.check_files, **options)


def _table(title: str, header: list[str], rows) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(x) for x in row))
    return table


def _decode_all(paths) -> list[str]:
    """Decode every image (failing on the first bad one); notes on how DICOMs were decoded.

    One note per distinct list of steps (windowing, MONOCHROME1 inversion, YBR conversion...),
    so what was applied to the pixels is on record rather than implied.
    """
    from collections import Counter

    from breastbench.data.dicomio import decode_dicom, is_dicom
    from breastbench.data.imageio import read_image

    steps: Counter = Counter()
    for path in paths:
        if is_dicom(path):
            steps[", ".join(decode_dicom(path)[1]) or "pixels as stored"] += 1
        else:
            read_image(path)
    return [f"DICOM decoding of {n} image(s): {what}" for what, n in sorted(steps.items())]


def cmd_inspect(args) -> int:
    """Print counts per label/subtype/magnification, patients, exclusions and notes."""
    from breastbench.data.summary import summarize

    df = _load(args)
    if args.decode:  # opt-in: decoding every image is what makes inspect slow
        df.attrs["notes"] = [*df.attrs.get("notes", []), *_decode_all(df["path"])]
    info = summarize(df)
    if args.json:
        print(jsonio.dumps(dict(sorted(info.items())), indent=None))
        return 0
    con = Console()
    con.print(
        f"[bold]{info['dataset']}[/] task={info['task']}  images={info['n_images']}  "
        f"patients={info['n_patients']}" + ("  [yellow]synthetic[/]" if info["synthetic"] else "")
    )
    con.print(_table("by label", ["label", "images"], info["by_label"].items()))
    for key in ("by_subtype", "by_view", "by_laterality"):
        if key in info:
            con.print(_table(key.replace("_", " "), [key[3:], "images"], info[key].items()))
    if "by_magnification" in info:
        rows = [
            [m, c["n"], *(c.get(k, 0) for k in info["classes"])]
            for m, c in info["by_magnification"].items()
        ]
        con.print(_table("by magnification", ["mag", "images", *info["classes"]], rows))
    if info["excluded"]:
        con.print(_table("excluded", ["reason", "rows"], info["excluded"].items()))
    report = info.get("group_report")
    if report and report["merged"]:
        rows = [[g, len(f), ", ".join(f)] for g, f in report["merged"].items()]
        con.print(
            _table(
                f"groups ({report['group_by']}) merging several folders",
                ["group", "folders", "which"],
                rows,
            )
        )
    for note in info["notes"]:
        con.print(f"note: {note}")
    return 0


def cmd_folds(args) -> int:
    """Assign patient-grouped stratified folds and write the manifest (+ hash sidecar)."""
    from breastbench.data.folds import assign_folds, audit_folds
    from breastbench.data.manifest import write_manifest

    df = assign_folds(_load(args), k=args.k, seed=args.seed)
    path = write_manifest(df, args.output)
    audit = audit_folds(df)
    print(
        f"wrote {path} ({len(df)} images, k={args.k}, seed={args.seed}, "
        f"max class-proportion gap {audit['max_abs_diff']:.3f}, leaks: {len(audit['leaks'])})"
    )
    return 0


def cmd_audit(args) -> int:
    """Prove no group is in two folds; show per-fold class balance; exit 1 if not ok."""
    from breastbench.data.folds import audit_folds
    from breastbench.data.manifest import read_manifest

    audit = audit_folds(read_manifest(args.manifest, check_files=args.check_files))
    if args.json:
        print(jsonio.dumps(dict(sorted(audit.items())), indent=None))
        return 0 if audit["ok"] else 1
    classes = list(audit["overall"])
    rows = [
        [
            f["fold"],
            f["n_images"],
            f["n_groups"],
            *(f"{f['counts'][c]} ({f['proportions'][c]:.2f})" for c in classes),
            f"{f['max_abs_diff']:.3f}",
        ]
        for f in audit["folds"]
    ]
    rows.append(
        [
            "all",
            audit["n_images"],
            audit["n_groups"],
            *(f"{audit['overall'][c]:.2f}" for c in classes),
            "",
        ]
    )
    con = Console()
    con.print(
        _table(
            f"folds grouped by {audit['group_col']}",
            ["fold", "images", "groups", *classes, "max gap"],
            rows,
        )
    )
    con.print(
        f"groups in several folds: {len(audit['leaks'])}"
        + (f" {dict(list(audit['leaks'].items())[:5])}" if audit["leaks"] else "")
    )
    for fold, lacking in audit["missing_classes"].items():
        con.print(f"[red]fold {fold} has no image of class {', '.join(lacking)}[/]")
    con.print("[green]audit ok[/]" if audit["ok"] else "[red]audit FAILED[/]")
    return 0 if audit["ok"] else 1


def cmd_synth(args) -> int:
    """Write a synthetic dataset in its real layout."""
    from breastbench.data.synthetic import synthesize

    out = synthesize(args.kind, args.out_dir, seed=args.seed, size=args.size)
    print(f"wrote {args.kind} to {out}; inspect with: breastbench data inspect {args.kind} {out}")
    return 0


def register(subparsers) -> None:
    """Add the ``data`` command group (inspect, folds, audit, synth)."""
    data = subparsers.add_parser("data", help="inspect datasets, make and audit folds, synthesize")
    sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    sub.required = True

    p = sub.add_parser("inspect", help="count images, patients, labels; no image is decoded")
    _source_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--decode",
        action="store_true",
        help="also decode every image, failing on the first corrupt one (slow)",
    )
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("folds", help="write a manifest with patient-grouped stratified folds")
    _source_args(p)
    p.add_argument("--k", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed (default 0)")
    p.add_argument("-o", "--output", required=True, help="manifest file, .csv or .parquet")
    p.set_defaults(func=cmd_folds)

    p = sub.add_parser("audit", help="check a manifest's folds for patient leaks and balance")
    p.add_argument("manifest", metavar="MANIFEST", help="manifest written by `data folds`")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="do not check that every image file exists",
    )
    p.set_defaults(func=cmd_audit)

    from breastbench.data.synthetic import KINDS

    p = sub.add_parser("synth", help="write a synthetic dataset (real layout, learnable signal)")
    p.add_argument("kind", metavar="KIND", choices=KINDS, help=", ".join(KINDS))
    p.add_argument("out_dir", metavar="OUT_DIR", help="new or empty folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", default="small", help="small (default), medium, full, or an int")
    p.set_defaults(func=cmd_synth)
