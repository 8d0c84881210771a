"""CLI command ``veracity audit verify``: check the approval audit log's hash chain.

Exit status 0 when every line chains to the one before; 12 with the first broken line's
number and the reason otherwise (an edited, removed, inserted or reordered entry).
"""

from __future__ import annotations

EXIT_BROKEN = 12


def _verify(args, cfg) -> int:
    from veracity.registry.audit import audit_log_location, read_lines, verify_lines
    from veracity.registry.tracking import resolve_tracking_uri

    location = args.log or audit_log_location(cfg, resolve_tracking_uri(cfg.tracking.uri))
    lines = read_lines(location, cfg.storage)
    broken = verify_lines(lines)
    if broken is None:
        print(f"audit log {location}: {len(lines)} entries, chain intact")
        return 0
    number, reason = broken
    print(f"audit log {location}: chain broken at line {number} of {len(lines)}: {reason}")
    return EXIT_BROKEN


def register(sub) -> None:
    """Add ``audit verify``."""
    p = sub.add_parser("audit", help="the approval audit log")
    asub = p.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="check the hash chain; name the first broken line")
    v.add_argument("--log", default=None, help="path or s3:// URI (default: gate.audit_log)")
    v.set_defaults(func=_verify)
