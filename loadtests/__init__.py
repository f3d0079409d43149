"""In-process benchmark for armature: the harness the speed budgets in the issues refer to.

Run it with ``make bench`` (or ``python loadtests/bench.py --help``); see ``docs/performance.md``.
"""
