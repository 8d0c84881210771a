"""CLI commands of the data group: ``veracity data demo``."""

from __future__ import annotations

import json
from pathlib import Path


def _demo(args, cfg):
    from veracity.modalities.voice.demo import generate_demo_corpus

    demo_cfg = cfg.data.demo
    size = args.size or cfg.data.demo_size
    out = Path(args.out or cfg.data.demo_dir)
    seed = cfg.seed if args.seed is None else args.seed
    if size not in demo_cfg.sizes:
        from veracity.errors import ConfigError

        raise ConfigError(
            f"demo size {size!r} is not in params data.demo.sizes ({', '.join(demo_cfg.sizes)})"
        )
    root = generate_demo_corpus(out, size, seed, demo_cfg, cfg.data.sample_rate)
    print(json.dumps(json.loads((root / "demo_corpus.json").read_text()), indent=2))
    return 0


def register(sub) -> None:
    """Add ``data demo`` (generate the synthetic ASVspoof-layout demo corpus)."""
    group = sub.add_parser("data", help="demo corpus and data utilities")
    data_sub = group.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    p = data_sub.add_parser(
        "demo", help="write a synthetic corpus in the ASVspoof 2019 LA layout (bonafide + spoofs)"
    )
    p.add_argument("--out", default=None, help="output directory (default: data.demo_dir)")
    p.add_argument(
        "--size", default=None, help="tiny | small | full (default: data.demo_size in params)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: seed in params)")
    p.set_defaults(func=_demo, needs_config=True)
