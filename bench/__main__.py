"""Run benchmarks and print one table: `python -m bench` (all) or `python -m bench engine`."""

from __future__ import annotations

import importlib
import sys

from bench.harness import Row, print_table, save

MODULES = ["engine", "statuspage", "alerting", "slo", "system"]


def main(names: list[str]) -> int:
    rows: list[Row] = []
    for name in names or MODULES:
        if name not in MODULES:
            print(f"unknown benchmark {name!r}; choose from {', '.join(MODULES)}")
            return 2
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        found = module.run()
        save(name, found)
        rows.extend(found)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
