"""The ``dq`` command line: ``dq demo``, ``dq runs``, ``dq serve``, ``dq version``."""

from __future__ import annotations

import argparse
import json
import sys


def _demo(args: argparse.Namespace) -> int:
    from .demo.runs import DemoConfig, NerDemoConfig, run_demo, run_ner_demo

    url_run = None
    if args.task in ("classification", "all"):
        cfg = DemoConfig(
            n_train=args.train, n_validation=args.validation, n_test=args.test,
            n_inference=args.inference, epochs=args.epochs, seed=args.seed,
            project_name=args.project, run_name=args.run,
        )
        run_demo(cfg, root=args.root)
        url_run = (cfg.project_name, cfg.run_name)
    if args.task in ("ner", "all"):
        ncfg = NerDemoConfig(seed=args.seed, project_name=args.project)
        run_ner_demo(ncfg, root=args.root)
        url_run = url_run or (ncfg.project_name, ncfg.run_name)
    if args.no_serve:
        return 0
    from .exceptions import DataQualityError
    from .server.runner import serve

    try:  # the console over the demo's store, until Ctrl-C
        serve(args.root, port=args.port, open_run=url_run)
    except KeyboardInterrupt:
        pass
    except (DataQualityError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _runs(args: argparse.Namespace) -> int:
    from .core.store import list_runs, root_dir

    runs = list_runs(args.root)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(f"no runs under {root_dir(args.root)}")
        return 0
    for r in runs:
        print(f"{r['project_name']}/{r['run_name']:<28} {r['task_type']:<20} {r['status']:<9} "
              f"splits={','.join(r['splits'])}  {r['path']}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .exceptions import DataQualityError
    from .server.runner import serve

    try:
        serve(args.root_dir or args.root, host=args.host, port=args.port, token=args.token)
    except KeyboardInterrupt:
        pass
    except (DataQualityError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dq", description="dataquality: local data quality for NLP models")
    parser.add_argument("--root", default=None, help="store root (default $DQ_HOME or ~/.dataquality)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="log two small real training runs (MiniLM + MLP on Rotten Tomatoes reviews; "
                       "MiniLM token states + linear head on WNUT-16 tweets for NER), finish, open the console")
    p.add_argument("--task", choices=("all", "classification", "ner"), default="all",
                   help="which demo runs to log (default both)")
    p.add_argument("--no-serve", action="store_true", help="finish and exit instead of serving the console")
    p.add_argument("--port", type=int, default=8765, help="console port (any free port when taken)")
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--validation", type=int, default=500)
    p.add_argument("--test", type=int, default=500)
    p.add_argument("--inference", type=int, default=300, help="samples per inference set (plots, headlines)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--project", default="demo")
    p.add_argument("--run", default="rotten-tomatoes-minilm")
    p.set_defaults(func=_demo)

    p = sub.add_parser("runs", help="list the runs in the store")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_runs)

    p = sub.add_parser("serve", help="serve the web console over the store (127.0.0.1 by default)")
    p.add_argument("root_dir", nargs="?", default=None, metavar="ROOT",
                   help="store root (default --root, $DQ_HOME or ~/.dataquality)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but loopback requires an access token")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", default=None,
                   help="access token every request must carry (generated and printed when serving beyond loopback)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=lambda a: print(__import__("dataquality").__version__) or 0)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
