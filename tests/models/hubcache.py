"""Write files into a Hugging Face Hub cache layout, as a download would leave them."""

from pathlib import Path


def put(hf_home: Path, repo: str, files: dict[str, bytes | str]) -> Path:
    """Place ``files`` in ``hf_home``'s cache of ``repo``; return the snapshot folder."""
    root = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text("0" * 40)
    for name, data in files.items():
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(snap / name, mode) as f:
            f.write(data)
    return snap
