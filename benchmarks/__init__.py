"""The benchmark suite: `orch bench` (see `benchmarks/cli.py`) and its parts.

- `floor`: every canonical flow in plain asyncio, the floor overhead is reported against;
- `timing`: warm-up, interleaved repeats, median and p95;
- `suite`: the measures; `profiles`: their sizes; `environment`: what a result ran on;
- `harness`: runs the suite and writes the JSON; `report`: Markdown and charts from the JSON alone;
- `overhead`: the original per-step overhead script against bare LangGraph.
"""
