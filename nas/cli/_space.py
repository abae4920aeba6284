"""`nas space`: describe a search space (a preset or a user's file)."""

from __future__ import annotations

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="describe a search space and its cost range",
                       description="Print a search space's stages and choices, cardinality and the "
                       "cost of its smallest and largest subnets (--json: every field).")
    p.add_argument("space", help="preset name (see --list) or a .json/.yaml space file",
                   nargs="?", default="fmnist_small")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from supernet import arch_cost, get_space, list_families, list_spaces

    if args.list:
        for family in list_families():
            print(f"{family}: {', '.join(list_spaces(family)) or '(no presets)'}")
        return 0
    space = get_space(args.space)
    info = {"fields": space.to_dict(), "hash": space.hash, "num_subnets": space.num_subnets,
            "num_resolutions": len(space.resolutions)}
    for name, arch in (("smallest", space.smallest()), ("largest", space.largest())):
        cost = arch_cost(space, arch)
        info[name] = {"arch": arch.to_dict(), "params": cost.params, "macs": cost.macs,
                      "peak_memory_bytes": cost.peak_memory_bytes}
    report = Summary(f"space {space.name} ({space.family}, hash {space.hash}): "
                     f"{number(space.num_subnets)} subnets")
    report.fact("resolutions", ", ".join(f"{r} px" for r in space.resolutions))
    for label, text in space.describe().items():
        if label not in ("resolutions", "family"):
            report.fact(label, text)
    header, rows = space.stage_table()
    if rows:
        report.table(header, rows)
    report.table(["subnet", "arch", "MACs", "params", "peak memory (B)"],
                 [[name, str(a), number(info[name]["macs"]), number(info[name]["params"]),
                   number(info[name]["peak_memory_bytes"])]
                  for name, a in (("smallest", space.smallest()), ("largest", space.largest()))])
    show(args, info, report)
    return 0
