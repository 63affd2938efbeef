"""python -m simulators serve CONTRACT ... (the same command as `sandbox serve`)."""

from gevent import monkey

monkey.patch_all()  # before anything imports ssl or threading: workers are gevent workers

import sys  # noqa: E402

from .cli import serve_command  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["serve"]:
        args = args[1:]
    serve_command.main(args=args, prog_name="python -m simulators serve")
