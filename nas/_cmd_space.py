"""`nas space`: describe a search space (a preset or a user's file)."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="describe a search space and its cost range",
                       description="Print a search space's fields, cardinality and the cost of "
                       "its smallest and largest subnets as JSON.")
    p.add_argument("space", help="preset name (see --list) or a .json/.yaml space file",
                   nargs="?", default="fmnist_small")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from supernet import arch_cost, get_space, list_spaces

    if args.list:
        print("\n".join(list_spaces()))
        return 0
    space = get_space(args.space)
    info = {"fields": space.to_dict(), "hash": space.hash, "num_subnets": space.num_subnets,
            "num_resolutions": len(space.resolutions)}
    for name, arch in (("smallest", space.smallest()), ("largest", space.largest())):
        cost = arch_cost(space, arch)
        info[name] = {"arch": arch.to_dict(), "params": cost.params, "macs": cost.macs,
                      "peak_memory_bytes": cost.peak_memory_bytes}
    print(json.dumps(info, indent=2))
    return 0
