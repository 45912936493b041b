import sys

try:  # Ctrl-C while the command's modules load (a slow start under load) is an interrupt, not a traceback
    from .cli import run
except KeyboardInterrupt:
    print("domainfit: interrupted", file=sys.stderr)
    sys.exit(130)

run()
