"""CLI commands of the data group: ``veracity data demo``."""

from __future__ import annotations

import json
from pathlib import Path

from veracity.cli.options import add_modality, modality_of


def demo_corpus_dir(cfg, modality: str) -> Path:
    """Where the demo corpus of ``modality`` is written by default: ``<data.demo_dir>/<m>``."""
    return Path(cfg.data.demo_dir) / modality


def _demo(args, cfg):
    from veracity.errors import ConfigError
    from veracity.modalities import load_modality

    name = modality_of(args, cfg)
    modality = load_modality(name, cfg.modality_packages)
    params = cfg.modality_params(name)
    size = args.size or cfg.data.demo_size
    sizes = params.demo.sizes
    if size not in sizes:
        raise ConfigError(
            f"demo size {size!r} is not in modalities.{name}.demo.sizes ({', '.join(sizes)})"
        )
    out = Path(args.out) if args.out else demo_corpus_dir(cfg, name)
    seed = cfg.seed if args.seed is None else args.seed
    root = Path(modality.generate_demo(out, size, seed, params))
    summary = root / "demo_corpus.json"
    print(json.dumps(json.loads(summary.read_text()), indent=2) if summary.is_file() else root)
    return 0


def register(sub) -> None:
    """Add ``data demo`` (generate a modality's synthetic demo corpus)."""
    group = sub.add_parser("data", help="demo corpus and data utilities")
    data_sub = group.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    p = data_sub.add_parser(
        "demo", help="write a modality's synthetic demo corpus (voice: ASVspoof 2019 LA layout)"
    )
    p.add_argument("--out", default=None, help="output directory (default: data.demo_dir/<m>)")
    p.add_argument(
        "--size", default=None, help="tiny | small | full (default: data.demo_size in params)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: seed in params)")
    add_modality(p)
    p.set_defaults(func=_demo, needs_config=True)
