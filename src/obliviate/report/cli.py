"""`obliviate report RESULTS.json... --out report.html [--title T]`: the HTML report from any set of results."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="build a self-contained HTML report from results.json files",
        description="Build one self-contained HTML page (tables, plots) from results.json files: methods, the "
                    "target (name 'target') and the oracle (name 'oracle'), LLM or vision track.")
    p.add_argument("results", nargs="+", metavar="RESULTS.json", help="results files, in the order to show them")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    p.add_argument("--title", default="obliviate report", help="the page title")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from . import write_report  # matplotlib loads here, not for --help

    out = write_report(args.results, args.out, title=args.title)
    print(f"wrote {out}")
    return 0
